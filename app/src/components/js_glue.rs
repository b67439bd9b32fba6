//! Calls into the small scripts in `public/` (`window.alumiaPasskeys`,
//! `window.alumiaPayments`): a method that takes strings and answers a
//! promise of a string; a rejection answers its message.

#[cfg(feature = "hydrate")]
pub async fn call(global: &str, method: &str, args: &[&str], unsupported: &str) -> Result<String, String> {
    use leptos::wasm_bindgen::{JsCast, JsValue};
    use leptos::web_sys::js_sys::{Array, Function, Promise, Reflect};

    let unsupported = || unsupported.to_string();
    let glue = Reflect::get(&leptos::prelude::window(), &JsValue::from_str(global))
        .ok()
        .filter(|g| g.is_object())
        .ok_or_else(unsupported)?;
    let function = Reflect::get(&glue, &JsValue::from_str(method))
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
        .ok_or_else(unsupported)?;
    let args: Array = args.iter().map(|a| JsValue::from_str(a)).collect();
    let promise = function
        .apply(&glue, &args)
        .map_err(|e| message(e, &unsupported()))?
        .dyn_into::<Promise>()
        .map_err(|_| unsupported())?;
    let answer = wasm_bindgen_futures::JsFuture::from(promise).await.map_err(|e| message(e, &unsupported()))?;
    answer.as_string().ok_or_else(unsupported)
}

#[cfg(feature = "hydrate")]
fn message(err: leptos::wasm_bindgen::JsValue, fallback: &str) -> String {
    use leptos::wasm_bindgen::JsValue;
    use leptos::web_sys::js_sys::Reflect;
    Reflect::get(&err, &JsValue::from_str("message"))
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| fallback.to_string())
}

/// On the server nothing runs these; pages call them from event handlers.
#[cfg(not(feature = "hydrate"))]
pub async fn call(_global: &str, _method: &str, _args: &[&str], unsupported: &str) -> Result<String, String> {
    Err(unsupported.to_string())
}
