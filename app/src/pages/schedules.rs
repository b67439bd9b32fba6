//! Schedules (SPEC §11): prompts an agent runs at the times of a cron
//! expression in a time zone. Create one with a live preview of its next
//! times, edit, enable or disable, run now, delete; `?schedule=<id>` shows
//! a schedule's history with links to the sessions its runs opened.

use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_query_map;
use uuid::Uuid;

use crate::api::schedules::{
    list_schedules, preview_schedule, schedule_history, schedule_pickers, CreateSchedule, DeleteSchedule,
    RunScheduleNow, SetScheduleEnabled, UpdateSchedule,
};
use crate::components::forms::{action_error, loaded, FormError, BUTTON, BUTTON_DANGER, BUTTON_SECONDARY, CARD, INPUT};
use crate::components::layout::{use_org_slug, NotificationsChanged, PageHeader};
use crate::components::resource::{page_resource, PageResource};
use crate::components::suspend::suspend;
use crate::components::time::UtcTime;
use crate::model::{AppError, Page, PickerItem, PickerLists, SchedulePreview, ScheduleRunView, ScheduleView};

/// What a new schedule's expression starts as.
const DEFAULT_CRON: &str = "0 9 * * 1-5";
/// Fields whose errors show beside them.
const FIELDS: &[&str] = &["name", "cron", "timezone", "prompt", "missedRuns", "maxDurationSeconds"];
/// Zones offered as you type (any IANA name is accepted).
const ZONES: &[&str] = &[
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Paris",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
];

