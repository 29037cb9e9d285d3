// The editor's body-picture upload: sent in the background, its Markdown put into the
// body at the cursor, so nothing typed in the article is left behind. Without script,
// the form opens its answer (the line to paste) in a new tab.
(function () {
  "use strict";
  var form = document.querySelector("[data-body-picture]");
  if (!form) {
    return;
  }
  var status = form.querySelector("[data-body-picture-status]");
  var body = document.getElementById(form.dataset.bodyField);
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    status.textContent = "Uploading…";
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    })
      .then(function (response) {
        if (response.status === 413) {
          return { errors: ["That file is too large to upload."] };
        }
        return response.json();
      })
      .then(function (answer) {
        if (!answer.markdown) {
          status.textContent = (answer.errors || ["The picture was not stored."]).join(" ");
          return;
        }
        var at = body.selectionStart || body.value.length;
        var before = body.value.slice(0, at);
        var gap = before && !before.endsWith("\n\n") ? (before.endsWith("\n") ? "\n" : "\n\n") : "";
        body.value = before + gap + answer.markdown + "\n\n" + body.value.slice(at);
        status.textContent = "Added to the body: " + answer.markdown + ". Save to keep it.";
        form.reset();
      })
      .catch(function () {
        status.textContent = "The upload failed: check the connection and try again.";
      });
  });
})();
