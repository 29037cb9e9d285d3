// The editor's body-picture upload: sent in the background, its Markdown put into the
// body at the cursor, so nothing typed in the article is left behind. Without script,
// the form opens its answer (the line to paste) in a new tab.
(function () {
  "use strict";
  // A picture past the limit is named at once, before a form is sent and refused whole.
  document.querySelectorAll("[data-max-bytes] input[type=file]").forEach(function (input) {
    input.addEventListener("change", function () {
      var most = Number(input.closest("[data-max-bytes]").dataset.maxBytes);
      var file = input.files && input.files[0];
      input.setCustomValidity(
        file && file.size > most
          ? "That picture is " + Math.ceil(file.size / 1048576) + " MB; pictures may be up to " +
              Math.floor(most / 1048576) + " MB."
          : ""
      );
      input.reportValidity();
    });
  });
  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var big = form.querySelector("[data-max-bytes] input[type=file]:invalid");
      if (big) {
        event.preventDefault();
        big.reportValidity();
      }
    });
  });
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