#[component]
pub fn SchedulesPage() -> impl IntoView {
    let slug = use_org_slug();
    let query = use_query_map();
    let selected = Signal::derive(move || query.read().get("schedule").and_then(|s| s.parse::<Uuid>().ok()));
    let create = ServerAction::<CreateSchedule>::new();
    let update = ServerAction::<UpdateSchedule>::new();
    let toggle = ServerAction::<SetScheduleEnabled>::new();
    let run = ServerAction::<RunScheduleNow>::new();
    let delete = ServerAction::<DeleteSchedule>::new();
    // A notification (a firing failed) is news for the list's last runs.
    let changed = use_context::<NotificationsChanged>().map(|c| c.0);
    // Bumped by the history when a run it watched ended.
    let refresh = RwSignal::new(0u32);
    // The list reloads on every change; the create form lives apart from
    // it (its own load, of what it picks from), so a reload never wipes
    // what is being typed there.
    let list = page_resource(
        move || {
            let versions =
                (create.version().get(), update.version().get(), toggle.version().get(), run.version().get());
            (slug.get(), versions, delete.version().get(), changed.map(|c| c.get()), refresh.get())
        },
        |(slug, ..)| list_schedules(slug),
    );
    let pickers = page_resource(move || slug.get(), schedule_pickers);
    // The selected schedule's firings. Made here, not in the panel: a
    // resource made inside a `Suspend` takes its id in the order the
    // server resolved things, which the browser's hydration need not
    // follow. `tick` looks again while a run is in progress.
    let tick = RwSignal::new(0u32);
    let history = page_resource(
        move || (slug.get(), selected.get(), run.version().get(), tick.get()),
        |(slug, id, ..)| async move {
            match id {
                Some(id) => schedule_history(slug, id).await.map(Some),
                None => Ok(None),
            }
        },
    );
    let draft = (RwSignal::new(DEFAULT_CRON.to_string()), RwSignal::new("UTC".to_string()));
    let create_error = action_error(create);
    let update_error = action_error(update);
    let row_errors = [action_error(toggle), action_error(run), action_error(delete)];
    // After a schedule is created, an empty form for the next one.
    let form = NodeRef::<html::Form>::new();
    Effect::new(move |_| {
        if create.value().with(|v| matches!(v, Some(Ok(_)))) {
            if let Some(form) = form.get_untracked() {
                form.reset();
            }
            draft.0.set(DEFAULT_CRON.to_string());
            draft.1.set("UTC".to_string());
        }
    });

    view! {
        <PageHeader title="Schedules" intro="Prompts an agent runs on a cron schedule, in the time zone you pick."/>
        <Transition fallback=|| ()>
            {move || suspend(async move {
                let id = selected.get()?;
                let (list, pickers) = (list.await.ok()?, pickers.await.ok()?);
                let found = list.items.iter().find(|s| s.id == id).cloned();
                Some(view! { <HistoryPanel schedule=found projects=pickers.projects history=history tick=tick refresh=refresh/> })
            })}
        </Transition>
        <section class=CARD aria-labelledby="create-schedule">
            <h2 id="create-schedule" class="text-base font-semibold text-slate-900">"Create a schedule"</h2>
            <Transition fallback=|| view! { <p class="mt-3 text-sm text-slate-600">"Loading…"</p> }>
                {move || suspend(async move {
                    loaded(pickers.await, move |p: PickerLists| {
                        if p.agents.is_empty() || p.projects.is_empty() {
                            return view! {
                                <p class="mt-2 text-sm text-slate-700">
                                    "A schedule runs an agent in a project: create "
                                    <a href=format!("/{}/agents", slug.get_untracked()) class="font-medium text-indigo-700 hover:underline">"an agent"</a>
                                    " and "
                                    <a href=format!("/{}/projects", slug.get_untracked()) class="font-medium text-indigo-700 hover:underline">"a project"</a>
                                    " first."
                                </p>
                            }
                            .into_any();
                        }
                        let pickers = (p.agents, p.projects, p.workspaces);
                        view! {
                            <ActionForm action=create node_ref=form attr:class="mt-4 space-y-4">
                                <FormError error=create_error inline=FIELDS/>
                                <input type="hidden" name="org" value=move || slug.get()/>
                                <ScheduleFields prefix="new" current=None draft=Some(draft) pickers=pickers error=create_error active=Signal::stored(true)/>
                                <label class="flex items-center gap-2 text-sm text-slate-800">
                                    <input type="checkbox" name="enabled" checked=true class="h-4 w-4 rounded border-slate-300"/>
                                    "Enabled: fire at the times above"
                                </label>
                                <button type="submit" class=BUTTON>"Create schedule"</button>
                            </ActionForm>
                        }
                        .into_any()
                    })
                })}
            </Transition>
        </section>
        <section class=format!("{CARD} mt-6") aria-labelledby="all-schedules">
            <h2 id="all-schedules" class="text-base font-semibold text-slate-900">"All schedules"</h2>
            <div class="mt-3 space-y-2">
                {row_errors.map(|e| view! { <FormError error=e/> }).collect_view()}
            </div>
            <Transition fallback=|| view! { <p class="mt-3 text-sm text-slate-600">"Loading…"</p> }>
                {move || suspend(async move {
                    let pickers = match pickers.await {
                        Ok(p) => (p.agents, p.projects, p.workspaces),
                        Err(e) => return loaded(Err::<(), _>(e), |_| ()),
                    };
                    loaded(list.await, move |page| view! {
                        <ScheduleList page=page pickers=pickers update=update update_error=update_error toggle=toggle run=run delete=delete/>
                    })
                })}
            </Transition>
        </section>
    }
}

type Pickers = (Vec<PickerItem>, Vec<PickerItem>, Vec<PickerItem>);

#[component]
fn ScheduleList(
    page: Page<ScheduleView>,
    pickers: Pickers,
    update: ServerAction<UpdateSchedule>,
    update_error: Signal<Option<AppError>>,
    toggle: ServerAction<SetScheduleEnabled>,
    run: ServerAction<RunScheduleNow>,
    delete: ServerAction<DeleteSchedule>,
) -> impl IntoView {
    if page.items.is_empty() {
        return view! {
            <div class="mt-3 rounded-md border border-dashed border-slate-300 p-6 text-center">
                <p class="font-medium text-slate-900">"No schedules yet"</p>
                <p class="mx-auto mt-1 max-w-xl text-sm text-slate-700">
                    "A schedule starts a new session of its agent at each time, with its prompt: a morning digest, a weekly report, a nightly check."
                </p>
            </div>
        }
        .into_any();
    }
    let agents = pickers.0.clone();
    let items = page.items;
    view! {
        <ul class="mt-1 divide-y divide-slate-100">
            <For
                each=move || items.clone()
                key=|s| (s.id, s.updated_at.clone(), s.last_run.as_ref().map(|r| (r.id, r.status.clone())))
                children=move |s| {
                    let agent = agents.iter().find(|a| a.id == s.agent_id).map(|a| a.name.clone());
                    view! {
                        <ScheduleRow s=s agent=agent pickers=pickers.clone() update=update update_error=update_error toggle=toggle run=run delete=delete/>
                    }
                }
            />
        </ul>
    }
    .into_any()
}

