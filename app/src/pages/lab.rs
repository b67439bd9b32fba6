//! The lab (SPEC §10): `/<org>/projects/<project>`, a project's sessions
//! and a chat with an agent. A message starts a run; its reply streams in
//! token by token from the session's event stream, tool calls show as
//! cards, Cancel stops it, a billing refusal shows the billing card. A
//! reload mid-run replays the run's events so far and follows the rest.
//! Without JavaScript a posted message shows its answer after the run.
//! The canvas (`pages::canvas`) sits beside the chat on a wide screen
//! (1536 px and up), under it on a narrower one.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde_json::Value;
use uuid::Uuid;

use crate::api::canvas::get_canvas;
use crate::api::sessions::{get_chat, get_lab, CancelChatRun, SendChatMessage, StartSession};
use crate::components::billing_card::{is_payment_required, BillingCard};
use crate::components::event_source::{follow, Following, RUN_EVENTS, STREAM_CLOSED};
use crate::components::forms::{action_error, loaded, FormError, BUTTON, BUTTON_SECONDARY, CARD, INPUT};
use crate::components::layout::use_org_slug;
use crate::components::resource::page_resource;
use crate::components::suspend::suspend;
use crate::model::{AppError, ChatView, ErrorCode, LabView, MessageView, SessionView};
use crate::pages::canvas::{CanvasActions, CanvasSection};

#[component]
pub fn LabPage() -> impl IntoView {
    let slug = use_org_slug();
    let params = use_params_map();
    let project = move || params.read().get("project").unwrap_or_default();
    let start = ServerAction::<StartSession>::new();
    let lab = page_resource(move || (slug.get(), project(), start.version().get()), |(org, p, _)| get_lab(org, p));
    // The canvas's data, made here beside the lab's (not inside its
    // Suspend): resources made inside one hydrate in a different order.
    let actions = CanvasActions::new();
    let canvas = page_resource(move || (slug.get(), project(), actions.version()), |(org, p, _)| get_canvas(org, p));
    view! {
        <Transition fallback=|| view! { <p class="text-sm text-slate-600">"Loading…"</p> }>
            {move || suspend(async move {
                loaded(lab.await, move |lab| view! { <Lab lab=lab start=start><CanvasSection canvas=canvas actions=actions/></Lab> })
            })}
        </Transition>
    }
}

