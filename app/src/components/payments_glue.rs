//! The browser side of a top-up: `window.alumiaPayments`
//! (`public/payments.js`) loads Stripe.js, mounts the Payment Element for
//! a PaymentIntent's client secret and confirms it.

use super::js_glue::call;

const UNSUPPORTED: &str = "The payment form could not be loaded; check your connection and try again.";

/// Loads Stripe.js from `js_url` and mounts the Payment Element into the
/// element with id `element_id`.
pub async fn mount(js_url: &str, publishable_key: &str, client_secret: &str, element_id: &str) -> Result<(), String> {
    call("alumiaPayments", "mount", &[js_url, publishable_key, client_secret, element_id], UNSUPPORTED)
        .await
        .map(|_| ())
}

/// Confirms the mounted payment; answers the PaymentIntent's status.
pub async fn confirm(return_url: &str) -> Result<String, String> {
    call("alumiaPayments", "confirm", &[return_url], UNSUPPORTED).await
}
