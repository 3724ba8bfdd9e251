// Berth's own small script. Everything works without it; it only adds comfort:
// focus moves to the first field in error, toasts go away by themselves, and a
// "copy" button puts a new key's secret on the clipboard.
(function () {
  "use strict";

  function focusFirstError(root) {
    var field = (root || document).querySelector('[aria-invalid="true"]');
    if (field) field.focus();
  }

  function expireToasts(root) {
    (root || document).querySelectorAll(".toast:not([data-expiring])").forEach(function (t) {
      t.setAttribute("data-expiring", "");
      setTimeout(function () { t.remove(); }, 6000);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    focusFirstError(document);
    expireToasts(document);
  });

  document.addEventListener("htmx:afterSettle", function (e) {
    focusFirstError(e.detail.elt);
    expireToasts(document);
  });

  document.addEventListener("click", function (e) {
    var button = e.target.closest(".toast button[data-dismiss]");
    if (button) button.closest(".toast").remove();
    var copy = e.target.closest("button[data-copy]");
    if (copy) {
      var source = document.querySelector(copy.getAttribute("data-copy"));
      if (source && navigator.clipboard) {
        navigator.clipboard.writeText(source.textContent.trim()).then(function () {
          copy.textContent = "Copied";
        });
      }
    }
  });
})();
