//! The calls Alumia makes to Stripe (async-stripe), and the webhook
//! signature check. The client points at the configured base URL: Stripe
//! itself, or the stand-in the tests run on loopback.
//!
//! Requests are async-stripe's typed builders, so they have Stripe's real
//! shapes. Where Stripe's answer is a large object of which we read two
//! fields (Checkout sessions, invoice lists), the answer is read into a
//! small struct of just those fields.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use stripe::{IdempotencyKey, RequestStrategy, StripeRequest};
use stripe_client_core::{RequestBuilder, StripeMethod};

use crate::domain::clock::iso;
use crate::model::{AppError, ErrorCode, InvoiceView};

/// How far a webhook's signed timestamp may be from our clock.
pub const SIGNATURE_TOLERANCE_SECONDS: i64 = 300;

/// Stripe failed or could not be reached: 503, with the detail logged.
fn unavailable(err: stripe::StripeError) -> AppError {
    tracing::warn!(error = %err, "Stripe request failed");
    AppError::new(ErrorCode::ServiceUnavailable, "The payment provider did not answer; try again shortly")
}

/// A PaymentIntent as far as crediting needs it.
#[derive(Clone, Debug)]
pub struct PaymentIntentState {
    pub id: String,
    pub status: String,
    pub amount_received: i64,
    pub client_secret: Option<String>,
    pub metadata: HashMap<String, String>,
}

impl From<stripe_shared::PaymentIntent> for PaymentIntentState {
    fn from(pi: stripe_shared::PaymentIntent) -> Self {
        PaymentIntentState {
            id: pi.id.to_string(),
            status: pi.status.as_str().to_string(),
            amount_received: pi.amount_received,
            client_secret: pi.client_secret,
            metadata: pi.metadata,
        }
    }
}

pub async fn create_customer(
    client: &stripe::Client,
    name: &str,
    metadata: HashMap<String, String>,
    idempotency_key: &str,
) -> Result<String, AppError> {
    let customer = stripe_core::customer::CreateCustomer::new()
        .name(name)
        .metadata(metadata)
        .customize()
        .request_strategy(idempotent(idempotency_key)?)
        .send(client)
        .await
        .map_err(unavailable)?;
    Ok(customer.id.to_string())
}

fn idempotent(key: &str) -> Result<RequestStrategy, AppError> {
    IdempotencyKey::new(key)
        .map(RequestStrategy::Idempotent)
        .map_err(|_| AppError::validation("idempotencyKey", "Give an idempotency key of 1 to 255 characters"))
}

/// Creates a PaymentIntent; Stripe answers a retry with the same
/// `idempotency_key` with the same PaymentIntent.
pub async fn create_payment_intent(
    client: &stripe::Client,
    amount_cents: i64,
    currency: &str,
    customer: &str,
    metadata: HashMap<String, String>,
    idempotency_key: &str,
) -> Result<PaymentIntentState, AppError> {
    let currency: stripe_types::Currency = currency.parse().map_err(|_| AppError::internal())?;
    let intent = stripe_core::payment_intent::CreatePaymentIntent::new(amount_cents, currency)
        .customer(customer)
        .automatic_payment_methods(stripe_core::payment_intent::CreatePaymentIntentAutomaticPaymentMethods {
            allow_redirects: None,
            enabled: true,
        })
        .description("Alumia credits")
        .metadata(metadata)
        .customize()
        .request_strategy(idempotent(idempotency_key)?)
        .send(client)
        .await
        .map_err(unavailable)?;
    Ok(intent.into())
}

pub async fn retrieve_payment_intent(client: &stripe::Client, id: &str) -> Result<PaymentIntentState, AppError> {
    let intent = stripe_core::payment_intent::RetrievePaymentIntent::new(id).send(client).await.map_err(unavailable)?;
    Ok(intent.into())
}

#[derive(miniserde::Deserialize)]
struct SessionUrl {
    url: Option<String>,
}

