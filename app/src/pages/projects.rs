use leptos::prelude::*;

use crate::components::layout::{ComingSoon, PageHeader};

#[component]
pub fn ProjectsPage() -> impl IntoView {
    view! {
        <PageHeader title="Projects" intro="Where your agents' sessions, canvas and files live."/>
        <ComingSoon what="Projects group your agents' sessions, canvas blocks and files." how="Project management arrives with the /api/v1 release; you will create, edit and delete projects here."/>
    }
}
