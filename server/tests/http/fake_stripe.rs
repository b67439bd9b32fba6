//! A stand-in for Stripe on loopback (ENGINEERING §6): a real HTTP server
//! speaking Stripe's wire format — form-encoded requests under `/v1`,
//! `Idempotency-Key`, JSON objects with the fields async-stripe requires,
//! Stripe's error envelope — and webhooks signed as Stripe signs them.
//! Tests drive what Stripe would do on its own (a customer paying, a
//! refund) through its methods.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

pub const SECRET_KEY: &str = "sk_test_alumia_fake";
pub const WEBHOOK_SECRET: &str = "whsec_alumia_fake";
pub const PUBLISHABLE_KEY: &str = "pk_test_alumia_fake";

#[derive(Default)]
struct Books {
    next: u64,
    intents: HashMap<String, Value>,
    customers: HashMap<String, Value>,
    sessions: Vec<Value>,
    invoices: Vec<Value>,
    /// Idempotency-Key → (request body, answer), as Stripe keeps them.
    idempotent: HashMap<String, (String, Value)>,
    /// Every request: (method and path, form body).
    requests: Vec<(String, String)>,
    /// While set, every request answers 500 (Stripe unreachable).
    down: bool,
}

#[derive(Clone)]
pub struct FakeStripe {
    /// `http://127.0.0.1:port/`: the API base the product is pointed at.
    pub base: String,
    books: Arc<Mutex<Books>>,
}

fn stripe_error(status: StatusCode, kind: &str, message: &str) -> Response {
    (status, Json(json!({ "error": { "type": kind, "message": message } }))).into_response()
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {SECRET_KEY}"))
}

fn form(body: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(body.as_bytes()).into_owned().collect()
}

/// `metadata[key]=value` pairs of a form.
fn metadata(fields: &HashMap<String, String>) -> Value {
    let map: serde_json::Map<String, Value> = fields
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("metadata[").and_then(|k| k.strip_suffix(']')).map(|k| (k.to_string(), json!(v)))
        })
        .collect();
    Value::Object(map)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Books {
    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}_fake{:06}", self.next)
    }
}

/// Answers `create` once per Idempotency-Key, as Stripe does: the same
/// key with the same body replays the answer; with another body, 400.
fn idempotent(
    books: &Mutex<Books>,
    headers: &HeaderMap,
    body: &str,
    create: impl FnOnce(&mut Books) -> Value,
) -> Response {
    let mut books = books.lock().unwrap();
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string);
    if let Some(key) = &key {
        if let Some((earlier, answer)) = books.idempotent.get(key) {
            return if earlier == body {
                Json(answer.clone()).into_response()
            } else {
                stripe_error(
                    StatusCode::BAD_REQUEST,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                )
            };
        }
    }
    let answer = create(&mut books);
    if let Some(key) = key {
        books.idempotent.insert(key, (body.to_string(), answer.clone()));
    }
    Json(answer).into_response()
}

/// Every request passes here first: the key, the outage switch, the log.
fn admit(books: &Mutex<Books>, headers: &HeaderMap, what: String, body: &str) -> Option<Response> {
    let mut b = books.lock().unwrap();
    b.requests.push((what, body.to_string()));
    if b.down {
        return Some(stripe_error(StatusCode::INTERNAL_SERVER_ERROR, "api_error", "Stripe is having a bad day"));
    }
    if !authorized(headers) {
        return Some(stripe_error(StatusCode::UNAUTHORIZED, "invalid_request_error", "Invalid API Key provided"));
    }
    None
}

async fn create_customer(State(f): State<FakeStripe>, headers: HeaderMap, body: String) -> Response {
    if let Some(refused) = admit(&f.books, &headers, "POST /v1/customers".into(), &body) {
        return refused;
    }
    let fields = form(&body);
    idempotent(&f.books, &headers, &body, |b| {
        let id = b.id("cus");
        let customer = json!({
            "id": id, "object": "customer", "created": now(), "livemode": false,
            "name": fields.get("name"), "email": null, "metadata": metadata(&fields),
        });
        b.customers.insert(id, customer.clone());
        customer
    })
}

