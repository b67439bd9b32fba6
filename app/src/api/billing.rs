//! Billing for the dashboard: the billing page's data.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::support::*;
#[cfg(feature = "ssr")]
use crate::domain;
use crate::model::{AppError, BillingPageData, TopUpInput, TopUpIntent};
#[cfg(feature = "ssr")]
use crate::model::{PaymentsConfig, Role, SetBudgetInput};
use uuid::Uuid;

/// Days of usage the chart shows.
#[cfg(feature = "ssr")]
const CHART_DAYS: i64 = 30;

#[server(prefix = "/fn", endpoint = "get_billing_page")]
pub async fn get_billing_page(org: String) -> Result<BillingPageData, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = member_of(&ctx, &actor, &org).await?;
    let data = domain::billing::page_data(&ctx, org.id, CHART_DAYS).await?;
    let settings = &ctx.billing;
    let stripe = domain::billing::top_ups::stripe(&ctx).ok();
    // Invoices come from Stripe: when it does not answer, the rest of the
    // page still shows, with a note.
    let (invoices, invoices_error) = match stripe {
        Some(_) => match domain::billing::top_ups::invoices(&ctx, org.id).await {
            Ok(list) => (list, None),
            Err(err) => (Vec::new(), Some(err.message)),
        },
        None => (Vec::new(), None),
    };
    Ok(BillingPageData {
        summary: domain::billing::fresh_package(&ctx, org.id, data.summary.clone()).await?,
        usage: data.usage.clone(),
        recent: data.recent.clone(),
        payments: stripe.map(|s| PaymentsConfig {
            publishable_key: s.publishable_key.clone(),
            js_url: s.js_url.clone(),
            min_top_up_cents: settings.min_top_up_cents,
            max_top_up_cents: settings.max_top_up_cents,
        }),
        credit_packs: settings.credit_pack_views(),
        packages: settings.packages.iter().map(|p| settings.package_view(p)).collect(),
        invoices,
        invoices_error,
        may_manage: org.role >= Role::Admin,
    })
}

/// Starts a top-up for the billing page's Stripe Elements form.
#[server(prefix = "/fn", endpoint = "create_top_up")]
pub async fn create_top_up(org: String, input: TopUpInput) -> Result<TopUpIntent, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = domain::orgs::membership(&ctx.db, actor.user_id(), &org).await?;
    domain::billing::top_ups::create_payment_intent(&ctx, &actor, &org, &input).await
}

/// Sets or removes a budget (an org setting: step-up).
#[server(prefix = "/fn", endpoint = "set_budget")]
pub async fn set_budget(org: String, agent_id: Option<Uuid>, monthly_credits: String) -> Result<(), AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let input = SetBudgetInput { agent_id, monthly_credits: Some(monthly_credits).filter(|c| !c.trim().is_empty()) };
    domain::billing::budgets::set(&ctx, &actor, &org, &input).await?;
    Ok(())
}

/// Starts a Stripe Checkout subscription to a package; the browser goes
/// to the answered URL.
#[server(prefix = "/fn", endpoint = "start_checkout")]
pub async fn start_checkout(org: String, package_id: String) -> Result<String, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    domain::billing::top_ups::start_checkout(&ctx, &actor, &org, &package_id).await
}
