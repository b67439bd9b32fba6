//! The workspaces section (shown on the Projects page): where the org's
//! agents run. Creating and deleting need a browser session.

use leptos::prelude::*;

use crate::api::workspaces::{list_workspaces, CreateWorkspace, DeleteWorkspace};
use crate::components::forms::{action_error, loaded, Field, FormError, BUTTON, BUTTON_DANGER, CARD};
use crate::components::layout::use_org_slug;
use crate::components::resource::page_resource;
use crate::components::suspend::suspend;

#[component]
pub fn WorkspacesSection() -> impl IntoView {
    let slug = use_org_slug();
    let create = ServerAction::<CreateWorkspace>::new();
    let delete = ServerAction::<DeleteWorkspace>::new();
    let list = page_resource(
        move || (slug.get(), create.version().get(), delete.version().get()),
        |(slug, ..)| list_workspaces(slug),
    );
    let create_error = action_error(create);
    let delete_error = action_error(delete);
    view! {
        <section class=format!("{CARD} mt-8") aria-labelledby="workspaces-heading">
            <h2 id="workspaces-heading" class="text-base font-semibold text-slate-900">"Workspaces"</h2>
            <p class="mt-1 text-sm text-slate-700">
                "Where your agents run. Schedules bind an agent to a workspace; API keys can list workspaces but only a signed-in browser can create or delete them."
            </p>
            <ActionForm action=create attr:class="mt-4 grid gap-3 sm:grid-cols-[1fr_2fr_auto] sm:items-end">
                <input type="hidden" name="org" value=move || slug.get()/>
                <Field label="Workspace name" name="name" required=true error=create_error/>
                <Field label="Workspace description" name="description" error=create_error/>
                <button type="submit" class=BUTTON>"Create workspace"</button>
            </ActionForm>
            <div class="mt-3 space-y-2">
                <FormError error=create_error inline=&["name", "description"]/>
                <FormError error=delete_error/>
            </div>
            <Suspense fallback=|| view! { <p class="mt-4 text-sm text-slate-600">"Loading…"</p> }>
                {move || suspend(async move {
                    loaded(list.await, |page| {
                        if page.items.is_empty() {
                            return view! { <p class="mt-4 text-sm text-slate-600">"No workspaces yet."</p> }.into_any();
                        }
                        view! {
                            <ul class="mt-4 divide-y divide-slate-100">
                                {page.items.into_iter().map(|w| {
                                    let id = w.id.to_string();
                                    let name = w.name.clone();
                                    view! {
                                        <li class="flex flex-wrap items-center justify-between gap-3 py-3">
                                            <div>
                                                <p class="font-medium text-slate-900">{w.name.clone()}</p>
                                                {w.description.clone().map(|d| view! { <p class="text-sm text-slate-700">{d}</p> })}
                                            </div>
                                            <details>
                                                <summary class="cursor-pointer text-sm text-red-700 hover:underline">"Delete"</summary>
                                                <ActionForm action=delete attr:class="mt-2">
                                                    <input type="hidden" name="org" value=move || slug.get()/>
                                                    <input type="hidden" name="id" value=id.clone()/>
                                                    <button type="submit" class=BUTTON_DANGER>{format!("Confirm: delete {name}")}</button>
                                                </ActionForm>
                                            </details>
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any()
                    })
                })}
            </Suspense>
        </section>
    }
}
