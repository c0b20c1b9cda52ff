// The table view: arrow keys move between the table's cells as in a spreadsheet (Enter edits
// and Esc cancels, through htmx and app.js). An enhancement only: the table reads and edits
// without it.
(function () {
  "use strict";

  document.addEventListener("keydown", function (event) {
    const td = event.target;
    if (!(td instanceof HTMLTableCellElement) || !td.matches("table.records td[tabindex]")) return;
    const row = td.parentElement;
    const index = Array.prototype.indexOf.call(row.children, td);
    const moves = {
      ArrowLeft: () => td.previousElementSibling,
      ArrowRight: () => td.nextElementSibling,
      ArrowUp: () => row.previousElementSibling && row.previousElementSibling.children[index],
      ArrowDown: () => row.nextElementSibling && row.nextElementSibling.children[index],
    };
    const next = moves[event.key] && moves[event.key]();
    if (next && next.matches("td[tabindex]")) {
      event.preventDefault();
      next.focus();
    }
  });
})();
