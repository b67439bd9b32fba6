//! What a 402 looks like anywhere in the dashboard: a card that says why
//! the work was refused and leads to "Buy credits" on the billing page.

use leptos::prelude::*;

use super::layout::use_org_slug;
use crate::model::{AppError, ErrorCode};

pub fn is_payment_required(error: &AppError) -> bool {
    error.code == ErrorCode::PaymentRequired
}

/// The refusal's reason (`no_credits`, `package_blocks`,
/// `budget_exhausted`), for the card's heading.
fn heading(error: &AppError) -> &'static str {
    match error.details.as_ref().and_then(|d| d["reason"].as_str()) {
        Some("budget_exhausted") => "Budget used up",
        Some("package_blocks") => "Not included in your package",
        _ => "Out of credits",
    }
}

#[component]
pub fn BillingCard(error: AppError) -> impl IntoView {
    let slug = use_org_slug();
    let title = heading(&error);
    view! {
        <div role="alert" data-testid="billing-card" class="rounded-lg border border-amber-300 bg-amber-50 p-4 text-sm text-amber-950">
            <p class="font-semibold">{title}</p>
            <p class="mt-1">{error.message}</p>
            {move || {
                let slug = slug.get();
                (!slug.is_empty()).then(|| view! {
                    <a href=format!("/{slug}/billing#buy") class="mt-3 inline-flex items-center rounded-md bg-amber-700 px-3 py-1.5 font-semibold text-white hover:bg-amber-800 focus:outline-none focus-visible:ring-2 focus-visible:ring-amber-600">
                        "Buy credits"
                    </a>
                })
            }}
        </div>
    }
}
