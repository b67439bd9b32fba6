//! Stripe top-ups, webhooks, reconcile, Checkout and invoices against the
//! stand-in Stripe: money is credited exactly once, whatever Stripe's
//! webhooks do.

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use app::domain::billing::{self, top_ups, MICROS_PER_CREDIT};

use crate::fake_stripe::{deliver_signed, FakeStripe};
use crate::support::*;

async fn org_id(server: &TestServer, slug: &str) -> Uuid {
    app::domain::orgs::find_by_slug(&server.ctx, slug).await.unwrap().expect("the org exists")
}

async fn with_stripe() -> (TestServer, FakeStripe) {
    let fake = FakeStripe::start().await;
    let server = start_with(|s| fake.configure(s)).await;
    (server, fake)
}

async fn balance(server: &TestServer, org: Uuid) -> i64 {
    billing::summary(&server.ctx, org).await.unwrap().balance.credit_microunits
}

/// Top-up ledger entries (purchases) of the org.
async fn purchases(server: &TestServer, org: Uuid) -> i64 {
    app::on_db!(&server.ctx.db, |p| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM ledger_entries WHERE org_id = $1 AND kind = 'top_up'"
    )
    .bind(org)
    .fetch_one(p)
    .await)
    .unwrap()
}

async fn top_up(api: &Api, body: Value) -> Value {
    data(&api.post("/billing/top-ups/payment-intent", body).await)
}

