//! The browser side of passkey ceremonies: calls `window.alumiaPasskeys`
//! (`public/webauthn.js`) with the server's options and answers the
//! credential as JSON text, or a message to show.

/// `navigator.credentials.create` with the server's creation options.
pub async fn create(options_json: String) -> Result<String, String> {
    call("create", options_json).await
}

/// `navigator.credentials.get` with the server's request options.
pub async fn get(options_json: String) -> Result<String, String> {
    call("get", options_json).await
}

#[cfg(feature = "hydrate")]
async fn call(method: &str, options_json: String) -> Result<String, String> {
    use leptos::wasm_bindgen::{JsCast, JsValue};
    use leptos::web_sys::js_sys::{Function, Promise, Reflect};

    let unsupported = || "This browser does not support passkeys.".to_string();
    let glue = Reflect::get(&leptos::prelude::window(), &JsValue::from_str("alumiaPasskeys"))
        .ok()
        .filter(|g| g.is_object())
        .ok_or_else(unsupported)?;
    let function = Reflect::get(&glue, &JsValue::from_str(method))
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
        .ok_or_else(unsupported)?;
    let promise = function
        .call1(&glue, &JsValue::from_str(&options_json))
        .map_err(message)?
        .dyn_into::<Promise>()
        .map_err(|_| unsupported())?;
    let answer = wasm_bindgen_futures::JsFuture::from(promise).await.map_err(message)?;
    answer.as_string().ok_or_else(unsupported)
}

#[cfg(feature = "hydrate")]
fn message(err: leptos::wasm_bindgen::JsValue) -> String {
    use leptos::wasm_bindgen::JsValue;
    use leptos::web_sys::js_sys::Reflect;
    Reflect::get(&err, &JsValue::from_str("message"))
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| "The passkey could not be used.".to_string())
}

/// On the server nothing runs these; pages call them from event handlers.
#[cfg(not(feature = "hydrate"))]
async fn call(_method: &str, _options_json: String) -> Result<String, String> {
    Err("Passkeys need JavaScript.".to_string())
}
