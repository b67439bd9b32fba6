//! The browser side of passkey ceremonies: calls `window.alumiaPasskeys`
//! (`public/webauthn.js`) with the server's options and answers the
//! credential as JSON text, or a message to show.

use super::js_glue::call;

const UNSUPPORTED: &str = "This browser does not support passkeys.";

/// `navigator.credentials.create` with the server's creation options.
pub async fn create(options_json: String) -> Result<String, String> {
    call("alumiaPasskeys", "create", &[&options_json], UNSUPPORTED).await
}

/// `navigator.credentials.get` with the server's request options.
pub async fn get(options_json: String) -> Result<String, String> {
    call("alumiaPasskeys", "get", &[&options_json], UNSUPPORTED).await
}