#[component]
fn ScheduleRow(
    s: ScheduleView,
    agent: Option<String>,
    pickers: Pickers,
    update: ServerAction<UpdateSchedule>,
    update_error: Signal<Option<AppError>>,
    toggle: ServerAction<SetScheduleEnabled>,
    run: ServerAction<RunScheduleNow>,
    delete: ServerAction<DeleteSchedule>,
) -> impl IntoView {
    let slug = use_org_slug();
    let id = s.id;
    let name = s.name.clone();
    // Each form's children are a closure of their own.
    let (run_name, toggle_name, edit_name, delete_name) = (name.clone(), name.clone(), name.clone(), name.clone());
    let editing = Signal::derive(move || update.input().with(|i| i.as_ref().map(|i| i.id)) == Some(id));
    let row_error = Signal::derive(move || update_error.get().filter(|_| editing.get()));
    let next = match (&s.next_run_at, &s.next_run_local) {
        (Some(utc), local) => view! {
            <span>"Next: "{local.clone().unwrap_or_default()}" · "<UtcTime iso=utc.clone()/></span>
        }
        .into_any(),
        (None, _) if !s.enabled => view! { <span>"Disabled: no next run"</span> }.into_any(),
        (None, _) => view! { <span>"No time matches this expression"</span> }.into_any(),
    };
    let last = s.last_run.clone().map(|r| view! { <span>"Last run: "<StatusBadge status=r.status/></span> });
    // The edit form previews its times only while it is open.
    let edit = NodeRef::<html::Details>::new();
    let edit_open = RwSignal::new(false);
    view! {
        <li class="py-4" data-testid="schedule">
            <div class="flex flex-wrap items-baseline justify-between gap-x-4 gap-y-1">
                <h3 class="font-semibold text-slate-900">
                    <a href=format!("?schedule={id}") class="hover:underline">{name.clone()}</a>
                    {(!s.enabled).then(|| view! { <span class="ml-2 rounded bg-slate-100 px-1.5 py-0.5 text-xs font-medium text-slate-700">"Disabled"</span> })}
                </h3>
                <p class="text-sm text-slate-600">{agent.map(|a| format!("Agent: {a}"))}</p>
            </div>
            <p class="mt-0.5 text-sm text-slate-800" data-testid="cron-description">{s.description.clone()}</p>
            <p class="mt-0.5 text-xs text-slate-600"><code class="font-mono">{s.cron.clone()}</code></p>
            <p class="mt-1 flex flex-wrap gap-x-6 text-sm text-slate-700">{next}{last}</p>
            <div class="mt-2 flex flex-wrap items-start gap-x-4 gap-y-2">
                <ActionForm action=run>
                    <input type="hidden" name="org" value=move || slug.get()/>
                    <input type="hidden" name="id" value=id.to_string()/>
                    <button type="submit" class=BUTTON_SECONDARY>"Run now"<span class="sr-only">" "{run_name.clone()}</span></button>
                </ActionForm>
                <ActionForm action=toggle>
                    <input type="hidden" name="org" value=move || slug.get()/>
                    <input type="hidden" name="id" value=id.to_string()/>
                    <input type="hidden" name="enabled" value=(!s.enabled).to_string()/>
                    <button type="submit" class=BUTTON_SECONDARY>
                        {if s.enabled { "Disable" } else { "Enable" }}<span class="sr-only">" "{toggle_name.clone()}</span>
                    </button>
                </ActionForm>
                <a href=format!("?schedule={id}") class="self-center text-sm font-medium text-indigo-700 hover:underline">
                    "History"<span class="sr-only">" of "{name.clone()}</span>
                </a>
                <details class="self-center open:basis-full" node_ref=edit
                    on:toggle=move |_| edit_open.set(edit.get_untracked().is_some_and(|d| d.open()))>
                    <summary class="cursor-pointer text-sm font-medium text-indigo-700 hover:underline">
                        "Edit"<span class="sr-only">" "{edit_name}</span>
                    </summary>
                    <ActionForm action=update attr:class="mt-3 space-y-4 rounded-md border border-slate-200 bg-slate-50 p-4">
                        <FormError error=row_error inline=FIELDS/>
                        <input type="hidden" name="org" value=move || slug.get()/>
                        <input type="hidden" name="id" value=id.to_string()/>
                        <ScheduleFields prefix="edit" current=Some(s.clone()) draft=None pickers=pickers error=row_error active=edit_open.into()/>
                        <button type="submit" class=BUTTON_SECONDARY>"Save changes"</button>
                    </ActionForm>
                </details>
                <details class="self-center">
                    <summary class="cursor-pointer text-sm font-medium text-red-700 hover:underline">
                        "Delete"<span class="sr-only">" "{name.clone()}</span>
                    </summary>
                    <ActionForm action=delete attr:class="mt-2">
                        <input type="hidden" name="org" value=move || slug.get()/>
                        <input type="hidden" name="id" value=id.to_string()/>
                        <p class="mb-2 text-sm text-slate-700">"It stops firing at once; its history stays."</p>
                        <button type="submit" class=BUTTON_DANGER>{format!("Confirm: delete {delete_name}")}</button>
                    </ActionForm>
                </details>
            </div>
        </li>
    }
}

