// Small, dependency-free behaviour on top of htmx, switched on by data attributes. Everything
// listens on the document, so it works for content htmx swaps in later, and everything is an
// enhancement: pages work without it. Pages carry no inline scripts or handlers (ready for a
// Content-Security-Policy without 'unsafe-inline'); screen-specific code lives in its own
// static file (designer.js, table.js).
(function () {
  "use strict";

  // <button data-confirm="Really?"> asks before its form is submitted.
  document.addEventListener("click", function (event) {
    const button = event.target.closest && event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // Esc inside an element marked data-escape (an inline editor, a form, an open card) cancels
  // it: follows its own [data-cancel] link or button, not one of an inner data-escape.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || event.defaultPrevented || !event.target.closest) return;
    const scope = event.target.closest("[data-escape]");
    if (!scope) return;
    const cancel = Array.from(scope.querySelectorAll("[data-cancel]"))
      .find((el) => el.parentElement.closest("[data-escape]") === scope);
    event.preventDefault();
    if (cancel) cancel.click();
  });

  // In a form marked data-enter-saves, Enter saves from any field (selects and checkboxes
  // too, which browsers do not submit on their own); in a text area Enter is a new line and
  // Ctrl/Cmd+Enter saves.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || event.isComposing || !event.target.closest) return;
    const form = event.target.closest("form[data-enter-saves]");
    if (!form) return;
    const target = event.target;
    if (target.matches("textarea")) {
      if (event.ctrlKey || event.metaKey) {
        event.preventDefault();
        form.requestSubmit();
      }
      return;
    }
    if (target.matches("button, a, input[type=search]")) return;
    if (target.matches("select, input[type=checkbox], input[type=radio]")) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  // <select data-submit-on-change> submits its form when a choice is picked (htmx or not).
  document.addEventListener("change", function (event) {
    const field = event.target;
    if (field.matches && field.matches("[data-submit-on-change]") && field.form) {
      field.form.requestSubmit();
    }
  });

  // <input type=checkbox data-check-all="ids"> ticks or clears every checkbox named "ids"
  // on the page ("select all shown").
  document.addEventListener("change", function (event) {
    const box = event.target;
    if (!box.matches || !box.matches("input[data-check-all]")) return;
    for (const other of document.querySelectorAll("input[type=checkbox]")) {
      if (other.name === box.dataset.checkAll) other.checked = box.checked;
    }
  });

  // Inside [data-keep-typed] (forms that save as you go), whatever is typed while a save is on
  // its way stays, to be saved next: an input (with an id) whose value changed after the
  // request was sent keeps that value across the swap that answers it.
  const keptInputs = () => document.querySelectorAll(
    "[data-keep-typed] input[id], [data-keep-typed] select[id], [data-keep-typed] textarea[id]");
  const valueOf = (el) => (el.type === "checkbox" ? String(el.checked) : el.value);
  let sent = new Map();
  let typed = [];
  document.addEventListener("htmx:beforeRequest", function () {
    sent = new Map(Array.from(keptInputs(), (el) => [el.id, valueOf(el)]));
  });
  document.addEventListener("htmx:beforeSwap", function () {
    typed = Array.from(keptInputs())
      .filter((el) => sent.has(el.id) && sent.get(el.id) !== valueOf(el))
      .map((el) => ({ id: el.id, value: valueOf(el) }));
  });
  document.addEventListener("htmx:afterSwap", function () {
    for (const { id, value } of typed) {
      const el = document.getElementById(id);
      if (!el || valueOf(el) === value) continue;
      if (el.type === "checkbox") el.checked = value === "true";
      else el.value = value;
      // A restored value is not "changed" in the browser's eyes: say so when the user leaves it.
      el.addEventListener("blur", () => el.dispatchEvent(new Event("change", { bubbles: true })), { once: true });
    }
    typed = [];
  });
})();