#[component]
fn Lab(lab: LabView, start: ServerAction<StartSession>, children: Children) -> impl IntoView {
    let slug = use_org_slug();
    let query = use_query_map();
    let selected = Signal::derive(move || query.read().get("session").and_then(|s| s.parse::<Uuid>().ok()));
    let start_error = action_error(start);
    let project = lab.project.clone();
    let title = format!("{} · Lab · Alumia", project.name);
    let first_sessions = lab.sessions.clone();
    // Bumped by the chat when a run starts or ends: the list reloads (its
    // badges), the rest of the page stays.
    let changed = RwSignal::new(0u32);
    provide_context(SessionsChanged(changed));
    let project_slug = lab.project.slug.clone();
    let fresh_sessions = page_resource(
        move || (slug.get(), project_slug.clone(), changed.get()),
        |(org, project, n)| async move {
            if n == 0 {
                Err(AppError::not_found())
            } else {
                get_lab(org, project).await
            }
        },
    );
    let agents = lab.agents.clone();
    let has_agents = agents.iter().any(|a| a.enabled);
    let project_id = project.id.to_string();
    view! {
        <Title text=title/>
        <div class="mb-6">
            <a href=move || format!("/{}/projects", slug.get()) class="text-sm font-medium text-indigo-700 hover:underline">"← Projects"</a>
            <h1 class="mt-1 text-2xl font-bold text-slate-900">{project.name.clone()}</h1>
            {project.description.clone().map(|d| view! { <p class="mt-1 text-slate-700">{d}</p> })}
        </div>
        {(!lab.has_models).then(|| view! {
            <p role="status" class="mb-4 rounded-md border border-amber-300 bg-amber-50 p-3 text-sm text-amber-950">
                "No model provider is configured on this server, so agents cannot answer yet. An operator adds "
                <code>"[[providers]]"</code>" to the configuration file (or runs Ollama on the server's machine)."
            </p>
        })}
        // Wide screens: sessions and chat on the left, the canvas beside them.
        <div class="lab-layout">
        <div class="lab-chat">
            <section class=CARD aria-labelledby="sessions-heading">
                <h2 id="sessions-heading" class="text-base font-semibold text-slate-900">"Sessions"</h2>
                <ActionForm action=start attr:class="mt-3 space-y-2">
                    <FormError error=start_error/>
                    <input type="hidden" name="org" value=move || slug.get()/>
                    <input type="hidden" name="project" value=project_id/>
                    <label for="new-session-agent" class="block text-sm font-medium text-slate-800">"Agent"</label>
                    <select id="new-session-agent" name="agent" class=INPUT required=true>
                        {agents.iter().filter(|a| a.enabled).map(|a| view! { <option value=a.id.to_string()>{a.name.clone()}</option> }).collect_view()}
                    </select>
                    <button type="submit" class=BUTTON disabled=!has_agents>"New session"</button>
                    {(!has_agents).then(|| view! {
                        <p class="text-sm text-slate-700">
                            "No agent yet: "<a class="font-medium text-indigo-700 hover:underline" href=move || format!("/{}/agents", slug.get())>"create one"</a>" first."
                        </p>
                    })}
                </ActionForm>
                <ul class="mt-4 divide-y divide-slate-100" data-testid="sessions">
                    // The list as loaded, then as it is after each run
                    // starts or ends (the chat bumps `changed`).
                    <Transition fallback=|| ()>
                        {move || {
                            let first = first_sessions.clone();
                            suspend(async move {
                                let sessions = match changed.get() {
                                    0 => first,
                                    _ => fresh_sessions.await.map(|l| l.sessions).unwrap_or(first),
                                };
                                if sessions.is_empty() {
                                    view! { <li class="py-2 text-sm text-slate-600">"No sessions yet."</li> }.into_any()
                                } else {
                                    sessions.into_iter().map(|s| view! { <SessionLink s=s selected=selected/> }).collect_view().into_any()
                                }
                            })
                        }}
                    </Transition>
                </ul>
            </section>
            <section class=format!("{CARD} min-w-0") aria-labelledby="chat-heading">
                {move || match selected.get() {
                    Some(id) => view! { <Chat session=id/> }.into_any(),
                    None => view! {
                        <h2 id="chat-heading" class="text-base font-semibold text-slate-900">"Chat"</h2>
                        <p class="mt-2 text-sm text-slate-700">"Start a session with an agent, or open one from the list."</p>
                    }.into_any(),
                }}
            </section>
        </div>
        <div class="min-w-0">{children()}</div>
        </div>
    }
}

/// The lab's signal that a session's status changed.
#[derive(Clone, Copy)]
struct SessionsChanged(RwSignal<u32>);

#[component]
fn SessionLink(s: SessionView, selected: Signal<Option<Uuid>>) -> impl IntoView {
    let id = s.id;
    let current = move || (selected.get() == Some(id)).then_some("page");
    view! {
        <li class="py-2">
            <a href=format!("?session={id}") aria-current=current class="flex items-center justify-between gap-2 rounded px-1 text-sm text-slate-900 hover:bg-slate-50 aria-[current=page]:font-semibold">
                <span class="truncate">{s.title.clone()}</span>
                <StatusBadge status=s.status.clone()/>
            </a>
        </li>
    }
}

#[component]
fn StatusBadge(#[prop(into)] status: String) -> impl IntoView {
    let class = match status.as_str() {
        "running" | "awaiting_peer" => "bg-indigo-100 text-indigo-900",
        "failed" => "bg-red-100 text-red-900",
        "cancelled" => "bg-amber-100 text-amber-950",
        _ => "bg-slate-100 text-slate-800",
    };
    let text = status.replace('_', " ");
    view! { <span class=format!("shrink-0 rounded-full px-2 py-0.5 text-xs font-medium {class}")>{text}</span> }
}

/// What the page shows of a run that is going on, built from its events.
#[derive(Clone, Debug, Default, PartialEq)]
struct LiveRun {
    /// The run the events are of (each event names it).
    run_id: Option<Uuid>,
    items: Vec<LiveItem>,
    status: Option<String>,
    billing: Option<AppError>,
    finished: bool,
}

#[derive(Clone, Debug, PartialEq)]
enum LiveItem {
    Text(String),
    Tool(ToolCard),
}

