// Times in the viewer's own time zone: the server writes <time datetime="...Z" data-local-time>
// with the text in the workspace's zone (what readers without JavaScript see); this rewrites
// the text in the browser's zone and names that zone wherever [data-local-zone] says which.
(function () {
  "use strict";

  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const pad = (n) => String(n).padStart(2, "0");

  function localise(root) {
    root.querySelectorAll("time[data-local-time]").forEach(function (el) {
      const at = new Date(el.getAttribute("datetime"));
      if (isNaN(at)) return;
      el.textContent = at.getFullYear() + "-" + pad(at.getMonth() + 1) + "-" + pad(at.getDate()) +
        " " + pad(at.getHours()) + ":" + pad(at.getMinutes());
      el.title = at.toISOString().replace(/:\d\d\.\d+Z$/, " UTC").replace("T", " ");
    });
    root.querySelectorAll("[data-local-zone]").forEach(function (el) {
      el.textContent = zone + " (your browser's time zone)";
    });
  }

  document.addEventListener("DOMContentLoaded", function () { localise(document); });
  document.addEventListener("htmx:afterSwap", function (event) { localise(event.target); });
})();
