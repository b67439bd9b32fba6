//! Projects: where an org's agent sessions, canvas and files live. Create,
//! rename, re-slug, describe and delete them; the org's shared canvases.

use leptos::html;
use leptos::prelude::*;
use uuid::Uuid;

use crate::api::projects::{list_projects, CreateProject, DeleteProject, UpdateProject};
use crate::components::forms::{
    action_error, loaded, Field, FormError, BUTTON, BUTTON_DANGER, BUTTON_SECONDARY, CARD, INPUT,
};
use crate::components::layout::{use_org_slug, PageHeader};
use crate::components::resource::page_resource;
use crate::components::suspend::suspend;
use crate::components::time::UtcTime;
use crate::model::{AppError, ProjectView};
use crate::pages::canvas::SharedLinksSection;
use crate::pages::workspaces::WorkspacesSection;

/// Fields of the project forms whose errors are shown next to the field.
const PROJECT_FIELDS: &[&str] = &["name", "slug", "description"];

#[component]
pub fn ProjectsPage() -> impl IntoView {
    let slug = use_org_slug();
    let create = ServerAction::<CreateProject>::new();
    let update = ServerAction::<UpdateProject>::new();
    let delete = ServerAction::<DeleteProject>::new();

    // Edits reload the list only when they succeed: a refused edit keeps its
    // row as it is, form open and values typed, with the error beside them.
    let saved = RwSignal::new(0u32);
    Effect::new(move |_| {
        if update.value().with(|v| matches!(v, Some(Ok(_)))) {
            saved.update(|n| *n += 1);
        }
    });
    // The project of the last edit sent from this page (with JavaScript).
    let editing = RwSignal::new(None::<Uuid>);
    let update_input = update.input();
    Effect::new(move |_| {
        if let Some(id) = update_input.with(|i| i.as_ref().map(|i| i.id)) {
            editing.set(Some(id));
        }
    });

    let projects = page_resource(
        move || (slug.get(), create.version().get(), saved.get(), delete.version().get()),
        |(slug, ..)| list_projects(slug),
    );
    let create_error = action_error(create);
    let update_error = action_error(update);
    let delete_error = action_error(delete);
    // Without JavaScript the page does not know which row was edited: the
    // error goes above the list.
    let unplaced_update_error = Signal::derive(move || update_error.get().filter(|_| editing.get().is_none()));

    // After a project is created, empty the form for the next one.
    let form = NodeRef::<html::Form>::new();
    Effect::new(move |_| {
        if create.value().with(|v| matches!(v, Some(Ok(_)))) {
            if let Some(form) = form.get_untracked() {
                form.reset();
            }
        }
    });

    view! {
        <PageHeader title="Projects" intro="Where your agents' sessions, canvas and files live."/>
        <section class=CARD>
            <h2 class="text-base font-semibold text-slate-900">"Create a project"</h2>
            <ActionForm action=create node_ref=form attr:class="mt-4 space-y-4">
                <FormError error=create_error inline=PROJECT_FIELDS/>
                <input type="hidden" name="org" value=move || slug.get()/>
                <div class="grid gap-4 sm:grid-cols-2">
                    <Field label="Name" name="name" required=true error=create_error/>
                    <Field label="Slug" name="slug" hint="Leave empty to derive it from the name." error=create_error/>
                    <div class="sm:col-span-2">
                        <Field label="Description" name="description" error=create_error/>
                    </div>
                </div>
                <button type="submit" class=BUTTON>"Create project"</button>
            </ActionForm>
        </section>

        <section class=format!("{CARD} mt-6")>
            <h2 class="text-base font-semibold text-slate-900">"All projects"</h2>
            <div class="mt-3 space-y-2">
                <FormError error=unplaced_update_error/>
                <FormError error=delete_error/>
            </div>
            <Transition fallback=|| view! { <p class="mt-3 text-sm text-slate-600">"Loading…"</p> }>
                {move || suspend(async move {
                    loaded(projects.await, |page| {
                        if page.items.is_empty() {
                            return view! {
                                <div class="mt-3 rounded-md border border-dashed border-slate-300 p-6 text-center">
                                    <p class="font-medium text-slate-900">"No projects yet"</p>
                                    <p class="mx-auto mt-1 max-w-xl text-sm text-slate-700">
                                        "A project holds your agents' sessions, canvas blocks and files for one piece of work. Create your first one above."
                                    </p>
                                </div>
                            }
                            .into_any();
                        }
                        let more = page.has_more.then(|| view! {
                            <p class="mt-3 text-sm text-slate-600">
                                "Showing the newest "{page.items.len()}" projects; the API lists them all."
                            </p>
                        });
                        let items = page.items;
                        // Keyed rows: a deleted or edited project's row is
                        // rebuilt, never reused for a neighbour with its
                        // confirmation still open.
                        view! {
                            <ul class="mt-1 divide-y divide-slate-100">
                                <For
                                    each=move || items.clone()
                                    key=|p| (p.id, p.updated_at.clone())
                                    children=move |p| view! {
                                        <ProjectRow p=p update=update delete=delete editing=editing update_error=update_error/>
                                    }
                                />
                            </ul>
                            {more}
                        }
                        .into_any()
                    })
                })}
            </Transition>
        </section>
        <SharedLinksSection/>
        <WorkspacesSection/>
    }
}

