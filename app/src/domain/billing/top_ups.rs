//! Buying credits and packages with Stripe.
//! - A top-up is a PaymentIntent created for the client's idempotency key
//!   (same key and body: the same PaymentIntent; same key, other body:
//!   409). Nothing is credited then.
//! - Credits arrive when Stripe says the PaymentIntent succeeded: by the
//!   signed webhook, or by `reconcile`, which asks Stripe about top-ups
//!   left uncredited for a few minutes (a lost webhook). Both credit
//!   through `credit`, once per PaymentIntent (the bucket is unique on it).
//! - A package is bought with a Stripe Checkout subscription; the webhook
//!   applies it. Invoices and receipts are listed from Stripe.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::plans::StripeSettings;
use super::stripe_api::{self, PaymentIntentState};
use super::{credits, Deposit, DepositKind};
use crate::db::{exec_on_db, on_db};
use crate::domain::audit::{self, AuditEvent};
use crate::domain::orgs::require_role;
use crate::domain::{jobs, step_up, Actor, Ctx, DomainResult};
use crate::model::{AppError, ErrorCode, InvoiceView, OrgSummary, Role, TopUpInput, TopUpIntent};

/// How long a top-up may wait for its webhook before `reconcile` asks.
pub const RECONCILE_AFTER_MINUTES: i64 = 5;
/// Top-ups older than this are no longer asked about.
pub const RECONCILE_FOR_DAYS: i64 = 7;

pub fn not_configured() -> AppError {
    AppError::new(ErrorCode::ServiceUnavailable, "Billing is not configured on this server")
}

/// Stripe, when this server takes payments.
pub fn stripe(ctx: &Ctx) -> DomainResult<&StripeSettings> {
    match &ctx.billing.stripe {
        Some(stripe) if ctx.billing.metered => Ok(stripe),
        _ => Err(not_configured()),
    }
}

/// What a top-up request asks for: cents and micro-units.
fn price(ctx: &Ctx, input: &TopUpInput) -> DomainResult<(i64, i64)> {
    let settings = &ctx.billing;
    match (input.amount_cents, input.credit_pack_id.as_deref()) {
        (Some(cents), None) => {
            if cents < settings.min_top_up_cents || cents > settings.max_top_up_cents {
                return Err(AppError::validation(
                    "amountCents",
                    format!(
                        "Give an amount between {} and {} cents",
                        settings.min_top_up_cents, settings.max_top_up_cents
                    ),
                ));
            }
            Ok((cents, settings.micros_for_cents(cents)))
        }
        (None, Some(id)) => {
            let pack = settings
                .credit_pack(id)
                .ok_or_else(|| AppError::validation("creditPackId", "No credit pack has that id"))?;
            Ok((pack.amount_cents, pack.credits * super::MICROS_PER_CREDIT))
        }
        _ => Err(AppError::validation("amountCents", "Give either amountCents or creditPackId")),
    }
}

