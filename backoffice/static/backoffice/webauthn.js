// WebAuthn for the second-factor page: ask the server for options, let the browser talk to
// the authenticator, send the answer back. No inline script (a CSP may forbid it).
(function () {
  "use strict";
  function toBytes(b64url) {
    const b64 = b64url.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((b64url.length + 3) % 4);
    return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  }
  function toB64url(buffer) {
    let text = "";
    new Uint8Array(buffer).forEach((b) => { text += String.fromCharCode(b); });
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function csrf() {
    return document.querySelector("#csrf-holder [name=csrfmiddlewaretoken]").value;
  }
  async function post(url, fields) {
    const body = new URLSearchParams(fields);
    const response = await fetch(url, { method: "POST", body, headers: { "X-CSRFToken": csrf() }, credentials: "same-origin" });
    const data = await response.json();
    if (!response.ok) throw new Error(data.error ? data.error.message : "The server refused the request.");
    return data;
  }
  function showError(error) {
    const box = document.getElementById("webauthn-error");
    // The browser's own wording for a cancelled or unanswered request is technical.
    box.textContent = error.name === "NotAllowedError"
      ? "The security key did not answer, or the request was cancelled. Try again, or use your authenticator app if you have one."
      : (error.message || String(error));
    box.style.display = "block";
  }
  async function register(button) {
    const { options } = await post(button.dataset.options, {});
    const o = JSON.parse(options);
    o.challenge = toBytes(o.challenge);
    o.user.id = toBytes(o.user.id);
    (o.excludeCredentials || []).forEach((c) => { c.id = toBytes(c.id); });
    const credential = await navigator.credentials.create({ publicKey: o });
    const answer = {
      id: credential.id, rawId: toB64url(credential.rawId), type: credential.type,
      response: {
        clientDataJSON: toB64url(credential.response.clientDataJSON),
        attestationObject: toB64url(credential.response.attestationObject),
        transports: credential.response.getTransports ? credential.response.getTransports() : [],
      },
      clientExtensionResults: credential.getClientExtensionResults(),
    };
    const name = document.getElementById("webauthn-name").value;
    const done = await post(button.dataset.submit, { credential: JSON.stringify(answer), name, next: button.dataset.next });
    window.location.assign(done.next);
  }
  async function authenticate(button) {
    const { options } = await post(button.dataset.options, {});
    const o = JSON.parse(options);
    o.challenge = toBytes(o.challenge);
    (o.allowCredentials || []).forEach((c) => { c.id = toBytes(c.id); });
    const credential = await navigator.credentials.get({ publicKey: o });
    const answer = {
      id: credential.id, rawId: toB64url(credential.rawId), type: credential.type,
      response: {
        clientDataJSON: toB64url(credential.response.clientDataJSON),
        authenticatorData: toB64url(credential.response.authenticatorData),
        signature: toB64url(credential.response.signature),
        userHandle: credential.response.userHandle ? toB64url(credential.response.userHandle) : null,
      },
      clientExtensionResults: credential.getClientExtensionResults(),
    };
    const done = await post(button.dataset.submit, { credential: JSON.stringify(answer), next: button.dataset.next });
    window.location.assign(done.next);
  }
  document.addEventListener("DOMContentLoaded", () => {
    [["webauthn-register", register], ["webauthn-authenticate", authenticate]].forEach(([id, action]) => {
      const button = document.getElementById(id);
      if (button) button.addEventListener("click", () => action(button).catch(showError));
    });
  });
})();
