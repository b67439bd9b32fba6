use leptos::prelude::*;

use crate::components::layout::{ComingSoon, PageHeader};

#[component]
pub fn BillingPage() -> impl IntoView {
    view! {
        <PageHeader title="Billing" intro="Credits, usage, package and invoices."/>
        <ComingSoon what="Your credit balance by bucket, usage over the last 30 days, your package and budgets, top-ups and invoices will show here." how="Billing arrives in a coming release. Until then the organization is not metered."/>
    }
}
