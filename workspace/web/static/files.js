// Drag and drop for the upload form of the record page (templates/record/_files.html).
// Dropped files are put into the form's own file input and the form is submitted as usual,
// so the server sees exactly what the plain form sends without JavaScript.
(function () {
  "use strict";

  function dropZone(event) {
    return event.target.closest && event.target.closest("form[data-file-drop]");
  }

  ["dragenter", "dragover"].forEach(function (type) {
    document.addEventListener(type, function (event) {
      const form = dropZone(event);
      if (!form || !event.dataTransfer || !Array.from(event.dataTransfer.types).includes("Files")) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      form.classList.add("dragging");
    });
  });

  document.addEventListener("dragleave", function (event) {
    const form = dropZone(event);
    if (form && !form.contains(event.relatedTarget)) form.classList.remove("dragging");
  });

  document.addEventListener("drop", function (event) {
    const form = dropZone(event);
    if (!form || !event.dataTransfer || !event.dataTransfer.files.length) return;
    event.preventDefault();
    form.classList.remove("dragging");
    const input = form.querySelector("input[type=file]");
    input.files = event.dataTransfer.files;
    form.requestSubmit();
  });
})();