fn digest(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[derive(sqlx::FromRow)]
struct IntentRow {
    request_hash: String,
    payment_intent_id: String,
    client_secret: String,
    amount_cents: i64,
    credits: i64,
}

async fn find_intent(ctx: &Ctx, org_id: Uuid, key: &str) -> DomainResult<Option<IntentRow>> {
    Ok(on_db!(&ctx.db, |p| sqlx::query_as(
        "SELECT request_hash, payment_intent_id, client_secret, amount_cents, credits FROM top_up_intents \
         WHERE org_id = $1 AND idempotency_key = $2"
    )
    .bind(org_id)
    .bind(key)
    .fetch_optional(p)
    .await)?)
}

/// The answer a stored top-up gives, or 409 when `hash` is another body.
fn replay(ctx: &Ctx, row: IntentRow, hash: &str) -> DomainResult<TopUpIntent> {
    if row.request_hash != hash {
        return Err(AppError::conflict("This idempotency key was used for a different top-up"));
    }
    let secret = ctx.sealer.open("stripe.client_secret", &row.client_secret)?;
    Ok(TopUpIntent {
        payment_intent_id: row.payment_intent_id,
        client_secret: String::from_utf8(secret).map_err(|_| AppError::internal())?,
        amount_cents: row.amount_cents,
        credits: credits(row.credits),
    })
}

/// `POST /api/v1/billing/top-ups/payment-intent`: owners and admins.
pub async fn create_payment_intent(
    ctx: &Ctx,
    actor: &Actor,
    org: &OrgSummary,
    input: &TopUpInput,
) -> DomainResult<TopUpIntent> {
    let stripe = stripe(ctx)?;
    if org.role < Role::Admin {
        return Err(AppError::forbidden("Only owners and admins buy credits"));
    }
    // Taken as sent, counted in characters: the document's bounds.
    let key = input.idempotency_key.as_str();
    if key.is_empty() || key.chars().count() > 255 || key.chars().any(char::is_control) {
        return Err(AppError::validation("idempotencyKey", "Give an idempotency key of 1 to 255 characters"));
    }
    let (amount_cents, micros) = price(ctx, input)?;
    let hash =
        digest(&format!("amount={:?};pack={:?}", input.amount_cents, input.credit_pack_id.as_deref().map(str::trim)));
    if let Some(row) = find_intent(ctx, org.id, key).await? {
        return replay(ctx, row, &hash);
    }
    let customer = ensure_customer(ctx, stripe, org).await?;
    let metadata = HashMap::from([
        ("org_id".to_string(), org.id.to_string()),
        ("credit_microunits".to_string(), micros.to_string()),
    ]);
    // Stripe keeps its own idempotency per key: a retry after a crash
    // between Stripe's answer and our insert gets the same PaymentIntent.
    let stripe_key = format!("alumia-top-up-{}", digest(&format!("{}:{key}", org.id)));
    let intent = stripe_api::create_payment_intent(
        &stripe.client,
        amount_cents,
        &stripe.currency,
        &customer,
        metadata,
        &stripe_key,
    )
    .await?;
    let client_secret = intent.client_secret.clone().ok_or_else(|| {
        tracing::warn!(payment_intent = %intent.id, "Stripe answered a PaymentIntent without a client secret");
        AppError::new(ErrorCode::ServiceUnavailable, "The payment provider did not answer; try again shortly")
    })?;
    let sealed = ctx.sealer.seal("stripe.client_secret", client_secret.as_bytes());
    let now = ctx.clock.now();
    let inserted: u64 = on_db!(&ctx.db, |p| {
        async {
        let mut tx = p.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO top_up_intents (org_id, idempotency_key, request_hash, payment_intent_id, client_secret, \
             amount_cents, credits, status, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8, $9) \
             ON CONFLICT DO NOTHING",
        )
        .bind(org.id)
        .bind(key)
        .bind(&hash)
        .bind(&intent.id)
        .bind(&sealed)
        .bind(amount_cents)
        .bind(micros)
        .bind(actor.user_id())
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 1 {
            let event = AuditEvent {
                org_id: Some(org.id),
                action: "billing.top_up_start",
                target: Some(intent.id.clone()),
                details: Some(json!({ "amountCents": amount_cents, "credits": credits(micros).credits })),
            };
            audit::audit_in_tx!(ctx, &mut *tx, actor.into(), event)?;
        }
        tx.commit().await?;
        Ok::<_, AppError>(inserted)
    }
    .await
    })?;
    if inserted == 0 {
        // A concurrent request with the same key won the insert.
        let row = find_intent(ctx, org.id, key).await?.ok_or_else(AppError::internal)?;
        return replay(ctx, row, &hash);
    }
    Ok(TopUpIntent { payment_intent_id: intent.id, client_secret, amount_cents, credits: credits(micros) })
}

/// The org's Stripe customer, created on first need.
async fn ensure_customer(ctx: &Ctx, stripe: &StripeSettings, org: &OrgSummary) -> DomainResult<String> {
    let existing: Option<String> =
        on_db!(&ctx.db, |p| sqlx::query_scalar("SELECT stripe_customer_id FROM orgs WHERE id = $1")
            .bind(org.id)
            .fetch_one(p)
            .await)?;
    if let Some(id) = existing {
        return Ok(id);
    }
    let metadata = HashMap::from([("org_id".to_string(), org.id.to_string())]);
    let id = stripe_api::create_customer(&stripe.client, &org.name, metadata, &format!("alumia-customer-{}", org.id))
        .await?;
    // The same idempotency key gives racing requests the same customer.
    exec_on_db!(&ctx.db, |p| sqlx::query(
        "UPDATE orgs SET stripe_customer_id = $2 WHERE id = $1 AND stripe_customer_id IS NULL"
    )
    .bind(org.id)
    .bind(&id)
    .execute(p)
    .await)?;
    Ok(id)
}