/// The fields of the create and edit forms, with the live preview of the
/// next five times as the expression and zone are typed. `draft` holds
/// the expression and zone when the caller keeps them (the create form);
/// an edit form starts from the schedule's. The preview loads while
/// `active` (a closed edit form asks nothing).
#[component]
fn ScheduleFields(
    prefix: &'static str,
    current: Option<ScheduleView>,
    draft: Option<(RwSignal<String>, RwSignal<String>)>,
    pickers: Pickers,
    error: Signal<Option<AppError>>,
    active: Signal<bool>,
) -> impl IntoView {
    let slug = use_org_slug();
    let key = current.as_ref().map_or_else(|| prefix.to_string(), |c| format!("{prefix}-{}", c.id));
    let id = move |name: &str| format!("{key}-{name}");
    let (cron, zone) = draft.unwrap_or_else(|| {
        let c = current.as_ref();
        (
            RwSignal::new(c.map_or_else(|| DEFAULT_CRON.to_string(), |c| c.cron.clone())),
            RwSignal::new(c.map_or_else(|| "UTC".to_string(), |c| c.timezone.clone())),
        )
    });
    // Asked by the browser only, after hydration (an effect), and kept in
    // a signal rather than a resource: a resource made inside the page's
    // `Suspend`s takes its hydration id in the order the server resolved
    // them, and each row's closed edit form would cost the server a
    // preview. `asked` drops an answer overtaken by a later keystroke.
    let preview = RwSignal::new(None::<Result<SchedulePreview, AppError>>);
    let asked = StoredValue::new(0u64);
    Effect::new(move |_| {
        if !active.get() {
            return;
        }
        let (slug, cron, zone) = (slug.get(), cron.get(), zone.get());
        let n = asked.get_value() + 1;
        asked.set_value(n);
        spawn_local(async move {
            let answer = preview_schedule(slug, cron, zone).await;
            if asked.try_get_value() == Some(n) {
                preview.try_set(Some(answer));
            }
        });
    });
    let (agents, projects, workspaces) = pickers;
    let pick = |items: Vec<PickerItem>, chosen: Option<Uuid>| {
        items
            .into_iter()
            .map(|i| view! { <option value=i.id.to_string() selected=chosen == Some(i.id)>{i.name}</option> })
            .collect_view()
    };
    let c = current.clone();
    let text = move |f: fn(&ScheduleView) -> String, default: &str| c.as_ref().map_or_else(|| default.to_string(), f);
    let zones_id = id("zones");
    view! {
        <div class="grid gap-4 sm:grid-cols-2">
            <LabeledInput id=id("name") label="Name" name="name" value=text(|s| s.name.clone(), "") error=error/>
            <div>
                <label for=id("agent") class="block text-sm font-medium text-slate-800">"Agent"</label>
                <select id=id("agent") name="agent_id" class=INPUT>{pick(agents, current.as_ref().map(|c| c.agent_id))}</select>
            </div>
            <div>
                <label for=id("cron") class="block text-sm font-medium text-slate-800">"When (cron)"</label>
                <input id=id("cron") name="cron" type="text" required=true class=format!("{INPUT} font-mono")
                    prop:value=move || cron.get() on:input=move |ev| cron.set(event_target_value(&ev))
                    aria-describedby=id("cron-hint")/>
                <p id=id("cron-hint") class="mt-1 text-xs text-slate-600">
                    "Minute, hour, day of month, month, day of week — or @hourly, @daily, @weekly, @monthly."
                </p>
                <FieldError name="cron" error=error/>
            </div>
            <div>
                <label for=id("timezone") class="block text-sm font-medium text-slate-800">"Time zone"</label>
                <input id=id("timezone") name="timezone" type="text" list=zones_id.clone() class=INPUT
                    prop:value=move || zone.get() on:input=move |ev| zone.set(event_target_value(&ev))/>
                <datalist id=zones_id>{ZONES.iter().map(|z| view! { <option value=*z></option> }).collect_view()}</datalist>
                <FieldError name="timezone" error=error/>
            </div>
            <div class="sm:col-span-2 rounded-md border border-slate-200 bg-white p-3" aria-live="polite" data-testid="schedule-preview">
                {move || match preview.get() {
                    None => view! { <p class="text-sm text-slate-600">"Reading the expression…"</p> }.into_any(),
                    Some(Ok(p)) => view! {
                        <p class="text-sm font-medium text-slate-900">{p.description}</p>
                        <ol class="mt-1 space-y-0.5 text-sm text-slate-700">
                            {p.local_times.into_iter().zip(p.times).map(|(local, utc)| view! {
                                // A zone of UTC needs its time once.
                                <li>{(!local.ends_with(" UTC")).then(|| view! { {local}" · " })}<UtcTime iso=utc/></li>
                            }).collect_view()}
                        </ol>
                    }
                    .into_any(),
                    Some(Err(e)) => view! { <p class="text-sm text-red-800">{e.message}</p> }.into_any(),
                }}
            </div>
            <div>
                <label for=id("project") class="block text-sm font-medium text-slate-800">"Project"</label>
                <select id=id("project") name="project_id" class=INPUT>{pick(projects, current.as_ref().map(|c| c.project_id))}</select>
            </div>
            <div>
                <label for=id("workspace") class="block text-sm font-medium text-slate-800">"Workspace"</label>
                <select id=id("workspace") name="workspace_id" class=INPUT>
                    <option value="">"None"</option>
                    {pick(workspaces, current.as_ref().and_then(|c| c.workspace_id))}
                </select>
            </div>
            <div class="sm:col-span-2">
                <label for=id("prompt") class="block text-sm font-medium text-slate-800">"Prompt"</label>
                <textarea id=id("prompt") name="prompt" rows="3" required=true class=INPUT>{text(|s| s.prompt.clone(), "")}</textarea>
                <FieldError name="prompt" error=error/>
            </div>
            <div>
                <label for=id("missed") class="block text-sm font-medium text-slate-800">"After downtime"</label>
                <select id=id("missed") name="missed_runs" class=INPUT>
                    <option value="skip" selected=current.as_ref().is_none_or(|c| c.missed_runs == "skip")>"Skip the missed times"</option>
                    <option value="run_once" selected=current.as_ref().is_some_and(|c| c.missed_runs == "run_once")>"Run once for what was missed"</option>
                </select>
            </div>
            <LabeledInput id=id("duration") label="Time limit (seconds)" name="max_duration_seconds" kind="number"
                value=text(|s| s.max_duration_seconds.to_string(), "900") error=error field="maxDurationSeconds"/>
        </div>
    }
}