async fn create_payment_intent(State(f): State<FakeStripe>, headers: HeaderMap, body: String) -> Response {
    if let Some(refused) = admit(&f.books, &headers, "POST /v1/payment_intents".into(), &body) {
        return refused;
    }
    let fields = form(&body);
    let Some(amount) = fields.get("amount").and_then(|a| a.parse::<i64>().ok()) else {
        return stripe_error(StatusCode::BAD_REQUEST, "invalid_request_error", "Missing required param: amount.");
    };
    let Some(currency) = fields.get("currency").cloned() else {
        return stripe_error(StatusCode::BAD_REQUEST, "invalid_request_error", "Missing required param: currency.");
    };
    idempotent(&f.books, &headers, &body, |b| {
        let id = b.id("pi");
        let intent = json!({
            "id": id, "object": "payment_intent", "amount": amount, "amount_capturable": 0,
            "amount_received": 0, "capture_method": "automatic_async", "confirmation_method": "automatic",
            "client_secret": format!("{id}_secret_{}", b.next * 7919), "created": now(), "currency": currency,
            "customer": fields.get("customer"), "description": fields.get("description"), "livemode": false,
            "metadata": metadata(&fields), "payment_method_types": ["card"], "status": "requires_payment_method",
            "latest_charge": null,
        });
        b.intents.insert(id, intent.clone());
        intent
    })
}

async fn retrieve_payment_intent(State(f): State<FakeStripe>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Some(refused) = admit(&f.books, &headers, format!("GET /v1/payment_intents/{id}"), "") {
        return refused;
    }
    match f.books.lock().unwrap().intents.get(&id) {
        Some(intent) => Json(intent.clone()).into_response(),
        None => {
            stripe_error(StatusCode::NOT_FOUND, "invalid_request_error", &format!("No such payment_intent: '{id}'"))
        }
    }
}

async fn create_checkout_session(State(f): State<FakeStripe>, headers: HeaderMap, body: String) -> Response {
    if let Some(refused) = admit(&f.books, &headers, "POST /v1/checkout/sessions".into(), &body) {
        return refused;
    }
    let fields = form(&body);
    if fields.get("mode").map(String::as_str) != Some("subscription") || !fields.contains_key("line_items[0][price]") {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "A subscription needs mode and a price.",
        );
    }
    let base = f.base.clone();
    idempotent(&f.books, &headers, &body, |b| {
        let id = b.id("cs");
        let session = json!({
            "id": id, "object": "checkout.session", "mode": "subscription", "url": format!("{base}pay/{id}"),
            "customer": fields.get("customer"), "client_reference_id": fields.get("client_reference_id"),
            "success_url": fields.get("success_url"), "cancel_url": fields.get("cancel_url"),
            "price": fields.get("line_items[0][price]"), "metadata": metadata(&fields),
            "payment_status": "unpaid", "status": "open", "subscription": null,
        });
        b.sessions.push(session.clone());
        session
    })
}

async fn list_invoices(
    State(f): State<FakeStripe>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = admit(&f.books, &headers, "GET /v1/invoices".into(), "") {
        return refused;
    }
    let customer = query.get("customer").cloned().unwrap_or_default();
    let data: Vec<Value> =
        f.books.lock().unwrap().invoices.iter().filter(|i| i["customer"] == customer.as_str()).cloned().collect();
    Json(json!({ "object": "list", "url": "/v1/invoices", "has_more": false, "data": data })).into_response()
}

impl FakeStripe {
    pub async fn start() -> FakeStripe {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake =
            FakeStripe { base: format!("http://{}/", listener.local_addr().unwrap()), books: Default::default() };
        let app = Router::new()
            .route("/v1/customers", post(create_customer))
            .route("/v1/payment_intents", post(create_payment_intent))
            .route("/v1/payment_intents/{id}", get(retrieve_payment_intent))
            .route("/v1/checkout/sessions", post(create_checkout_session))
            .route("/v1/invoices", get(list_invoices))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        fake
    }