#[derive(sqlx::FromRow)]
struct CreditRow {
    org_id: Uuid,
    amount_cents: i64,
    credits: i64,
    created_by: Option<Uuid>,
}

/// A Stripe event to record with its effect, so it applies once.
pub struct EventRecord<'a> {
    pub id: &'a str,
    pub kind: &'a str,
}

/// Records `event` on `$tx`: `false` when it was recorded before.
macro_rules! record_event {
    ($tx:expr, $event:expr, $now:expr) => {
        async {
            match $event {
                Some(event) => sqlx::query(
                    "INSERT INTO stripe_events (id, type, received_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
                )
                .bind(event.id)
                .bind(event.kind)
                .bind($now)
                .execute(&mut *$tx)
                .await
                .map(|r| r.rows_affected() == 1),
                None => Ok::<bool, sqlx::Error>(true),
            }
        }
    };
}
pub(super) use record_event;

/// Credits a succeeded PaymentIntent (as Stripe says it is now), once;
/// records `event` in the same transaction. `true` when this call
/// credited it.
pub async fn credit(ctx: &Ctx, intent: &PaymentIntentState, event: Option<&EventRecord<'_>>) -> DomainResult<bool> {
    let row: Option<CreditRow> = on_db!(&ctx.db, |p| sqlx::query_as(
        "SELECT org_id, amount_cents, credits, created_by FROM top_up_intents WHERE payment_intent_id = $1"
    )
    .bind(&intent.id)
    .fetch_optional(p)
    .await)?;
    let now = ctx.clock.now();
    let Some(row) = row.filter(|_| intent.status == "succeeded") else {
        // Not ours (no top-up row) or not paid: nothing to credit.
        if row_missing_is_worth_a_log(intent) {
            tracing::warn!(payment_intent = %intent.id, "a succeeded PaymentIntent matches no top-up; not credited");
        }
        record_only(ctx, event).await?;
        return Ok(false);
    };
    // Stripe's amount received, in case it is less than asked for.
    let micros = if intent.amount_received >= row.amount_cents {
        row.credits
    } else {
        row.credits * intent.amount_received / row.amount_cents
    };
    let cents = intent.amount_received.min(row.amount_cents);
    let currency = ctx.billing.stripe.as_ref().map_or("usd", |s| s.currency.as_str()).to_uppercase();
    let reason = format!("Bought for {}.{:02} {currency}", cents / 100, cents % 100);
    let deposit = Deposit {
        org_id: row.org_id,
        kind: DepositKind::Purchase,
        source_ref: &intent.id,
        micros,
        expires_at: None,
        actor_user_id: row.created_by,
        reason: Some(&reason),
    };
    let credited: DomainResult<bool> = on_db!(&ctx.db, |p| {
        async {
        let mut tx = p.begin().await?;
        if !record_event!(tx, event, now).await? {
            return Ok(false);
        }
        let credited = micros > 0 && super::deposit_in_tx!(tx, &deposit, now).await?;
        sqlx::query(
            "UPDATE top_up_intents SET status = 'credited', credited_at = $2 WHERE payment_intent_id = $1 AND status <> 'credited'",
        )
        .bind(&intent.id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(credited)
    }
    .await
    });
    credited
}

fn row_missing_is_worth_a_log(intent: &PaymentIntentState) -> bool {
    intent.status == "succeeded" && intent.metadata.contains_key("org_id")
}

/// Records an event that changes nothing here.
pub async fn record_only(ctx: &Ctx, event: Option<&EventRecord<'_>>) -> DomainResult<()> {
    let now = ctx.clock.now();
    on_db!(&ctx.db, |p| async {
        let mut tx = p.begin().await?;
        record_event!(tx, event, now).await?;
        tx.commit().await
    }
    .await)?;
    Ok(())
}

/// What `reconcile` did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reconciled {
    pub ran: bool,
    pub checked: usize,
    pub credited: usize,
}

pub const RECONCILE_LEASE: &str = "billing.reconcile";

