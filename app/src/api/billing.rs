//! Billing for the dashboard: the billing page's data.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::support::*;
#[cfg(feature = "ssr")]
use crate::domain;
use crate::model::{AppError, BillingPageData};

/// Days of usage the chart shows.
#[cfg(feature = "ssr")]
const CHART_DAYS: i64 = 30;

#[server(prefix = "/fn", endpoint = "get_billing_page")]
pub async fn get_billing_page(org: String) -> Result<BillingPageData, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = domain::orgs::membership(&ctx.db, actor.user_id(), &org).await?;
    let recent = domain::billing::ledger(&ctx, org.id, domain::paging::PageRequest::parse(Some(10), None)?).await?;
    Ok(BillingPageData {
        summary: domain::billing::summary(&ctx, org.id).await?,
        usage: domain::billing::daily_usage(&ctx, org.id, CHART_DAYS).await?,
        recent: recent.items,
        // Stripe top-ups are the next step of billing; until then credits
        // come from operators (`alumia admin grant-credits`).
        payments_configured: false,
    })
}
