use leptos::prelude::*;

use crate::components::layout::{ComingSoon, PageHeader};

#[component]
pub fn DevelopersPage() -> impl IntoView {
    view! {
        <PageHeader title="Developers" intro="API keys for /api/v1."/>
        <ComingSoon what="API keys for /api/v1 (name, prefix, scopes, created and last used) will be listed and minted here; a new key is shown once." how="API keys arrive with the /api/v1 release."/>
    }
}
