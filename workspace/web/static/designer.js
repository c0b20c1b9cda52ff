// The designer: drag a field card by its grip to reorder; the server answers with the new
// list. An extra on top of the up/down buttons, which work without it. (Keeping what is typed
// during a save and Esc closing an open card are app.js's data-keep-typed and data-escape.)
(function () {
  "use strict";

  let dragged = null;
  const cardAt = (event) => event.target.closest && event.target.closest(".field-card");
  const clearMarks = () => document.querySelectorAll(".drop-before, .drop-after")
    .forEach((el) => el.classList.remove("drop-before", "drop-after"));

  document.addEventListener("pointerdown", function (event) {
    const card = cardAt(event);
    if (card) card.draggable = Boolean(event.target.closest(".grip"));
  });
  document.addEventListener("dragstart", function (event) {
    dragged = cardAt(event);
    if (!dragged) return;
    dragged.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", dragged.dataset.key);
  });
  document.addEventListener("dragover", function (event) {
    const card = dragged && cardAt(event);
    if (!card || card === dragged) return;
    event.preventDefault();
    clearMarks();
    const box = card.getBoundingClientRect();
    card.classList.add(event.clientY < box.top + box.height / 2 ? "drop-before" : "drop-after");
  });
  document.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("dragging");
    clearMarks();
    dragged = null;
  });
  document.addEventListener("drop", function (event) {
    const card = dragged && cardAt(event);
    if (!card || card === dragged) return;
    event.preventDefault();
    const before = card.classList.contains("drop-before");
    card.parentNode.insertBefore(dragged, before ? card : card.nextSibling);
    const list = card.parentNode;
    const order = Array.from(list.children, (el) => el.dataset.key).join(",");
    htmx.ajax("POST", list.dataset.orderUrl, {
      source: list, target: "#fields", swap: "outerHTML", values: { order: order },
    });
  });
})();
