use leptos::prelude::*;

use crate::components::layout::{ComingSoon, PageHeader};

#[component]
pub fn SkillsPage() -> impl IntoView {
    view! {
        <PageHeader title="Skills" intro="Tool bundles you can enable per agent."/>
        <ComingSoon what="The catalog of skills you can enable per agent, each bundling a set of tools, will be listed here." how="Skills arrive in a coming release."/>
    }
}