#[derive(Clone, Debug, PartialEq)]
struct ToolCard {
    id: String,
    name: String,
    arguments: String,
    status: Option<String>,
    output: Option<String>,
    duration_ms: Option<u64>,
}

impl LiveRun {
    fn apply(&mut self, kind: &str, data: &Value) {
        let text = |key: &str| data.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
        if let Some(run) = data.get("runId").and_then(Value::as_str).and_then(|r| r.parse().ok()) {
            self.run_id = Some(run);
        }
        match kind {
            "message.delta" => match self.items.last_mut() {
                Some(LiveItem::Text(t)) => t.push_str(&text("text")),
                _ => self.items.push(LiveItem::Text(text("text"))),
            },
            "message.completed" => {
                // The next text is a new message (after tool calls).
                if matches!(self.items.last(), Some(LiveItem::Text(_))) {
                    self.items.push(LiveItem::Text(String::new()));
                }
            }
            "tool_call.started" => self.items.push(LiveItem::Tool(ToolCard {
                id: text("toolCallId"),
                name: text("name"),
                arguments: pretty(&data["arguments"]),
                status: None,
                output: None,
                duration_ms: None,
            })),
            "tool_call.finished" => {
                let id = text("toolCallId");
                for item in self.items.iter_mut() {
                    if let LiveItem::Tool(card) = item {
                        if card.id == id {
                            card.status = Some(text("status"));
                            card.output = Some(pretty(&data["output"]));
                            card.duration_ms = data["durationMs"].as_u64();
                        }
                    }
                }
            }
            "session.status" => self.status = Some(text("status")),
            "billing.required" => {
                self.billing = Some(
                    AppError::new(ErrorCode::PaymentRequired, text("message"))
                        .with_details(serde_json::json!({ "reason": text("reason") })),
                )
            }
            "run.finished" => self.finished = true,
            _ => {}
        }
    }
}