#[component]
fn LabeledInput(
    id: String,
    label: &'static str,
    name: &'static str,
    #[prop(into)] value: String,
    error: Signal<Option<AppError>>,
    #[prop(optional)] kind: Option<&'static str>,
    #[prop(optional)] field: Option<&'static str>,
) -> impl IntoView {
    let field = field.unwrap_or(name);
    view! {
        <div>
            <label for=id.clone() class="block text-sm font-medium text-slate-800">{label}</label>
            <input id=id name=name type=kind.unwrap_or("text") value=value required=true class=INPUT/>
            <FieldError name=field error=error/>
        </div>
    }
}

/// The error of the last submission when it names `name`.
#[component]
fn FieldError(name: &'static str, error: Signal<Option<AppError>>) -> impl IntoView {
    move || {
        error
            .get()
            .filter(|e| e.field() == Some(name))
            .map(|e| view! { <p role="alert" class="mt-1 text-sm text-red-700">{e.message}</p> })
    }
}

#[component]
fn StatusBadge(status: String) -> impl IntoView {
    let class = match status.as_str() {
        "succeeded" => "bg-green-50 text-green-800",
        "failed" => "bg-red-50 text-red-800",
        "running" => "bg-indigo-50 text-indigo-800",
        _ => "bg-slate-100 text-slate-700",
    };
    view! { <span class=format!("rounded px-1.5 py-0.5 text-xs font-medium {class}")>{status}</span> }
}

