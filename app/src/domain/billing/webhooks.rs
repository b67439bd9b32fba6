//! `POST /api/v1/webhooks/stripe`: Stripe's signed events.
//!
//! Stripe retries, duplicates, delays and reorders events. So: the
//! signature (and its 5-minute tolerance) is checked first; an event id is
//! recorded in the transaction of its effect and never applied twice; and
//! where order matters the current state is read from Stripe rather than
//! from the event (a PaymentIntent is credited as Stripe says it is now; a
//! refund event carries the charge's running total, so an older one that
//! arrives late changes nothing). An error answers 5xx and records
//! nothing, so Stripe sends the event again.

use serde_json::Value;
use uuid::Uuid;

use super::stripe_api;
use super::top_ups::{self, record_event, EventRecord};
use crate::db::on_db;
use crate::domain::{Ctx, DomainResult};
use crate::model::AppError;

/// Largest event body accepted.
pub const MAX_BODY: usize = 256 * 1024;

/// Checks and applies one event.
pub async fn receive(ctx: &Ctx, signature: Option<&str>, payload: &[u8]) -> DomainResult<()> {
    let stripe = top_ups::stripe(ctx)?;
    let signature = signature.ok_or_else(|| AppError::bad_request("Missing Stripe-Signature header"))?;
    stripe_api::verify_signature(&stripe.webhook_secret, signature, payload, ctx.clock.now())
        .map_err(|why| AppError::bad_request(format!("Invalid Stripe-Signature: {why}")))?;
    let event: Value = serde_json::from_slice(payload).map_err(|_| AppError::bad_request("The event is not JSON"))?;
    let (Some(id), Some(kind), Some(object)) =
        (event["id"].as_str(), event["type"].as_str(), event.pointer("/data/object"))
    else {
        return Err(AppError::bad_request("The event lacks id, type or data.object"));
    };
    if already_applied(ctx, id).await? {
        return Ok(());
    }
    let record = EventRecord { id, kind };
    match kind {
        "payment_intent.succeeded" => {
            let intent_id = object["id"].as_str().ok_or_else(|| AppError::bad_request("No PaymentIntent id"))?;
            // As Stripe says it is now, not as this (maybe old) event says.
            let intent = stripe_api::retrieve_payment_intent(&stripe.client, intent_id).await?;
            top_ups::credit(ctx, &intent, Some(&record)).await?;
        }
        "payment_intent.canceled" => {
            if let Some(intent_id) = object["id"].as_str() {
                let intent = stripe_api::retrieve_payment_intent(&stripe.client, intent_id).await?;
                if intent.status == "canceled" {
                    top_ups::mark_canceled(ctx, intent_id).await?;
                }
            }
            top_ups::record_only(ctx, Some(&record)).await?;
        }
        "charge.refunded" => refund(ctx, &record, object).await?,
        "checkout.session.completed" => apply_package(ctx, &record, object).await?,
        "customer.subscription.deleted" => end_subscription(ctx, &record, object).await?,
        _ => top_ups::record_only(ctx, Some(&record)).await?,
    }
    Ok(())
}

async fn already_applied(ctx: &Ctx, id: &str) -> DomainResult<bool> {
    let found: Option<String> = on_db!(&ctx.db, |p| sqlx::query_scalar("SELECT id FROM stripe_events WHERE id = $1")
        .bind(id)
        .fetch_optional(p)
        .await)?;
    Ok(found.is_some())
}

#[derive(sqlx::FromRow)]
struct Refundable {
    org_id: Uuid,
    amount_cents: i64,
    credits: i64,
    status: String,
}

