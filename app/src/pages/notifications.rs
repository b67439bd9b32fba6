use leptos::prelude::*;

use crate::components::layout::{ComingSoon, PageHeader};

#[component]
pub fn NotificationsPage() -> impl IntoView {
    view! {
        <PageHeader title="Notifications" intro="What needs your attention."/>
        <ComingSoon what="Schedule failures, connector problems, low credits and approval requests will be listed here, newest first." how="Notifications arrive in a coming release."/>
    }
}
