use leptos::prelude::*;

use crate::components::layout::{ComingSoon, PageHeader};

#[component]
pub fn AgentsPage() -> impl IntoView {
    view! {
        <PageHeader title="Agents" intro="The AI agents of this organization."/>
        <ComingSoon what="Agents run your prompts with a model, tools and skills. Each agent will have a model, a system prompt, enabled skills and tool restrictions." how="Agents arrive in a coming release; you will create them here and over /api/v1."/>
    }
}
