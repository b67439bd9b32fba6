//! `/api/v1/billing`: the caller's org's credits, ledger, budgets and
//! top-ups, and Stripe's webhook.

use axum::body::Body;
use axum::extract::State;
use http::HeaderMap;

use app::domain::billing::{budgets, top_ups, webhooks};
use app::domain::{billing, Ctx};
use app::model::{
    AppError, BillingSummary, BudgetView, ErrorCode, LedgerEntryView, Page, SetBudgetInput, TopUpInput, TopUpIntent,
};

use super::envelope::{ApiError, ApiOk};
use super::extract::{ApiJson, ApiQuery, ListParams};
use crate::auth::ApiCaller;
use crate::openapi::{Envelope, ErrorEnvelope};

#[utoipa::path(get, path = "/billing", tag = "billing",
    description = "Spendable credits by bucket: the monthly grant first (it is spent first and expires), then purchases, oldest first; the org's package and its caps, the period, and the budgets with this period's spending. `credits` is a decimal string; `creditMicrounits` the exact integer (1 credit = 1,000,000).",
    responses((status = 200, description = "Balance and buckets", body = Envelope<BillingSummary>)))]
pub async fn summary(State(ctx): State<Ctx>, caller: ApiCaller) -> Result<ApiOk<BillingSummary>, ApiError> {
    Ok(ApiOk(billing::summary(&ctx, caller.org.id).await?))
}

#[utoipa::path(get, path = "/billing/ledger", tag = "billing",
    description = "Every change to the org's credits, newest first: grant, top_up, usage, refund, adjustment, expiry. `amount` is signed.",
    params(ListParams),
    responses((status = 200, description = "A page of ledger entries", body = Envelope<Page<LedgerEntryView>>)))]
pub async fn ledger(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<ApiOk<Page<LedgerEntryView>>, ApiError> {
    Ok(ApiOk(billing::ledger(&ctx, caller.org.id, params.page()?).await?))
}

#[utoipa::path(put, path = "/billing/budgets", tag = "billing", request_body = SetBudgetInput,
    description = "Browser-only, with a fresh step-up; owners and admins. Sets the org's monthly budget (`agentId` null) or an agent's, in credits; `monthlyCredits` null removes it. Metered work beyond a budget answers 402 with `details.reason = \"budget_exhausted\"`; spending reaches 50, 80 and 100 % alert once per period each.",
    responses((status = 200, description = "The org's budgets now", body = Envelope<Budgets>),
        (status = 403, description = "Not an owner or admin", body = ErrorEnvelope),
        (status = 422, description = "Not a number of credits", body = ErrorEnvelope)))]
pub async fn set_budget(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<SetBudgetInput>,
) -> Result<ApiOk<Budgets>, ApiError> {
    Ok(ApiOk(Budgets { budgets: budgets::set(&ctx, &caller.actor, &caller.org.slug, &body).await? }))
}

/// Every budget of the org after the change. An object rather than a bare
/// array: only paged lists answer arrays, as `{items, nextCursor, hasMore}`.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Budgets {
    budgets: Vec<BudgetView>,
}

#[utoipa::path(post, path = "/billing/top-ups/payment-intent", tag = "billing", request_body = TopUpInput,
    description = "Owners and admins. Creates a Stripe PaymentIntent for an amount (`amountCents`) or a credit pack (`creditPackId`) and answers its client secret for Stripe Elements. Credits arrive when Stripe's webhook reports the payment succeeded. The same `idempotencyKey` with the same body answers the same PaymentIntent; with another body, 409. 503 when Stripe is not configured on this server.",
    responses((status = 200, description = "The PaymentIntent to confirm", body = Envelope<TopUpIntent>),
        (status = 403, description = "Not an owner or admin", body = ErrorEnvelope),
        (status = 409, description = "The idempotency key was used for another top-up", body = ErrorEnvelope),
        (status = 422, description = "Amount out of range, unknown pack, or bad idempotency key", body = ErrorEnvelope),
        (status = 503, description = "Billing is not configured, or Stripe did not answer", body = ErrorEnvelope)))]
pub async fn top_up_payment_intent(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<TopUpInput>,
) -> Result<ApiOk<TopUpIntent>, ApiError> {
    Ok(ApiOk(top_ups::create_payment_intent(&ctx, &caller.actor, &caller.org, &body).await?))
}

#[utoipa::path(post, path = "/webhooks/stripe", tag = "billing", security(()),
    description = "For Stripe, not API clients: events signed with the endpoint's secret (`Stripe-Signature`, 5-minute tolerance), at most 256 KB. Each event applies once; top-ups are credited once per PaymentIntent.",
    responses((status = 200, description = "Applied, or applied before"),
        (status = 400, description = "Bad or stale signature, or not an event", body = ErrorEnvelope),
        (status = 413, description = "Over 256 KB", body = ErrorEnvelope),
        (status = 503, description = "Billing is not configured, or Stripe did not answer (Stripe retries)", body = ErrorEnvelope)))]
pub async fn stripe_webhook(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    body: Body,
) -> Result<ApiOk<Received>, ApiError> {
    // Read here rather than by an extractor: this route's cap is its own.
    let payload = axum::body::to_bytes(body, webhooks::MAX_BODY).await.map_err(|_| {
        AppError::new(ErrorCode::PayloadTooLarge, format!("The event is over {} KB", webhooks::MAX_BODY / 1024))
    })?;
    let signature = headers.get("stripe-signature").and_then(|v| v.to_str().ok());
    webhooks::receive(&ctx, signature, &payload).await?;
    Ok(ApiOk(Received { received: true }))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Received {
    received: bool,
}