#[tokio::test]
async fn without_stripe_top_ups_and_the_webhook_answer_503() {
    let server = start().await;
    let (_, _, key) = owner_with_key(&server, &[]).await;
    let api = Api::new(&server, Some(&key));
    let refused =
        api.post("/billing/top-ups/payment-intent", json!({ "amountCents": 500, "idempotencyKey": "k" })).await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(&refused), "SERVICE_UNAVAILABLE");
    assert_eq!(refused.json()["error"]["message"], "Billing is not configured on this server");
    let payload = br#"{"id":"evt_x","type":"payment_intent.succeeded","data":{"object":{}}}"#;
    let hook = deliver_signed(&server, payload, &FakeStripe::sign(payload, server.ctx.clock.now().timestamp())).await;
    assert_eq!(hook.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_payment_intent_is_created_once_per_idempotency_key() {
    let (server, fake) = with_stripe().await;
    let (mut browser, slug, key) = owner_with_key(&server, &[]).await;
    let org = org_id(&server, &slug).await;
    let api = Api::new(&server, Some(&key));

    let first = top_up(&api, json!({ "amountCents": 1250, "idempotencyKey": "order-1" })).await;
    assert_eq!(first["amountCents"], 1250);
    assert_eq!(first["credits"], "1250");
    assert_eq!(first["creditMicrounits"], 1250 * MICROS_PER_CREDIT);
    let id = first["paymentIntentId"].as_str().unwrap();
    assert!(first["clientSecret"].as_str().unwrap().starts_with(&format!("{id}_secret_")));
    let intent = fake.intent(id);
    assert_eq!(intent["amount"], 1250);
    assert_eq!(intent["currency"], "usd");
    assert_eq!(intent["metadata"]["org_id"], org.to_string(), "Stripe knows whose payment it is");
    assert!(intent["customer"].as_str().unwrap().starts_with("cus_"));

    // A retry (same key, same body): the same PaymentIntent, no new one.
    let again = top_up(&api, json!({ "amountCents": 1250, "idempotencyKey": "order-1" })).await;
    assert_eq!(again, first);
    assert_eq!(fake.intent_count(), 1);
    // Same key, another body: 409, and Stripe is not asked.
    let conflict =
        api.post("/billing/top-ups/payment-intent", json!({ "amountCents": 900, "idempotencyKey": "order-1" })).await;
    assert_eq!(conflict.status, StatusCode::CONFLICT, "{}", conflict.body);
    assert_eq!(fake.intent_count(), 1);

    // A credit pack; bad amounts and packs; nothing is credited yet.
    let pack = top_up(&api, json!({ "creditPackId": "credits-500", "idempotencyKey": "order-2" })).await;
    assert_eq!((pack["amountCents"].as_i64(), pack["credits"].as_str()), (Some(500), Some("500")));
    for (body, field) in [
        (json!({ "amountCents": 10, "idempotencyKey": "k3" }), "amountCents"),
        (json!({ "amountCents": 99_999_999, "idempotencyKey": "k4" }), "amountCents"),
        (json!({ "creditPackId": "gold", "idempotencyKey": "k5" }), "creditPackId"),
        (json!({ "amountCents": 500, "creditPackId": "credits-500", "idempotencyKey": "k6" }), "amountCents"),
        (json!({ "amountCents": 500, "idempotencyKey": "" }), "idempotencyKey"),
    ] {
        let bad = api.post("/billing/top-ups/payment-intent", body.clone()).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", bad.body);
        assert_eq!(bad.json()["error"]["details"]["field"], field, "{}", bad.body);
    }
    assert_eq!(fake.intent_count(), 2);
    let asked = fake.requests().into_iter().filter(|(what, _)| what == "POST /v1/payment_intents").count();
    assert_eq!(asked, 2, "retries and conflicts are answered without asking Stripe");
    assert_eq!(fake.customers().len(), 1, "one Stripe customer per org");
    assert_eq!(balance(&server, org).await, 0, "credits wait for Stripe's word");

    // The dashboard starts the same way; a member may not buy.
    let page = browser.call("get_billing_page", &[("org", &slug)]).await.json();
    assert_eq!(page["payments"]["publishableKey"], crate::fake_stripe::PUBLISHABLE_KEY);
    assert_eq!(page["creditPacks"][0]["id"], "credits-500");
    let mut member = Browser::new(&server);
    member.sign_up(&email("member")).await;
    let invite = browser.call("create_invite", &[("org", &slug), ("role", "member")]).await.json();
    let token = invite["url"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    assert_eq!(member.call("accept_invite", &[("token", &token)]).await.status, StatusCode::OK);
    let refused = member
        .call("create_top_up", &[("org", &slug), ("input[amountCents]", "500"), ("input[idempotencyKey]", "m1")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
}

#[tokio::test]
async fn a_paid_top_up_is_credited_exactly_once_through_a_webhook_storm() {
    let (server, fake) = with_stripe().await;
    let (_, slug, key) = owner_with_key(&server, &[]).await;
    let org = org_id(&server, &slug).await;
    let api = Api::new(&server, Some(&key));
    let intent = top_up(&api, json!({ "amountCents": 700, "idempotencyKey": "storm" })).await;
    let id = intent["paymentIntentId"].as_str().unwrap().to_string();
    let paid = fake.pay(&id);
    let event = fake.event("evt_storm_1", "payment_intent.succeeded", paid.clone());

    // Bad and stale signatures: 400, nothing credited, nothing recorded.
    let now = server.ctx.clock.now().timestamp();
    let forged = app::domain::billing::stripe_api::sign("whsec_someone_else", now, &event);
    for signature in [forged, FakeStripe::sign(&event, now - 301), "t=1,v1=00".to_string(), String::new()] {
        let answer = deliver_signed(&server, &event, &signature).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{signature}: {}", answer.body);
        assert_eq!(error_code(&answer), "BAD_REQUEST");
    }
    let tampered = String::from_utf8(event.clone()).unwrap().replace("700", "70000");
    let answer = deliver_signed(&server, tampered.as_bytes(), &FakeStripe::sign(&event, now)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(balance(&server, org).await, 0);

    // The same event twenty times at once, replays, and a second event
    // about the same PaymentIntent (Stripe may send several).
    let mut deliveries = Vec::new();
    for _ in 0..20 {
        let (server_base, payload) = (server.base.clone(), event.clone());
        let signature = FakeStripe::sign(&payload, now);
        deliveries.push(tokio::spawn(async move {
            reqwest::Client::new()
                .post(format!("{server_base}/api/v1/webhooks/stripe"))
                .header("stripe-signature", signature)
                .body(payload)
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for delivery in deliveries {
        assert_eq!(delivery.await.unwrap(), StatusCode::OK);
    }
    let other = fake.event("evt_storm_2", "payment_intent.succeeded", paid);
    assert_eq!(FakeStripe::deliver(&server, &other).await.status, StatusCode::OK);
    server.ctx.clock.advance(Duration::minutes(3));
    assert_eq!(FakeStripe::deliver(&server, &event).await.status, StatusCode::OK, "a late replay is fine");
    let unrelated = fake.event("evt_storm_3", "customer.created", json!({ "id": "cus_other" }));
    assert_eq!(FakeStripe::deliver(&server, &unrelated).await.status, StatusCode::OK);

    assert_eq!(balance(&server, org).await, 700 * MICROS_PER_CREDIT, "credited once");
    assert_eq!(purchases(&server, org).await, 1);
    assert!(billing::verify(&server.ctx).await.unwrap().is_empty());
    let ledger = data(&api.get("/billing/ledger").await);
    assert_eq!(ledger["items"][0]["reference"], id.as_str());
    assert_eq!(ledger["items"][0]["kind"], "top_up");
}

#[tokio::test]
async fn refunds_take_back_what_is_left_even_when_events_come_out_of_order() {
    let (server, fake) = with_stripe().await;
    let (_, slug, key) = owner_with_key(&server, &[]).await;
    let org = org_id(&server, &slug).await;
    let api = Api::new(&server, Some(&key));
    let intent = top_up(&api, json!({ "amountCents": 1000, "idempotencyKey": "refund" })).await;
    let id = intent["paymentIntentId"].as_str().unwrap().to_string();
    let paid = fake.pay(&id);

    // The refund's event overtakes the payment's: the payment is read from
    // Stripe and credited first, then 400 of 1,000 cents refunded.
    let refund_400 = fake.event("evt_refund_400", "charge.refunded", fake.charge_refunded(&id, 400));
    assert_eq!(FakeStripe::deliver(&server, &refund_400).await.status, StatusCode::OK);
    assert_eq!(balance(&server, org).await, 600 * MICROS_PER_CREDIT);
    let succeeded = fake.event("evt_paid", "payment_intent.succeeded", paid);
    assert_eq!(FakeStripe::deliver(&server, &succeeded).await.status, StatusCode::OK);
    assert_eq!(balance(&server, org).await, 600 * MICROS_PER_CREDIT, "the late success credits nothing more");

    // 500 credits are spent; then everything is refunded: only the 100
    // left can be taken back. An older refund event arriving last changes
    // nothing.
    billing::debit(&server.ctx, org, "spend", 500 * MICROS_PER_CREDIT).await.unwrap();
    let refund_all = fake.event("evt_refund_all", "charge.refunded", fake.charge_refunded(&id, 1000));
    assert_eq!(FakeStripe::deliver(&server, &refund_all).await.status, StatusCode::OK);
    let stale = fake.event("evt_refund_400_again", "charge.refunded", fake.charge_refunded(&id, 400));
    assert_eq!(FakeStripe::deliver(&server, &stale).await.status, StatusCode::OK);
    assert_eq!(balance(&server, org).await, 0);
    let ledger = data(&api.get("/billing/ledger").await);
    let refunds: Vec<&str> = ledger["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "refund")
        .map(|e| e["amount"]["credits"].as_str().unwrap())
        .collect();
    assert_eq!(refunds, ["-100", "-400"], "never below zero");
    assert!(billing::verify(&server.ctx).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_lost_webhook_is_credited_by_reconcile() {
    let (server, fake) = with_stripe().await;
    let (_, slug, key) = owner_with_key(&server, &[]).await;
    let org = org_id(&server, &slug).await;
    let api = Api::new(&server, Some(&key));
    let paid = top_up(&api, json!({ "amountCents": 800, "idempotencyKey": "lost" })).await;
    let unpaid = top_up(&api, json!({ "amountCents": 900, "idempotencyKey": "abandoned" })).await;
    let paid_id = paid["paymentIntentId"].as_str().unwrap().to_string();
    fake.pay(&paid_id);

    // Young top-ups are left to their webhook.
    let early = top_ups::reconcile(&server.ctx, "worker-a").await.unwrap();
    assert_eq!((early.checked, early.credited), (0, 0));
    // A few minutes on, Stripe is asked; while it is down nothing changes.
    server.ctx.clock.advance(Duration::minutes(6));
    fake.set_down(true);
    let outage = top_ups::reconcile(&server.ctx, "worker-a").await.unwrap();
    assert_eq!(outage.credited, 0);
    fake.set_down(false);
    let done = top_ups::reconcile(&server.ctx, "worker-a").await.unwrap();
    assert_eq!((done.checked, done.credited), (2, 1), "the paid one is credited, the unpaid one waits");
    assert_eq!(balance(&server, org).await, 800 * MICROS_PER_CREDIT);
    let again = top_ups::reconcile(&server.ctx, "worker-b").await.unwrap();
    assert_eq!((again.checked, again.credited), (1, 0), "a credited top-up is not asked about again");
    // The abandoned one is canceled at Stripe: asked once more, then never.
    fake.cancel(unpaid["paymentIntentId"].as_str().unwrap());
    let canceled = top_ups::reconcile(&server.ctx, "worker-b").await.unwrap();
    assert_eq!((canceled.checked, canceled.credited), (1, 0));
    let after = top_ups::reconcile(&server.ctx, "worker-b").await.unwrap();
    assert_eq!((after.ran, after.checked), (true, 0), "a canceled top-up is not asked about again");

    // The webhook arrives after all: nothing more.
    let late = fake.event("evt_late", "payment_intent.succeeded", fake.intent(&paid_id));
    assert_eq!(FakeStripe::deliver(&server, &late).await.status, StatusCode::OK);
    assert_eq!(balance(&server, org).await, 800 * MICROS_PER_CREDIT);
    assert_eq!(purchases(&server, org).await, 1);
    assert!(billing::verify(&server.ctx).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_webhook_takes_events_up_to_256_kb() {
    let (server, fake) = with_stripe().await;
    let padding = "x".repeat(200 * 1024);
    let big = fake.event("evt_big", "customer.updated", json!({ "id": "cus_1", "description": padding }));
    let ok = FakeStripe::deliver(&server, &big).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let padding = "x".repeat(300 * 1024);
    let too_big = fake.event("evt_too_big", "customer.updated", json!({ "id": "cus_1", "description": padding }));
    let refused = FakeStripe::deliver(&server, &too_big).await;
    assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(&refused), "PAYLOAD_TOO_LARGE");
    let not_json = b"definitely not json";
    let bad = FakeStripe::deliver(&server, not_json).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn checkout_changes_the_package_when_stripe_says_so_and_invoices_come_from_stripe() {
    let (server, fake) = with_stripe().await;
    let (mut browser, slug, key) = owner_with_key(&server, &[]).await;
    let api = Api::new(&server, Some(&key));
    assert_eq!(data(&api.get("/billing").await)["package"]["id"], "free");

    let started = browser.call("start_checkout", &[("org", &slug), ("package_id", "pro")]).await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let url = started.json().as_str().unwrap().to_string();
    let session = fake.sessions().pop().unwrap();
    assert_eq!(url, session["url"].as_str().unwrap());
    assert_eq!(session["price"], "price_pro_monthly");
    assert_eq!(session["metadata"]["package_id"], "pro");
    assert_eq!(session["success_url"], format!("{}/{slug}/billing?checkout=done", server.public_url));
    // A package without a Stripe price cannot be bought; a key cannot buy.
    let free = browser.call("start_checkout", &[("org", &slug), ("package_id", "free")]).await;
    assert_eq!(free.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(audit_count(&server, "billing.checkout_start").await, 1);

    // Paid: Stripe's event applies the package and its grant.
    let mut completed = session.clone();
    completed["subscription"] = json!("sub_fake_1");
    completed["status"] = json!("complete");
    let event = fake.event("evt_checkout", "checkout.session.completed", completed);
    assert_eq!(FakeStripe::deliver(&server, &event).await.status, StatusCode::OK);
    let now = data(&api.get("/billing").await);
    assert_eq!(now["package"]["id"], "pro");
    assert_eq!(now["package"]["maxAgents"], 25);
    assert_eq!(now["balance"]["credits"], "2000", "Pro's monthly grant");
    assert_eq!(now["buckets"][0]["kind"], "grant");

    // Invoices and receipts are Stripe's, for this org's customer.
    let customer = session["customer"].as_str().unwrap();
    fake.add_invoice(json!({
        "id": "in_fake_1", "object": "invoice", "customer": customer, "number": "ALU-0001", "status": "paid",
        "total": 4900, "currency": "usd", "created": 1_790_000_000, "hosted_invoice_url": "https://invoice.example/in_fake_1",
    }));
    fake.add_invoice(json!({
        "id": "in_other", "object": "invoice", "customer": "cus_someone_else", "number": "X", "status": "paid",
        "total": 1, "currency": "usd", "created": 1, "hosted_invoice_url": null,
    }));
    let page = browser.call("get_billing_page", &[("org", &slug)]).await.json();
    let invoices = page["invoices"].as_array().unwrap();
    assert_eq!(invoices.len(), 1, "{page}");
    assert_eq!(invoices[0]["number"], "ALU-0001");
    assert_eq!(invoices[0]["amountCents"], 4900);
    // Stripe down: the page still loads, and says invoices are missing.
    fake.set_down(true);
    let page = browser.call("get_billing_page", &[("org", &slug)]).await.json();
    assert!(page["invoicesError"].is_string(), "{page}");
    assert_eq!(page["summary"]["package"]["id"], "pro");
    fake.set_down(false);

    // The subscription ends: back to the default package.
    let ended = fake.event(
        "evt_sub_end",
        "customer.subscription.deleted",
        json!({ "id": "sub_fake_1", "object": "subscription" }),
    );
    assert_eq!(FakeStripe::deliver(&server, &ended).await.status, StatusCode::OK);
    assert_eq!(data(&api.get("/billing").await)["package"]["id"], "free");
    assert!(billing::verify(&server.ctx).await.unwrap().is_empty());
}
