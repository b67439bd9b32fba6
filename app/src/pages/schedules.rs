use leptos::prelude::*;

use crate::components::layout::{ComingSoon, PageHeader};

#[component]
pub fn SchedulesPage() -> impl IntoView {
    view! {
        <PageHeader title="Schedules" intro="Prompts that run on a cron schedule."/>
        <ComingSoon what="Cron schedules that start an agent with a prompt, with their next run and run history, will be listed here." how="Schedules arrive in a coming release."/>
    }
}
