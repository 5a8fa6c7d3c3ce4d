// Passkeys (WebAuthn): sign-in with a passkey (a button, and the browser's
// autofill where it offers passkeys), the second step with a passkey, and
// adding one on the account page. The server keeps each ceremony's state;
// this only carries options to the browser and its answer back.
"use strict";
(function () {
  if (!window.PublicKeyCredential || !navigator.credentials) return;

  function dec(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function enc(buf) {
    var b = new Uint8Array(buf), bin = "";
    for (var i = 0; i < b.length; i++) bin += String.fromCharCode(b[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function ids(list) {
    return (list || []).map(function (c) { return Object.assign({}, c, { id: dec(c.id) }); });
  }
  function creationOptions(o) {
    try { if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(o); } catch (e) { /* fall back */ }
    return Object.assign({}, o, { challenge: dec(o.challenge), user: Object.assign({}, o.user, { id: dec(o.user.id) }),
      excludeCredentials: ids(o.excludeCredentials) });
  }
  function requestOptions(o) {
    try { if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(o); } catch (e) { /* fall back */ }
    return Object.assign({}, o, { challenge: dec(o.challenge), allowCredentials: ids(o.allowCredentials) });
  }
  function toJSON(c) {
    try { if (typeof c.toJSON === "function") return c.toJSON(); } catch (e) { /* fall back */ }
    var r = c.response, out = { id: c.id, rawId: enc(c.rawId), type: c.type, clientExtensionResults: c.getClientExtensionResults(),
      authenticatorAttachment: c.authenticatorAttachment || undefined, response: { clientDataJSON: enc(r.clientDataJSON) } };
    if (r.attestationObject) {
      out.response.attestationObject = enc(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = enc(r.authenticatorData);
      out.response.signature = enc(r.signature);
      if (r.userHandle) out.response.userHandle = enc(r.userHandle);
    }
    return out;
  }
  function post(url, body) {
    return fetch(url, { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body || {}) }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (j) {
        if (!res.ok) throw new Error(typeof j.detail === "string" ? j.detail : "The server refused the request (" + res.status + ").");
        return j;
      });
    });
  }
  function say(el, err) {
    if (!el) return;
    if (!err) { el.hidden = true; el.textContent = ""; return; }
    el.textContent = err.name === "NotAllowedError" ? "The passkey request was cancelled or timed out."
      : err.name === "InvalidStateError" ? "This device already holds a passkey for your account."
      : err.name === "AbortError" ? "" : (err.message || String(err));
    el.hidden = el.textContent === "";
  }
  function field(name) {
    var el = document.querySelector("form[action='/login'] input[name='" + name + "']");
    return el ? el.value : "";
  }

  // Sign in: begin, let the browser ask for a passkey, finish, go on.
  var pending = null; // the autofill's request, aborted by the button
  function signIn(body, mediation, errEl) {
    var ctrl = new AbortController();
    if (mediation === "conditional") pending = ctrl;
    return post("/passkeys/login/begin", Object.assign({ mediation: mediation || "" }, body)).then(function (o) {
      var get = { publicKey: requestOptions(o.publicKey), signal: ctrl.signal };
      if (mediation) get.mediation = mediation;
      return navigator.credentials.get(get);
    }).then(function (cred) {
      return post("/passkeys/login/finish", Object.assign({ credential: toJSON(cred), rd: field("rd") }, body));
    }).then(function (j) { location.assign(j.redirect); }, function (err) { if (!ctrl.signal.aborted) say(errEl, err); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var errEl = document.getElementById("passkey-error");
    var login = document.querySelector("button[data-action='passkey-login']");
    if (login) {
      login.hidden = false;
      login.addEventListener("click", function () {
        if (pending) pending.abort();
        pending = null;
        say(errEl, null);
        signIn({}, "", errEl);
      });
      var user = document.querySelector("input[autocomplete~='webauthn']");
      if (user && PublicKeyCredential.isConditionalMediationAvailable) {
        PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) { if (ok) signIn({}, "conditional", errEl); });
      }
    }
    var second = document.querySelector("button[data-action='passkey-2fa']");
    if (second) {
      second.hidden = false;
      second.addEventListener("click", function () {
        say(errEl, null);
        signIn({ mfa_token: field("mfa_token") }, "", errEl);
      });
    }

    var reg = document.querySelector("button[data-action='passkey-register']");
    if (reg) {
      var status = document.getElementById("passkey-status");
      reg.hidden = false;
      reg.addEventListener("click", function () {
        var form = document.getElementById("passkey-register-form"), pw = form.querySelector("input[name='password']");
        say(status, null);
        reg.disabled = true;
        post("/account/passkeys/begin", { name: form.querySelector("input[name='name']").value, password: pw ? pw.value : "" })
          .then(function (o) { return navigator.credentials.create({ publicKey: creationOptions(o.publicKey) }); })
          .then(function (cred) { return post("/account/passkeys/finish", { credential: toJSON(cred) }); })
          .then(function (j) { location.assign(j.redirect); }, function (err) { reg.disabled = false; say(status, err); });
      });
    }
  });
})();
