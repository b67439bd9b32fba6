// Passkey glue between the dashboard (wasm) and navigator.credentials.
// The server sends WebAuthn options as JSON with base64url binary fields
// (webauthn-rs's format); browsers want ArrayBuffers, and answer with
// ArrayBuffers that the server wants as base64url again.
(function () {
  'use strict';

  function toBytes(b64url) {
    const b64 = b64url.replace(/-/g, '+').replace(/_/g, '/');
    const padded = b64 + '='.repeat((4 - (b64.length % 4)) % 4);
    const raw = atob(padded);
    const out = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out.buffer;
  }

  function toB64url(buffer) {
    const bytes = new Uint8Array(buffer);
    let raw = '';
    for (let i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function supported() {
    return typeof window.PublicKeyCredential === 'function' && !!navigator.credentials;
  }

  // Errors the page shows as they are: the user's words, not the browser's.
  function explain(err) {
    const name = err && err.name;
    if (name === 'NotAllowedError' || name === 'AbortError') {
      return new Error('The passkey prompt was closed or timed out. Try again when you are ready.');
    }
    if (name === 'InvalidStateError') {
      return new Error('This passkey is already registered on your account.');
    }
    if (name === 'SecurityError') {
      return new Error('Passkeys do not work on this address. Open the dashboard at its configured URL.');
    }
    return new Error('The passkey could not be used: ' + (err && err.message ? err.message : String(err)));
  }

  // One ceremony: the server's options in, the credential as JSON out.
  async function ceremony(kind, optionsJson, prepare, describe) {
    if (!supported()) throw new Error('This browser does not support passkeys.');
    const options = JSON.parse(optionsJson).publicKey;
    options.challenge = toBytes(options.challenge);
    prepare(options);
    let cred;
    try {
      cred = await navigator.credentials[kind]({ publicKey: options });
    } catch (err) {
      throw explain(err);
    }
    return JSON.stringify({
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: describe(cred.response),
    });
  }

  function create(optionsJson) {
    return ceremony('create', optionsJson, function (options) {
      options.user.id = toBytes(options.user.id);
      (options.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    }, function (response) {
      return {
        attestationObject: toB64url(response.attestationObject),
        clientDataJSON: toB64url(response.clientDataJSON),
        transports: response.getTransports ? response.getTransports() : undefined,
      };
    });
  }

  function get(optionsJson) {
    return ceremony('get', optionsJson, function (options) {
      (options.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    }, function (response) {
      return {
        authenticatorData: toB64url(response.authenticatorData),
        clientDataJSON: toB64url(response.clientDataJSON),
        signature: toB64url(response.signature),
        userHandle: response.userHandle ? toB64url(response.userHandle) : null,
      };
    });
  }

  window.alumiaPasskeys = { supported: supported, create: create, get: get };
})();