/// One schedule's firings, newest first, with the sessions they opened.
#[component]
fn HistoryPanel(
    schedule: Option<ScheduleView>,
    projects: Vec<PickerItem>,
    history: PageResource<Result<Option<Page<ScheduleRunView>>, AppError>>,
    tick: RwSignal<u32>,
    refresh: RwSignal<u32>,
) -> impl IntoView {
    let slug = use_org_slug();
    // A run in progress is looked at again every 2 s until it ends; then
    // the list learns its last run.
    let watching = StoredValue::new(false);
    let lab = schedule
        .as_ref()
        .and_then(|s| projects.iter().find(|p| p.id == s.project_id))
        .and_then(|p| p.slug.clone())
        .map(|project| format!("/{}/projects/{project}", slug.get_untracked()));
    let title = schedule.as_ref().map_or_else(|| "History".to_string(), |s| format!("History of {}", s.name));
    view! {
        <section class=format!("{CARD} mb-6") data-testid="schedule-history">
            <div class="flex flex-wrap items-baseline justify-between gap-2">
                <h2 class="text-base font-semibold text-slate-900">{title}</h2>
                <a href=move || format!("/{}/schedules", slug.get()) class="text-sm text-indigo-700 hover:underline">"Close"</a>
            </div>
            <Transition fallback=|| view! { <p class="mt-3 text-sm text-slate-600">"Loading…"</p> }>
                {move || {
                    let lab = lab.clone();
                    suspend(async move {
                        loaded(history.await, move |page| {
                            let Some(page) = page else { return ().into_any() };
                            if page.items.iter().any(|r| r.status == "running") {
                                watching.set_value(true);
                                set_timeout(move || tick.update(|n| *n += 1), std::time::Duration::from_secs(2));
                            } else if watching.get_value() {
                                watching.set_value(false);
                                refresh.update(|n| *n += 1);
                            }
                            if page.items.is_empty() {
                                return view! { <p class="mt-3 text-sm text-slate-700">"It has not fired yet."</p> }.into_any();
                            }
                            view! {
                                <table class="mt-3 w-full text-left text-sm">
                                    <thead class="text-slate-600">
                                        <tr><th class="py-1 font-medium">"Due"</th><th class="py-1 font-medium">"Status"</th><th class="py-1 font-medium">"What happened"</th><th class="py-1 font-medium">"Session"</th></tr>
                                    </thead>
                                    <tbody class="divide-y divide-slate-100">
                                        {page.items.into_iter().map(|r| view! { <HistoryRow r=r lab=lab.clone()/> }).collect_view()}
                                    </tbody>
                                </table>
                            }
                            .into_any()
                        })
                    })
                }}
            </Transition>
        </section>
    }
}

#[component]
fn HistoryRow(r: ScheduleRunView, lab: Option<String>) -> impl IntoView {
    let what = match (&r.reason, &r.error) {
        (Some(_), Some(error)) if r.missed_count > 1 => format!("{error} ({} times)", r.missed_count),
        (_, Some(error)) => error.clone(),
        _ if r.fired_by == "manual" => "Run now".to_string(),
        _ if r.status == "succeeded" => format!("Done · {} credits", r.credits),
        _ => String::new(),
    };
    let session = r.session_id.zip(lab).map(|(session, lab)| {
        view! { <a href=format!("{lab}?session={session}") class="font-medium text-indigo-700 hover:underline">"Open"</a> }
    });
    view! {
        <tr data-testid="schedule-run">
            <td class="py-1.5 pr-3"><UtcTime iso=r.scheduled_for.clone()/></td>
            <td class="py-1.5 pr-3"><StatusBadge status=r.status.clone()/></td>
            <td class="py-1.5 pr-3 text-slate-800">{what}</td>
            <td class="py-1.5">{session}</td>
        </tr>
    }
}
