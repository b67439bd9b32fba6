//! Home, organization creation and the org overview.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;

use crate::api::accounts::home_target;
use crate::api::orgs::{get_org_overview, whoami, CreateOrg};
use crate::components::forms::{action_error, loaded, Field, FormError, BUTTON, CARD};
use crate::components::layout::{use_org_slug, PageHeader};
use crate::components::numbers::format_credits;
use crate::components::resource::page_resource;
use crate::components::suspend::suspend;
use crate::components::time::UtcTime;

/// `/`: the visitor's first org, the create-org page, or sign-in.
#[component]
pub fn HomePage() -> impl IntoView {
    let target = page_resource(|| (), |_| home_target());
    view! {
        <Title text="Alumia"/>
        <Suspense>
            {move || suspend(async move {
                let path = target.await.unwrap_or_else(|_| "/login".to_string());
                view! { <Redirect path=path/> }
            })}
        </Suspense>
    }
}

#[component]
pub fn NewOrgPage() -> impl IntoView {
    let action = ServerAction::<CreateOrg>::new();
    let error = action_error(action);
    let me = page_resource(|| (), |_| whoami());
    view! {
        <Title text="Create an organization · Alumia"/>
        <Suspense>
            {move || suspend(async move {
                matches!(me.await, Ok(None)).then(|| view! { <Redirect path="/login?next=/new"/> })
            })}
        </Suspense>
        <main class="flex min-h-screen items-center justify-center bg-slate-50 px-4 py-12">
            <div class="w-full max-w-md">
                <p class="mb-6 text-center text-xl font-bold tracking-tight text-indigo-800">"Alumia"</p>
                <div class=CARD>
                    <h1 class="text-xl font-bold text-slate-900">"Create an organization"</h1>
                    <p class="mt-1 mb-6 text-sm text-slate-700">
                        "Your agents, keys and billing live in an organization. You can invite your team next."
                    </p>
                    <ActionForm action=action attr:class="space-y-4">
                        <FormError error=error inline=&["name", "slug"]/>
                        <Field label="Organization name" name="name" required=true error=error/>
                        <Field
                            label="Slug"
                            name="slug"
                            hint="Your dashboard address: 3–40 lowercase letters, digits or dashes. Leave empty to derive it from the name."
                            error=error
                        />
                        <button type="submit" class=format!("{BUTTON} w-full")>"Create organization"</button>
                    </ActionForm>
                </div>
            </div>
        </main>
    }
}

/// "12 runs in the last 30 days, 1 going on now".
fn runs_line(last_30_days: i64, running: i64) -> String {
    let runs = match last_30_days {
        1 => "1 run in the last 30 days".to_string(),
        n => format!("{n} runs in the last 30 days"),
    };
    if running > 0 {
        format!("{runs}, {running} going on now")
    } else {
        runs
    }
}

#[component]
pub fn OverviewPage() -> impl IntoView {
    let slug = use_org_slug();
    let overview = page_resource(move || slug.get(), get_org_overview);
    view! {
        <PageHeader title="Overview" intro="A snapshot of this organization."/>
        <Suspense fallback=|| view! { <p class="text-slate-600">"Loading…"</p> }>
            {move || suspend(async move {
                loaded(overview.await, |o| {
                    let members = o.member_count;
                    view! {
                        <div class="grid gap-4 sm:grid-cols-3">
                            <div class=CARD>
                                <p class="text-sm text-slate-600">"Members"</p>
                                <p class="mt-1 text-2xl font-semibold text-slate-900">{members}</p>
                            </div>
                            <a href=format!("/{}/agents", slug.get_untracked()) class=format!("{CARD} block hover:border-indigo-300")>
                                <p class="text-sm text-slate-600">"Agents"</p>
                                <p class="mt-1 text-2xl font-semibold text-slate-900" data-testid="overview-agents">{o.agent_count}</p>
                                <p class="mt-1 text-sm text-slate-700" data-testid="overview-runs">
                                    {runs_line(o.runs_last_30_days, o.runs_running)}
                                </p>
                                <p class="mt-2 text-sm font-medium text-indigo-700">"Agents →"</p>
                            </a>
                            <a href=format!("/{}/billing", slug.get_untracked()) class=format!("{CARD} block hover:border-indigo-300")>
                                <p class="text-sm text-slate-600">"Credits"</p>
                                {if o.metered {
                                    view! {
                                        <p class="mt-1 text-2xl font-semibold text-slate-900" data-testid="overview-credits">
                                            {format_credits(&o.balance.credits)}
                                        </p>
                                        <p class="mt-1 text-sm text-slate-700">{format!("{} package", o.package_name)}</p>
                                    }.into_any()
                                } else {
                                    view! { <p class="mt-1 text-sm text-slate-700">"Unmetered: this server does not count credits."</p> }.into_any()
                                }}
                                <p class="mt-2 text-sm font-medium text-indigo-700">"Billing →"</p>
                            </a>
                        </div>
                        <section class=format!("{CARD} mt-6")>
                            <h2 class="text-base font-semibold text-slate-900">"Recent activity"</h2>
                            {if o.recent_activity.is_empty() {
                                view! { <p class="mt-2 text-sm text-slate-600">"No activity yet."</p> }.into_any()
                            } else {
                                view! {
                                    <ul class="mt-3 divide-y divide-slate-100">
                                        {o.recent_activity
                                            .into_iter()
                                            .map(|a| view! {
                                                <li class="flex justify-between gap-4 py-2 text-sm">
                                                    <span class="text-slate-800">
                                                        <code class="rounded bg-slate-100 px-1 text-xs">{a.action}</code>
                                                        " by "
                                                        {a.actor_email.unwrap_or_else(|| "system".into())}
                                                    </span>
                                                    <span class="text-slate-600"><UtcTime iso=a.created_at.clone()/></span>
                                                </li>
                                            })
                                            .collect_view()}
                                    </ul>
                                }.into_any()
                            }}
                        </section>
                    }
                })
            })}
        </Suspense>
    }
}
