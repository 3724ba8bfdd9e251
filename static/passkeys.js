// Passkeys: the WebAuthn ceremony, the one part of Berth that needs JavaScript. A form
// marked `data-passkey="create"` (add a passkey) or `data-passkey="get"` (sign in) is shown
// when the browser can do WebAuthn; submitting it posts the form to its `data-options` URL,
// hands the options to the browser, and posts the browser's answer (JSON, with the form's
// CSRF token as the X-CSRF-Token header) to its `data-finish` URL, whose answer says where
// to go. Errors are shown in the form's `[data-passkey-error]` element.
(function () {
  "use strict";

  function toBytes(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var raw = atob(b64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  function toText(buffer) {
    if (!buffer) return null;
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(options) {
    var pk = options.publicKey;
    pk.challenge = toBytes(pk.challenge);
    pk.user.id = toBytes(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return { publicKey: pk };
  }

  function requestOptions(options) {
    var pk = options.publicKey;
    pk.challenge = toBytes(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    // A button asks at once (not the autofill "conditional" mediation).
    return { publicKey: pk };
  }

  function created(credential) {
    return {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      response: {
        attestationObject: toText(credential.response.attestationObject),
        clientDataJSON: toText(credential.response.clientDataJSON),
        transports: credential.response.getTransports ? credential.response.getTransports() : undefined
      },
      extensions: credential.getClientExtensionResults()
    };
  }

  function asserted(credential) {
    return {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      response: {
        authenticatorData: toText(credential.response.authenticatorData),
        clientDataJSON: toText(credential.response.clientDataJSON),
        signature: toText(credential.response.signature),
        userHandle: toText(credential.response.userHandle)
      },
      extensions: credential.getClientExtensionResults()
    };
  }

  function answer(response) {
    return response.json().catch(function () {
      return { error: "Something went wrong (" + response.status + "); please reload the page." };
    }).then(function (body) {
      if (!response.ok || body.error) throw new Error(body.error || "Something went wrong.");
      return body;
    });
  }

  function run(form) {
    var create = form.getAttribute("data-passkey") === "create";
    var token = form.querySelector('input[name="csrf_token"]').value;
    var shown = form.querySelector("[data-passkey-error]");
    var button = form.querySelector('button[type="submit"]');
    shown.textContent = "";
    button.disabled = true;
    fetch(form.getAttribute("data-options"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": token },
      body: new URLSearchParams(new FormData(form))
    }).then(answer).then(function (options) {
      return create
        ? navigator.credentials.create(creationOptions(options)).then(created)
        : navigator.credentials.get(requestOptions(options)).then(asserted);
    }).then(function (credential) {
      return fetch(form.getAttribute("data-finish"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
        body: JSON.stringify(credential)
      }).then(answer);
    }).then(function (done) {
      window.location.assign(done.redirect);
    }).catch(function (err) {
      shown.textContent = err && err.name === "NotAllowedError"
        ? "The passkey request was cancelled or timed out."
        : (err && err.message) || "The passkey did not work.";
      button.disabled = false;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.PublicKeyCredential || !navigator.credentials) return;
    document.querySelectorAll("form[data-passkey]").forEach(function (form) {
      form.hidden = false;
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        run(form);
      });
    });
    document.querySelectorAll("[data-passkey-unsupported]").forEach(function (note) {
      note.hidden = true;
    });
  });
})();
