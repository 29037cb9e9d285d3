// Live progress of a long job (a newsletter's sending, a members import): polls the
// page's JSON twin until it is done.
(function () {
  "use strict";
  var panel = document.querySelector("[data-progress-url]");
  if (!panel || panel.dataset.finished === "true") {
    return;
  }
  var bar = panel.querySelector("progress");
  function show(figures) {
    Object.keys(figures).forEach(function (key) {
      var node = panel.querySelector('[data-field="' + key + '"]');
      if (node) {
        node.textContent = String(figures[key]);
      }
    });
    bar.max = figures.total || 1;
    bar.value = figures.total ? figures.sent : (figures.finished ? 1 : 0);
    bar.textContent = figures.sent + " of " + figures.total;
    if (figures.finished) {
      // Sent while the page was open: offer what a freshly loaded page would.
      document.querySelectorAll("[data-when-finished]").forEach(function (node) {
        node.hidden = false;
      });
      document.querySelectorAll("[data-until-finished]").forEach(function (node) {
        node.hidden = true;
      });
    }
  }
  function poll() {
    fetch(panel.dataset.progressUrl, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (figures) {
        if (!figures) {
          // A refused or failed poll (a restarting server): try again, more slowly.
          window.setTimeout(poll, 5000);
          return;
        }
        show(figures);
        if (!figures.finished) {
          window.setTimeout(poll, 2000);
        }
      })
      .catch(function () {
        window.setTimeout(poll, 5000);
      });
  }
  window.setTimeout(poll, 1000);
})();