/// A Stripe Checkout session for a subscription to `price`; answers the
/// URL to send the browser to.
pub async fn create_checkout_session(
    client: &stripe::Client,
    customer: &str,
    price: &str,
    success_url: &str,
    cancel_url: &str,
    metadata: HashMap<String, String>,
) -> Result<String, AppError> {
    let mut item = stripe_checkout::checkout_session::CreateCheckoutSessionLineItems::new();
    item.price = Some(price.to_string());
    item.quantity = Some(1);
    let request = stripe_checkout::checkout_session::CreateCheckoutSession::new()
        .mode(stripe_shared::CheckoutSessionMode::Subscription)
        .customer(customer)
        .line_items(vec![item])
        .success_url(success_url)
        .cancel_url(cancel_url)
        .metadata(metadata.clone())
        .client_reference_id(metadata.get("org_id").cloned().unwrap_or_default());
    let session: SessionUrl = request.build().customize().send(client).await.map_err(unavailable)?;
    session.url.ok_or_else(|| {
        tracing::warn!("Stripe answered a Checkout session without a URL");
        AppError::new(ErrorCode::ServiceUnavailable, "The payment provider did not answer; try again shortly")
    })
}

#[derive(miniserde::Deserialize)]
struct InvoiceList {
    data: Vec<InvoiceRow>,
}

#[derive(miniserde::Deserialize)]
struct InvoiceRow {
    id: String,
    number: Option<String>,
    status: Option<String>,
    total: i64,
    currency: String,
    created: i64,
    hosted_invoice_url: Option<String>,
}

#[derive(serde::Serialize)]
struct ListInvoices<'a> {
    customer: &'a str,
    limit: u32,
}

/// The customer's latest invoices and receipts, newest first. The billing
/// page waits for this, so Stripe gets 5 seconds rather than the client's 20.
pub async fn list_invoices(client: &stripe::Client, customer: &str) -> Result<Vec<InvoiceView>, AppError> {
    let list: InvoiceList = RequestBuilder::new(StripeMethod::Get, "/invoices")
        .query(&ListInvoices { customer, limit: 12 })
        .customize()
        .timeout(std::time::Duration::from_secs(5))
        .send(client)
        .await
        .map_err(unavailable)?;
    Ok(list
        .data
        .into_iter()
        .map(|i| InvoiceView {
            id: i.id,
            number: i.number,
            status: i.status,
            amount_cents: i.total,
            currency: i.currency,
            created_at: DateTime::<Utc>::from_timestamp(i.created, 0).map(iso).unwrap_or_default(),
            url: i.hosted_invoice_url,
        })
        .collect())
}

/// Checks a `Stripe-Signature` header (`t=…,v1=…[,v1=…]`) over `payload`
/// with the endpoint's secret: an HMAC-SHA256 of `t.payload`, and `t`
/// within the tolerance of `now`.
pub fn verify_signature(secret: &str, header: &str, payload: &[u8], now: DateTime<Utc>) -> Result<(), &'static str> {
    let mut timestamp: Option<i64> = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse().ok(),
            Some(("v1", value)) => signatures.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or("the Stripe-Signature header has no timestamp")?;
    if signatures.is_empty() {
        return Err("the Stripe-Signature header has no v1 signature");
    }
    if (now.timestamp() - timestamp).abs() > SIGNATURE_TOLERANCE_SECONDS {
        return Err("the signature's timestamp is outside the tolerance");
    }
    let mut expected = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    expected.update(timestamp.to_string().as_bytes());
    expected.update(b".");
    expected.update(payload);
    // `verify_slice` compares in constant time.
    if signatures.iter().any(|s| expected.clone().verify_slice(s).is_ok()) {
        Ok(())
    } else {
        Err("no signature matches")
    }
}

/// `Stripe-Signature` for `payload` at `timestamp`: what Stripe sends (the
/// tests' stand-in signs with it too).
pub fn sign(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_with_the_secret_the_payload_and_a_recent_time() {
        let now = Utc::now();
        let payload = br#"{"id":"evt_1"}"#;
        let header = sign("whsec_test", now.timestamp(), payload);
        assert_eq!(verify_signature("whsec_test", &header, payload, now), Ok(()));
        assert!(verify_signature("whsec_other", &header, payload, now).is_err());
        assert!(verify_signature("whsec_test", &header, br#"{"id":"evt_2"}"#, now).is_err());
        let stale = sign("whsec_test", now.timestamp() - 301, payload);
        assert!(verify_signature("whsec_test", &stale, payload, now).is_err());
        assert!(verify_signature("whsec_test", "v1=abc", payload, now).is_err());
        // Secret rotation: any of several v1 signatures may match.
        let rotated = format!("{header},v1={}", "00".repeat(32));
        assert_eq!(verify_signature("whsec_test", &rotated, payload, now), Ok(()));
    }
}