    /// Points a test server's settings at this Stripe.
    pub fn configure(&self, settings: &mut server::Settings) {
        settings.stripe_secret_key = Some(SECRET_KEY.into());
        settings.stripe_webhook_secret = Some(WEBHOOK_SECRET.into());
        settings.stripe_publishable_key = Some(PUBLISHABLE_KEY.into());
        settings.stripe_api_base = Some(self.base.clone());
    }

    /// The customer pays: the PaymentIntent succeeds for its full amount.
    pub fn pay(&self, id: &str) -> Value {
        let mut books = self.books.lock().unwrap();
        let charge = format!("ch_for_{id}");
        let intent = books.intents.get_mut(id).expect("a PaymentIntent this Stripe created");
        intent["status"] = json!("succeeded");
        intent["amount_received"] = intent["amount"].clone();
        intent["latest_charge"] = json!(charge);
        intent.clone()
    }

    /// The PaymentIntent is canceled (abandoned, or canceled in Stripe's
    /// dashboard).
    pub fn cancel(&self, id: &str) {
        let mut books = self.books.lock().unwrap();
        books.intents.get_mut(id).expect("a PaymentIntent this Stripe created")["status"] = json!("canceled");
    }

    pub fn intent(&self, id: &str) -> Value {
        self.books.lock().unwrap().intents[id].clone()
    }

    pub fn intent_count(&self) -> usize {
        self.books.lock().unwrap().intents.len()
    }

    /// The charge of a paid PaymentIntent after refunds totalling
    /// `refunded_cents`, as `charge.refunded` carries it.
    pub fn charge_refunded(&self, id: &str, refunded_cents: i64) -> Value {
        let intent = self.intent(id);
        json!({
            "id": intent["latest_charge"], "object": "charge", "amount": intent["amount"],
            "amount_refunded": refunded_cents, "payment_intent": id, "refunded": refunded_cents >= intent["amount"].as_i64().unwrap(),
            "currency": intent["currency"],
        })
    }

    pub fn sessions(&self) -> Vec<Value> {
        self.books.lock().unwrap().sessions.clone()
    }

    pub fn customers(&self) -> Vec<Value> {
        self.books.lock().unwrap().customers.values().cloned().collect()
    }

    pub fn add_invoice(&self, invoice: Value) {
        self.books.lock().unwrap().invoices.push(invoice);
    }

    pub fn set_down(&self, down: bool) {
        self.books.lock().unwrap().down = down;
    }

    pub fn requests(&self) -> Vec<(String, String)> {
        self.books.lock().unwrap().requests.clone()
    }

    /// An event as Stripe sends it.
    pub fn event(&self, id: &str, kind: &str, object: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "id": id, "object": "event", "type": kind, "created": now(), "livemode": false,
            "api_version": "2025-03-31.basil", "pending_webhooks": 1, "request": { "id": null },
            "data": { "object": object },
        }))
        .unwrap()
    }

    /// `Stripe-Signature` for `payload` signed at `timestamp`.
    pub fn sign(payload: &[u8], timestamp: i64) -> String {
        app::domain::billing::stripe_api::sign(WEBHOOK_SECRET, timestamp, payload)
    }

    /// Delivers a signed event to `server`, as Stripe does.
    pub async fn deliver(server: &crate::support::TestServer, payload: &[u8]) -> crate::support::Answer {
        let timestamp = server.ctx.clock.now().timestamp();
        deliver_signed(server, payload, &Self::sign(payload, timestamp)).await
    }
}

/// Posts `payload` to the server's webhook with the given signature.
pub async fn deliver_signed(
    server: &crate::support::TestServer,
    payload: &[u8],
    signature: &str,
) -> crate::support::Answer {
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/webhooks/stripe", server.base))
        .header("content-type", "application/json")
        .header("stripe-signature", signature)
        .body(payload.to_vec())
        .send()
        .await
        .unwrap();
    crate::support::Answer { status: res.status(), headers: res.headers().clone(), body: res.text().await.unwrap() }
}