#[component]
fn ProjectRow(
    p: ProjectView,
    update: ServerAction<UpdateProject>,
    delete: ServerAction<DeleteProject>,
    editing: RwSignal<Option<Uuid>>,
    update_error: Signal<Option<AppError>>,
) -> impl IntoView {
    let slug = use_org_slug();
    let id = p.id;
    let row_error = Signal::derive(move || update_error.get().filter(|_| editing.get() == Some(id)));
    let description = p.description.clone().filter(|d| !d.trim().is_empty());
    let confirm = format!("Confirm: delete {}", p.name);
    let name = p.name.clone();
    let form_name = p.name.clone();
    view! {
        <li class="py-4">
            <div class="flex flex-wrap items-baseline justify-between gap-x-4 gap-y-1">
                <h3 class="font-semibold text-slate-900">
                    <a href=format!("/{}/projects/{}", slug.get_untracked(), p.slug) class="hover:underline">{name.clone()}</a>
                </h3>
                <p class="text-sm text-slate-600">"Created "<UtcTime iso=p.created_at.clone()/></p>
            </div>
            <p class="mt-0.5 text-sm">
                <span class="sr-only">"Slug: "</span>
                <code class="font-mono text-slate-700">{p.slug.clone()}</code>
            </p>
            {match description {
                Some(d) => view! { <p class="mt-1 text-sm text-slate-800">{d}</p> }.into_any(),
                None => view! { <p class="mt-1 text-sm italic text-slate-600">"No description"</p> }.into_any(),
            }}
            <div class="mt-2 flex flex-wrap items-start gap-x-6 gap-y-2">
                <details class="open:basis-full">
                    <summary class="cursor-pointer rounded text-sm font-medium text-indigo-700 hover:underline focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-600">
                        "Edit"<span class="sr-only">" "{name.clone()}</span>
                    </summary>
                    <ActionForm action=update attr:class="mt-3 space-y-4 rounded-md border border-slate-200 bg-slate-50 p-4">
                        <FormError error=row_error inline=PROJECT_FIELDS/>
                        <input type="hidden" name="org" value=move || slug.get()/>
                        <input type="hidden" name="id" value=id.to_string()/>
                        <div class="grid gap-4 sm:grid-cols-2">
                        <RowField label="Name" name="name" project=form_name.clone() project_id=id value=p.name.clone() error=row_error required=true/>
                        <RowField label="Slug" name="slug" project=form_name.clone() project_id=id value=p.slug.clone() error=row_error required=true/>
                        <div class="sm:col-span-2">
                            <RowField
                                label="Description"
                                name="description"
                                project=form_name.clone()
                                project_id=id
                                value=p.description.clone().unwrap_or_default()
                                error=row_error
                            />
                        </div>
                        </div>
                        <button type="submit" class=BUTTON_SECONDARY>"Save changes"</button>
                    </ActionForm>
                </details>
                <details>
                    <summary class="cursor-pointer rounded text-sm font-medium text-red-700 hover:underline focus:outline-none focus-visible:ring-2 focus-visible:ring-red-600">
                        "Delete"<span class="sr-only">" "{name.clone()}</span>
                    </summary>
                    <ActionForm action=delete attr:class="mt-2">
                        <input type="hidden" name="org" value=move || slug.get()/>
                        <input type="hidden" name="id" value=id.to_string()/>
                        <p class="mb-2 text-sm text-slate-700">"The project and what it holds leave this organization's lists."</p>
                        <button type="submit" class=BUTTON_DANGER>{confirm}</button>
                    </ActionForm>
                </details>
            </div>
        </li>
    }
}

/// An input of a row's edit form. Its id is unique per row, and its label
/// names the project for screen readers ("Name of Website Redesign").
#[component]
fn RowField(
    label: &'static str,
    name: &'static str,
    project: String,
    project_id: Uuid,
    #[prop(into)] value: String,
    error: Signal<Option<AppError>>,
    #[prop(optional)] required: bool,
) -> impl IntoView {
    let id = format!("project-{name}-{project_id}");
    let err_id = format!("{id}-error");
    let field_error = move || error.get().filter(|e| e.field() == Some(name)).map(|e| e.message);
    let invalid = move || field_error().is_some().then_some("true");
    let described = {
        let err_id = err_id.clone();
        move || field_error().is_some().then(|| err_id.clone())
    };
    view! {
        <div>
            <label for=id.clone() class="block text-sm font-medium text-slate-800">
                {label}<span class="sr-only">" of "{project}</span>
            </label>
            <input
                id=id
                name=name
                type="text"
                value=value
                required=required
                aria-invalid=invalid
                aria-describedby=described
                class=INPUT
            />
            {move || field_error().map(|m| view! { <p id=err_id.clone() role="alert" class="mt-1 text-sm text-red-700">{m}</p> })}
        </div>
    }
}