fn pretty(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

#[component]
fn Chat(session: Uuid) -> impl IntoView {
    let slug = use_org_slug();
    let send = ServerAction::<SendChatMessage>::new();
    let cancel = ServerAction::<CancelChatRun>::new();
    let refresh = RwSignal::new(0u32);
    let chat = page_resource(
        move || (slug.get(), session, refresh.get(), cancel.version().get()),
        |(org, session, ..)| get_chat(org, session),
    );
    let live = RwSignal::new(LiveRun::default());
    let sessions_changed = use_context::<SessionsChanged>();
    // The seq to follow the current run's events after, while one runs.
    let follow_after = RwSignal::new(None::<i64>);

    // A loaded chat with a run going on (a reload mid-run): follow it.
    Effect::new(move |_| {
        if let Some(Ok(view)) = chat.get() {
            if let Some(after) = view.follow_after {
                if follow_after.get_untracked().is_none() {
                    live.set(LiveRun::default());
                    follow_after.set(Some(after));
                }
            } else if live.with_untracked(|l| l.finished) {
                // The stored messages now hold what the events showed.
                live.set(LiveRun::default());
            }
        }
    });
    // A message sent from this page: follow its run.
    Effect::new(move |_| {
        if let Some(Ok(started)) = send.value().get() {
            live.set(LiveRun::default());
            follow_after.set(Some(started.after));
            // The stored transcript now has the user's message.
            refresh.update(|n| *n += 1);
            if let Some(SessionsChanged(changed)) = sessions_changed {
                changed.update(|n| *n += 1);
            }
        }
    });
    // The stream is the effect's value: a new `after` drops (closes) the
    // old one, and so does the end of the page. Effects run only in the
    // browser, where the stream lives.
    Effect::new(move |previous: Option<Option<Following>>| {
        drop(previous);
        let after = follow_after.get()?;
        let url = format!("/api/v1/sessions/{session}/events?org={}&after={after}", slug.get_untracked());
        follow(&url, RUN_EVENTS, move |kind, data| {
            live.update(|l| l.apply(kind, &data));
            if kind == "run.finished" || kind == STREAM_CLOSED {
                follow_after.set(None);
                refresh.update(|n| *n += 1);
                if let Some(SessionsChanged(changed)) = sessions_changed {
                    changed.update(|n| *n += 1);
                }
            }
        })
    });

    // A run goes on while this page follows one: the server's render and
    // the first one in the browser both say no (the stream starts after
    // hydration), so they agree.
    let running = Signal::derive(move || follow_after.get().is_some());
    let send_error = action_error(send);
    let cancel_error = action_error(cancel);
    // A fresh id per form: a resent form (a reload of a plain post)
    // attaches to the run it started instead of starting another.
    let client_id = move || {
        send.version().get();
        Uuid::new_v4().to_string()
    };
    let form = NodeRef::<leptos::html::Form>::new();
    Effect::new(move |_| {
        if send.value().with(|v| matches!(v, Some(Ok(_)))) {
            if let Some(form) = form.get_untracked() {
                form.reset();
            }
        }
    });

    view! {
        <Transition fallback=|| view! { <p class="text-sm text-slate-600">"Loading the chat…"</p> }>
            {move || suspend(async move {
                loaded(chat.await, move |view: ChatView| {
                    let title = view.session.title.clone();
                    let agent = view.agent_name.clone();
                    let billing_run = view.last_run.clone();
                    let failed_run = view.last_run.clone();
                    // A transcript loaded after the followed run ended
                    // holds what its events showed: shown once, not twice
                    // until the effect above clears them.
                    let ended_run = view.last_run.as_ref().filter(|r| r.status != "running").map(|r| r.id);
                    view! {
                        <div class="flex flex-wrap items-center justify-between gap-2">
                            <h2 id="chat-heading" class="text-base font-semibold text-slate-900">{title}</h2>
                            {(!view.session.title.contains(&agent)).then(|| view! { <span class="text-sm text-slate-700">"with "{agent.clone()}</span> })}
                        </div>
                        <ol class="mt-4 space-y-3" data-testid="transcript" aria-live="polite">
                            <Transcript messages=view.messages.clone() names=view.peer_names.clone()/>
                            {move || {
                                live.with(|l| if l.run_id.is_some() && l.run_id == ended_run { Vec::new() } else { l.items.clone() })
                                    .into_iter()
                                    .map(live_item)
                                    .collect_view()
                            }}
                        </ol>
                        {move || {
                            let stopped_by_billing = billing_run
                                .as_ref()
                                .filter(|r| r.stop_reason.as_deref() == Some("payment_required") && !running.get())
                                .and_then(|r| r.error.clone())
                                .map(|m| AppError::new(ErrorCode::PaymentRequired, m));
                            live.get().billing.or(stopped_by_billing).map(|e| view! { <div class="mt-3"><BillingCard error=e/></div> })
                        }}
                        {move || {
                            failed_run
                                .clone()
                                .filter(|r| !running.get() && r.status == "failed" && r.stop_reason.as_deref() != Some("payment_required"))
                                .map(|r| view! {
                                    <p role="status" class="mt-3 rounded-md border border-red-200 bg-red-50 p-3 text-sm text-red-900">
                                        "The last run stopped ("{r.stop_reason.clone().unwrap_or_default().replace('_', " ")}"): "{r.error.clone().unwrap_or_default()}
                                    </p>
                                })
                        }}
                    }
                })
            })}
        </Transition>
        {move || send_error.get().map(|e| if is_payment_required(&e) {
            view! { <div class="mt-3"><BillingCard error=e/></div> }.into_any()
        } else {
            view! { <div class="mt-3"><FormError error=Signal::derive(move || Some(e.clone()))/></div> }.into_any()
        })}
        <FormError error=cancel_error/>
        <ActionForm action=send node_ref=form attr:class="mt-4 space-y-2">
            <input type="hidden" name="org" value=move || slug.get()/>
            <input type="hidden" name="session" value=session.to_string()/>
            <input type="hidden" name="client_message_id" value=client_id/>
            <label for="chat-message" class="block text-sm font-medium text-slate-800">"Message"</label>
            <textarea id="chat-message" name="content" rows="3" required=true class=INPUT placeholder="Ask the agent something"></textarea>
            <div class="flex items-center gap-3">
                <button type="submit" class=format!("{BUTTON} disabled:cursor-not-allowed disabled:opacity-50") disabled=move || running.get()>"Send"</button>
                <span class="text-sm text-slate-700" role="status" hidden=move || !running.get()>"The agent is answering…"</span>
            </div>
        </ActionForm>
        // Always there, hidden while nothing runs: a form removed while its
        // action is in flight would leave the action nowhere to answer.
        <div hidden=move || !running.get()>
            <ActionForm action=cancel attr:class="mt-2">
                <input type="hidden" name="org" value=move || slug.get()/>
                <input type="hidden" name="session" value=session.to_string()/>
                <button type="submit" class=BUTTON_SECONDARY>"Cancel"</button>
            </ActionForm>
        </div>
    }
}

/// The stored transcript: user and peer turns, the assistant's answers,
/// and each tool call as a card with its result.
#[component]
fn Transcript(messages: Vec<MessageView>, names: Vec<(Uuid, String)>) -> impl IntoView {
    let results: std::collections::HashMap<String, String> = messages
        .iter()
        .filter(|m| m.role == "tool")
        .filter_map(|m| m.tool_call_id.clone().map(|id| (id, m.content.clone())))
        .collect();
    messages
        .into_iter()
        .filter(|m| m.role != "tool")
        .map(|m| {
            let cards = m
                .tool_calls
                .iter()
                .map(|call| {
                    let output = results.get(&call.id).cloned();
                    tool_card(ToolCard {
                        id: call.id.clone(),
                        name: call.name.clone(),
                        arguments: pretty(&call.arguments),
                        status: Some(if output.is_some() { "done".into() } else { "no result".into() }),
                        output,
                        duration_ms: None,
                    })
                })
                .collect_view();
            let from = m.from_agent_id.map(|id| {
                names.iter().find(|(known, _)| *known == id).map_or_else(|| id.to_string(), |(_, name)| name.clone())
            });
            view! {
                {bubble(&m.role, m.content.clone(), from)}
                {cards}
            }
        })
        .collect_view()
}

fn bubble(role: &str, content: String, from: Option<String>) -> Option<AnyView> {
    if content.trim().is_empty() {
        return None;
    }
    Some(match role {
        "user" => view! {
            <li class="ml-auto max-w-[85%] rounded-lg bg-indigo-700 px-3 py-2 text-sm text-white" data-role="user">
                <span class="sr-only">"You: "</span><p class="whitespace-pre-wrap">{content}</p>
            </li>
        }
        .into_any(),
        "peer" => view! {
            <li class="max-w-[85%] rounded-lg border border-violet-200 bg-violet-50 px-3 py-2 text-sm text-violet-950" data-role="peer">
                <p class="text-xs font-semibold">{format!("From agent {}", from.unwrap_or_default())}</p>
                <p class="whitespace-pre-wrap">{content}</p>
            </li>
        }
        .into_any(),
        _ => view! {
            <li class="max-w-[85%] rounded-lg bg-slate-100 px-3 py-2 text-sm text-slate-900" data-role="assistant">
                <span class="sr-only">"Agent: "</span><p class="whitespace-pre-wrap">{content}</p>
            </li>
        }
        .into_any(),
    })
}

fn live_item(item: LiveItem) -> AnyView {
    match item {
        LiveItem::Text(text) => bubble("assistant", text, None).unwrap_or_else(|| ().into_any()),
        LiveItem::Tool(card) => tool_card(card),
    }
}

fn tool_card(card: ToolCard) -> AnyView {
    let status = card.status.clone().unwrap_or_else(|| "running".into());
    let duration = card.duration_ms.map(|ms| format!(" · {ms} ms")).unwrap_or_default();
    view! {
        <li class="max-w-[85%]" data-role="tool">
            <details class="rounded-lg border border-slate-200 bg-white px-3 py-2 text-sm">
                <summary class="cursor-pointer font-medium text-slate-900">
                    "Tool "<code class="font-mono">{card.name.clone()}</code>" · "{status}{duration}
                </summary>
                <p class="mt-2 text-xs font-semibold text-slate-700">"Arguments"</p>
                <pre class="mt-1 overflow-x-auto rounded bg-slate-50 p-2 text-xs text-slate-900">{card.arguments.clone()}</pre>
                {card.output.clone().map(|o| view! {
                    <p class="mt-2 text-xs font-semibold text-slate-700">"Output"</p>
                    <pre class="mt-1 overflow-x-auto rounded bg-slate-50 p-2 text-xs text-slate-900">{o}</pre>
                })}
            </details>
        </li>
    }
    .into_any()
}
