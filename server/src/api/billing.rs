//! `/api/v1/billing`: the caller's org's credits and their ledger.

use axum::extract::State;

use app::domain::paging::PageRequest;
use app::domain::{billing, Ctx};
use app::model::{BillingSummary, LedgerEntryView, Page};

use super::envelope::{ApiError, ApiOk};
use super::extract::ApiQuery;
use super::projects::ListParams;
use crate::auth::ApiCaller;
use crate::openapi::{Envelope, ErrorEnvelope};

#[utoipa::path(get, path = "/billing", tag = "billing",
    description = "Spendable credits by bucket: the monthly grant first (it is spent first and expires), then purchases, oldest first. `credits` is a decimal string; `creditMicrounits` the exact integer (1 credit = 1,000,000).",
    responses((status = 200, description = "Balance and buckets", body = Envelope<BillingSummary>),
        (status = 401, description = "Missing, malformed, unknown or revoked key", body = ErrorEnvelope)))]
pub async fn summary(State(ctx): State<Ctx>, caller: ApiCaller) -> Result<ApiOk<BillingSummary>, ApiError> {
    Ok(ApiOk(billing::summary(&ctx, caller.org.id).await?))
}

#[utoipa::path(get, path = "/billing/ledger", tag = "billing",
    description = "Every change to the org's credits, newest first: grant, top_up, usage, refund, adjustment, expiry. `amount` is signed.",
    params(("limit" = Option<i64>, Query, description = "1–100, default 20"), ("cursor" = Option<String>, Query, description = "nextCursor of the previous page")),
    responses((status = 200, description = "A page of ledger entries", body = Envelope<Page<LedgerEntryView>>),
        (status = 400, description = "Bad cursor", body = ErrorEnvelope), (status = 422, description = "limit out of range", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, unknown or revoked key", body = ErrorEnvelope)))]
pub async fn ledger(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<ApiOk<Page<LedgerEntryView>>, ApiError> {
    let page = PageRequest::parse(params.limit, params.cursor.as_deref())?;
    Ok(ApiOk(billing::ledger(&ctx, caller.org.id, page).await?))
}
