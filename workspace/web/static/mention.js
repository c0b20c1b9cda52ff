// The @mention picker of comment boxes (record/_comments.html, _comment_edit.html). Typing
// "@" and the start of a name, email or handle asks the server for matching members (an HTML
// fragment of options) and lists them under the box; arrows move, Enter or Tab or a click
// inserts "@handle ", Escape closes. The inserted text is what the server parses as a
// mention, so a comment typed by hand works the same; without this file the box is a plain
// text area.
(function () {
  "use strict";

  // "@" not glued to a word or an address (mentions.py MENTION), then what was typed so far:
  // letters of any script too, since a name like "Zoë" is searched as well as handles.
  const TYPED = /(?:^|[^\p{L}\p{N}_@.+-])@([\p{L}\p{N}_.+@-]*)$/u;
  let asked = 0;

  function boxOf(target) {
    return target && target.matches && target.matches("textarea[data-mentions]") ? target : null;
  }

  function listOf(box) {
    return document.getElementById(box.getAttribute("aria-controls"));
  }

  // A text area cannot be a combobox (ARIA in HTML), so the list's own hidden state is the
  // picker's; the box points at the active option with aria-activedescendant.
  function isOpen(box) {
    return !listOf(box).hidden;
  }

  function typed(box) {
    const match = TYPED.exec(box.value.slice(0, box.selectionStart));
    return match && box.selectionStart === box.selectionEnd ? match[1] : null;
  }

  function options(list) {
    return Array.from(list.querySelectorAll("[role=option]"));
  }

  function close(box) {
    const list = listOf(box);
    asked += 1;
    list.hidden = true;
    list.replaceChildren();
    box.removeAttribute("aria-activedescendant");
  }

  function activate(box, option) {
    for (const other of options(listOf(box))) other.setAttribute("aria-selected", String(other === option));
    if (option) {
      box.setAttribute("aria-activedescendant", option.id);
      option.scrollIntoView({ block: "nearest" });
    }
  }

  function show(box, query) {
    const ticket = ++asked;
    const url = box.dataset.mentions + "?q=" + encodeURIComponent(query);
    fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then((answer) => (answer.ok ? answer.text() : ""))
      .then(function (html) {
        if (ticket !== asked || document.activeElement !== box) return;
        const list = listOf(box);
        list.innerHTML = html;
        list.dataset.query = query; // what the options answer (tests wait for it)
        list.hidden = !html.trim();
        activate(box, options(list)[0] || null);
      });
  }

  function pick(box, option) {
    const end = box.selectionStart;
    const start = end - typed(box).length;
    const insert = option.dataset.handle + " ";
    box.setRangeText(insert, start, end, "end");
    close(box);
    box.focus();
  }

  document.addEventListener("input", function (event) {
    const box = boxOf(event.target);
    if (!box) return;
    const query = typed(box);
    if (query === null) close(box);
    else show(box, query);
  });

  // Capture phase: the picker's keys are its own while it is open (Escape must not cancel
  // an enclosing editor, Enter must not be a new line).
  document.addEventListener("keydown", function (event) {
    const box = boxOf(event.target);
    if (!box || !isOpen(box) || event.isComposing) return;
    const all = options(listOf(box));
    const current = all.findIndex((o) => o.getAttribute("aria-selected") === "true");
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (!all.length) return; // "no member matches": the arrows move the caret as usual
      const step = event.key === "ArrowDown" ? 1 : -1;
      activate(box, all[(current + step + all.length) % all.length]);
    } else if ((event.key === "Enter" || event.key === "Tab") && !event.ctrlKey && !event.metaKey) {
      if (current < 0) return;
      pick(box, all[current]);
    } else if (event.key === "Escape") {
      close(box);
    } else {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
  }, true);

  // mousedown, not click: picking must not take the focus from the box first.
  document.addEventListener("mousedown", function (event) {
    const option = event.target.closest && event.target.closest(".mention-picker [role=option]");
    if (!option) return;
    event.preventDefault();
    const box = document.querySelector("textarea[aria-controls='" + option.parentElement.id + "']");
    if (box) pick(box, option);
  });

  document.addEventListener("focusout", function (event) {
    const box = boxOf(event.target);
    if (box && isOpen(box)) close(box);
  });
})();
