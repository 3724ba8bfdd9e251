// Berth's own small script. Everything works without it; it only adds comfort:
// focus moves to the first field in error or else to the new content after an in-place
// action, success toasts go away by themselves (errors stay until dismissed), and a "copy"
// button puts a new key's secret on the clipboard.
(function () {
  "use strict";

  function focusFirstError(root) {
    var field = (root || document).querySelector('[aria-invalid="true"]');
    if (field) field.focus();
    return !!field;
  }

  // After an in-place action: the first field in error, or else the new content's heading
  // (or the new content itself), so keyboard users go on from there.
  function focusNewContent(target) {
    if (!target || !target.isConnected) return;
    if (focusFirstError(target)) return;
    var heading = target.querySelector("h1, h2, h3, header") || target;
    if (!heading.hasAttribute("tabindex")) heading.setAttribute("tabindex", "-1");
    heading.focus();
  }

  function expireToasts(root) {
    (root || document).querySelectorAll(".toast:not(.error):not([data-expiring])").forEach(function (t) {
      t.setAttribute("data-expiring", "");
      setTimeout(function () { dismiss(t); }, 6000);
    });
  }

  function dismiss(toast) {
    var holder = toast.parentElement && toast.parentElement.parentElement &&
      toast.parentElement.parentElement.id === "toasts" ? toast.parentElement : toast;
    holder.remove();
  }

  // Whether a request came from the customer (a click or a form), not from polling.
  var userAction = false;

  // The sidebar is a <details> so that phones can fold it without JavaScript; on a wide
  // screen CSS shows it anyway, and here it is also opened, so that assistive technology
  // and the browser agree it is there.
  var wide = window.matchMedia("(min-width: 768px)");
  function openMenuWhenWide() {
    var menu = document.querySelector("details.menu");
    if (menu && wide.matches) menu.open = true;
  }
  wide.addEventListener("change", openMenuWhenWide);
  document.addEventListener("htmx:historyRestore", openMenuWhenWide);

  document.addEventListener("DOMContentLoaded", function () {
    openMenuWhenWide();
    focusFirstError(document);
    expireToasts(document);
  });

  document.addEventListener("htmx:beforeRequest", function (e) {
    var cfg = e.detail.requestConfig;
    var ev = cfg && cfg.triggeringEvent;
    if (ev && (ev.type === "submit" || ev.type === "click")) userAction = true;
  });

  document.addEventListener("htmx:afterSettle", function (e) {
    expireToasts(document);
    if (!userAction) {
      focusFirstError(e.detail.elt);
      return;
    }
    userAction = false;
    var target = e.detail.target;
    // An outerHTML swap replaced the target: find its successor by id.
    if (target && !target.isConnected && target.id) target = document.getElementById(target.id);
    focusNewContent(target);
  });

  document.addEventListener("click", function (e) {
    var button = e.target.closest(".toast button[data-dismiss]");
    if (button) {
      e.preventDefault();
      dismiss(button.closest(".toast"));
    }
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