/// Asks Stripe about top-ups waiting longer than a few minutes and credits
/// those that succeeded: a lost webhook still credits.
pub async fn reconcile(ctx: &Ctx, holder: &str) -> DomainResult<Reconciled> {
    let Ok(stripe) = stripe(ctx) else {
        return Ok(Reconciled::default());
    };
    if !jobs::try_lease(ctx, RECONCILE_LEASE, holder, Duration::seconds(120)).await? {
        return Ok(Reconciled::default());
    }
    let now = ctx.clock.now();
    let (older_than, newer_than): (DateTime<Utc>, DateTime<Utc>) =
        (now - Duration::minutes(RECONCILE_AFTER_MINUTES), now - Duration::days(RECONCILE_FOR_DAYS));
    let waiting: Vec<String> = on_db!(&ctx.db, |p| {
        sqlx::query_scalar(
        "SELECT payment_intent_id FROM top_up_intents WHERE status = 'open' AND created_at < $1 AND created_at > $2 \
         ORDER BY created_at LIMIT 100"
    )
    .bind(older_than)
    .bind(newer_than)
    .fetch_all(p)
    .await
    })?;
    let mut done = Reconciled { ran: true, ..Default::default() };
    for id in waiting {
        let intent = match stripe_api::retrieve_payment_intent(&stripe.client, &id).await {
            Ok(intent) => intent,
            // Stripe is unreachable: try again on the next pass.
            Err(_) => break,
        };
        done.checked += 1;
        if intent.status == "succeeded" && credit(ctx, &intent, None).await? {
            tracing::info!(payment_intent = %id, "credited a top-up whose webhook did not arrive");
            done.credited += 1;
        } else if intent.status == "canceled" {
            mark_canceled(ctx, &id).await?;
        }
    }
    jobs::release(ctx, RECONCILE_LEASE, holder).await?;
    Ok(done)
}

pub async fn mark_canceled(ctx: &Ctx, payment_intent_id: &str) -> DomainResult<()> {
    exec_on_db!(&ctx.db, |p| sqlx::query(
        "UPDATE top_up_intents SET status = 'canceled' WHERE payment_intent_id = $1 AND status = 'open'"
    )
    .bind(payment_intent_id)
    .execute(p)
    .await)?;
    Ok(())
}

/// A Stripe Checkout session to subscribe to `package_id`: the URL to
/// send the browser to. Changing the package is an org setting.
pub async fn start_checkout(ctx: &Ctx, actor: &Actor, slug: &str, package_id: &str) -> DomainResult<String> {
    step_up::require_browser_step_up(ctx, actor)?;
    let stripe = stripe(ctx)?;
    let org = require_role(ctx, actor, slug, Role::Admin).await?;
    let package = ctx
        .billing
        .packages
        .iter()
        .find(|p| p.id == package_id)
        .ok_or_else(|| AppError::validation("packageId", "No package has that id"))?;
    let price = package
        .stripe_price
        .as_deref()
        .ok_or_else(|| AppError::validation("packageId", "That package cannot be bought online; ask the operator"))?;
    let customer = ensure_customer(ctx, stripe, &org).await?;
    let page = format!("{}/{}/billing", ctx.settings.public_url, org.slug);
    let metadata =
        HashMap::from([("org_id".to_string(), org.id.to_string()), ("package_id".to_string(), package.id.clone())]);
    let url = stripe_api::create_checkout_session(
        &stripe.client,
        &customer,
        price,
        &format!("{page}?checkout=done"),
        &page,
        metadata,
    )
    .await?;
    let event = AuditEvent {
        org_id: Some(org.id),
        action: "billing.checkout_start",
        target: Some(package.id.clone()),
        details: None,
    };
    audit::record(ctx, actor.into(), event).await?;
    Ok(url)
}

/// The org's invoices and receipts from Stripe (none before its first
/// purchase).
pub async fn invoices(ctx: &Ctx, org_id: Uuid) -> DomainResult<Vec<InvoiceView>> {
    let stripe = stripe(ctx)?;
    let customer: Option<String> =
        on_db!(&ctx.db, |p| sqlx::query_scalar("SELECT stripe_customer_id FROM orgs WHERE id = $1")
            .bind(org_id)
            .fetch_one(p)
            .await)?;
    match customer {
        Some(customer) => stripe_api::list_invoices(&stripe.client, &customer).await,
        None => Ok(Vec::new()),
    }
}