/// `charge.refunded`: takes the refunded share of the top-up's credits
/// from what is left of its bucket (never below zero). `amount_refunded`
/// is the charge's running total, so only growth takes credits.
async fn refund(ctx: &Ctx, record: &EventRecord<'_>, charge: &Value) -> DomainResult<()> {
    let stripe = top_ups::stripe(ctx)?;
    let (Some(intent_id), Some(refunded_cents)) =
        (charge["payment_intent"].as_str(), charge["amount_refunded"].as_i64())
    else {
        return Err(AppError::bad_request("The charge lacks payment_intent or amount_refunded"));
    };
    let row: Option<Refundable> = on_db!(&ctx.db, |p| sqlx::query_as(
        "SELECT org_id, amount_cents, credits, status FROM top_up_intents WHERE payment_intent_id = $1"
    )
    .bind(intent_id)
    .fetch_optional(p)
    .await)?;
    let Some(row) = row else {
        return top_ups::record_only(ctx, Some(record)).await;
    };
    if row.status != "credited" {
        // The refund overtook the success event: credit first, from
        // Stripe's current state, so there is something to refund.
        let intent = stripe_api::retrieve_payment_intent(&stripe.client, intent_id).await?;
        top_ups::credit(ctx, &intent, None).await?;
    }
    let share = |cents: i64| row.credits * cents.min(row.amount_cents) / row.amount_cents.max(1);
    let now = ctx.clock.now();
    let reference = format!("{intent_id}:{refunded_cents}");
    on_db!(&ctx.db, |p| async {
        let mut tx = p.begin().await?;
        if !record_event!(tx, Some(record), now).await? {
            return Ok(());
        }
        // The org row first, as debits do: they queue on it.
        sqlx::query("UPDATE orgs SET updated_at = updated_at WHERE id = $1").bind(row.org_id).execute(&mut *tx).await?;
        let before: i64 = sqlx::query_scalar("SELECT refunded_cents FROM top_up_intents WHERE payment_intent_id = $1")
            .bind(intent_id)
            .fetch_one(&mut *tx)
            .await?;
        if refunded_cents <= before {
            tx.commit().await?;
            return Ok(());
        }
        sqlx::query("UPDATE top_up_intents SET refunded_cents = $2 WHERE payment_intent_id = $1")
            .bind(intent_id)
            .bind(refunded_cents)
            .execute(&mut *tx)
            .await?;
        let bucket: Option<(Uuid, i64)> = sqlx::query_as(
            "SELECT id, balance FROM credit_buckets WHERE org_id = $1 AND kind = 'top_up' AND source_ref = $2",
        )
        .bind(row.org_id)
        .bind(intent_id)
        .fetch_optional(&mut *tx)
        .await?;
        let owed = share(refunded_cents) - share(before);
        if let Some((bucket_id, balance)) = bucket {
            let take = owed.min(balance);
            if take > 0 {
                sqlx::query("UPDATE credit_buckets SET balance = balance - $2 WHERE id = $1")
                    .bind(bucket_id)
                    .bind(take)
                    .execute(&mut *tx)
                    .await?;
                let reason = if take < owed {
                    format!("Refunded {refunded_cents} cents in all; the rest was already spent")
                } else {
                    format!("Refunded {refunded_cents} cents in all")
                };
                sqlx::query(
                    "INSERT INTO ledger_entries (id, org_id, bucket_id, kind, amount, reference, reason, created_at) \
                     VALUES ($1, $2, $3, 'refund', $4, $5, $6, $7)",
                )
                .bind(Uuid::new_v4())
                .bind(row.org_id)
                .bind(bucket_id)
                .bind(-take)
                .bind(&reference)
                .bind(reason)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await
    }
    .await)?;
    Ok(())
}

/// `checkout.session.completed` of a subscription: the org gets the
/// package it chose (named in the session's metadata by `start_checkout`).
async fn apply_package(ctx: &Ctx, record: &EventRecord<'_>, session: &Value) -> DomainResult<()> {
    let org_id = session.pointer("/metadata/org_id").and_then(Value::as_str).and_then(|s| s.parse::<Uuid>().ok());
    let package_id = session.pointer("/metadata/package_id").and_then(Value::as_str);
    let subscription = session["subscription"].as_str();
    let (Some(org_id), Some(package_id)) = (org_id, package_id) else {
        return top_ups::record_only(ctx, Some(record)).await;
    };
    if !ctx.billing.packages.iter().any(|p| p.id == package_id) {
        tracing::warn!(package_id, "a Checkout session names a package this server does not offer");
        return top_ups::record_only(ctx, Some(record)).await;
    }
    let now = ctx.clock.now();
    on_db!(&ctx.db, |p| async {
        let mut tx = p.begin().await?;
        if !record_event!(tx, Some(record), now).await? {
            return Ok(());
        }
        sqlx::query("UPDATE orgs SET package_id = $2, stripe_subscription_id = $3, updated_at = $4 WHERE id = $1")
            .bind(org_id)
            .bind(package_id)
            .bind(subscription)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }
    .await)?;
    super::plans::forget_package(ctx, Some(org_id));
    // The new package's grant for this period, if it had none yet.
    super::grants::grant_now(ctx, org_id).await?;
    Ok(())
}

/// `customer.subscription.deleted`: back to the default package.
async fn end_subscription(ctx: &Ctx, record: &EventRecord<'_>, subscription: &Value) -> DomainResult<()> {
    let id = subscription["id"].as_str().unwrap_or_default();
    let now = ctx.clock.now();
    on_db!(&ctx.db, |p| async {
        let mut tx = p.begin().await?;
        if !record_event!(tx, Some(record), now).await? {
            return Ok(());
        }
        sqlx::query(
            "UPDATE orgs SET package_id = NULL, stripe_subscription_id = NULL, updated_at = $2 \
             WHERE stripe_subscription_id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }
    .await)?;
    // The org is known by its subscription here, not its id.
    super::plans::forget_package(ctx, None);
    Ok(())
}
