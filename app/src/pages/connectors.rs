use leptos::prelude::*;

use crate::components::layout::{ComingSoon, PageHeader};

#[component]
pub fn ConnectorsPage() -> impl IntoView {
    view! {
        <PageHeader title="Connectors" intro="OAuth connections your agents use."/>
        <ComingSoon what="OAuth connections to the services your agents use (with their granted scopes and status) will be listed here." how="Connectors arrive in a coming release; you will connect a provider and reconnect it here."/>
    }
}
