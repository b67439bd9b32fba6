//! Agents: the org's agents (create, edit, enable, restrict, delete) and
//! the models they can run. Restrictions need a fresh step-up: saving
//! them opens the step-up dialog when it is due.

use leptos::html;
use leptos::prelude::*;

use crate::api::agents::{
    list_agent_last_runs, list_agents, CreateAgent, DeleteAgent, SetAgentRestrictions, UpdateAgent,
};
use crate::api::byok::{list_byok_providers, AddByokProvider, RemoveByokProvider};
use crate::api::models::list_models;
use crate::components::forms::{
    action_error, loaded, Field, FormError, BUTTON, BUTTON_DANGER, BUTTON_SECONDARY, CARD, INPUT,
};
use crate::components::layout::{use_org_slug, PageHeader};
use crate::components::resource::{page_resource, PageResource};
use crate::components::suspend::suspend;
use crate::components::time::UtcTime;
use crate::model::{AgentLastRun, AgentView, AppError, ByokProviderView, ModelView, Page};

const AGENT_FIELDS: &[&str] = &["name", "model", "systemPrompt", "maxSteps"];

#[component]
pub fn AgentsPage() -> impl IntoView {
    let slug = use_org_slug();
    let create = ServerAction::<CreateAgent>::new();
    let update = ServerAction::<UpdateAgent>::new();
    let restrict = ServerAction::<SetAgentRestrictions>::new();
    let delete = ServerAction::<DeleteAgent>::new();
    let add_provider = ServerAction::<AddByokProvider>::new();
    let remove_provider = ServerAction::<RemoveByokProvider>::new();
    // The catalogue changes with the org's own providers.
    let models = page_resource(
        move || (slug.get(), add_provider.version().get(), remove_provider.version().get()),
        |(slug, ..)| list_models(slug),
    );
    // Lists reload when a change succeeded; a refused one keeps its form.
    let changed = RwSignal::new(0u32);
    for ok in [
        Signal::derive(move || update.value().with(|v| matches!(v, Some(Ok(_))))),
        Signal::derive(move || restrict.value().with(|v| matches!(v, Some(Ok(_))))),
    ] {
        Effect::new(move |_| {
            if ok.get() {
                changed.update(|n| *n += 1);
            }
        });
    }
    let agents = page_resource(
        move || (slug.get(), create.version().get(), changed.get(), delete.version().get()),
        |(slug, ..)| list_agents(slug),
    );
    let last_runs = page_resource(move || slug.get(), list_agent_last_runs);
    let create_error = action_error(create);
    let update_error = action_error(update);
    let restrict_error = action_error(restrict);
    let delete_error = action_error(delete);

    let form = NodeRef::<html::Form>::new();
    Effect::new(move |_| {
        if create.value().with(|v| matches!(v, Some(Ok(_)))) {
            if let Some(form) = form.get_untracked() {
                form.reset();
            }
        }
    });

    view! {
        <PageHeader title="Agents" intro="The AI agents of this organization: a model, a system prompt and what they may use."/>
        <Suspense fallback=|| view! { <p class="text-sm text-slate-600">"Loading…"</p> }>
            {move || suspend(async move {
                loaded(models.await, move |page| {
                    let models = page.items;
                    if models.is_empty() {
                        return view! { <section class=CARD><NoProvider/></section> }.into_any();
                    }
                    let picker = models.clone();
                    view! {
                        <section class=CARD aria-labelledby="create-agent">
                            <h2 id="create-agent" class="text-base font-semibold text-slate-900">"Create an agent"</h2>
                            <ActionForm action=create node_ref=form attr:class="mt-4 space-y-4">
                                <FormError error=create_error inline=AGENT_FIELDS/>
                                <input type="hidden" name="org" value=move || slug.get()/>
                                <div class="grid gap-4 sm:grid-cols-2">
                                    <Field label="Name" name="name" required=true error=create_error/>
                                    <ModelPicker id="new-agent-model" models=picker selected=None/>
                                </div>
                                <PromptField id="new-agent-prompt" value=String::new()/>
                                <StepsAndFastMode id="new-agent" max_steps=10 fast_mode=false/>
                                <button type="submit" class=BUTTON>"Create agent"</button>
                            </ActionForm>
                        </section>
                        <ModelTable models=models/>
                    }
                    .into_any()
                })
            })}
        </Suspense>

        <section class=format!("{CARD} mt-6") aria-labelledby="all-agents">
            <h2 id="all-agents" class="text-base font-semibold text-slate-900">"All agents"</h2>
            <div class="mt-3 space-y-2">
                <FormError error=update_error/>
                <FormError error=restrict_error/>
                <FormError error=delete_error/>
            </div>
            <Transition fallback=|| view! { <p class="mt-3 text-sm text-slate-600">"Loading…"</p> }>
                {move || suspend(async move {
                    let catalogue = models.await.map(|p| p.items).unwrap_or_default();
                    let runs = last_runs.await.unwrap_or_default();
                    loaded(agents.await, move |page| {
                        if page.items.is_empty() {
                            return view! {
                                <p class="mt-3 rounded-md border border-dashed border-slate-300 p-6 text-center text-sm text-slate-700">
                                    "No agents yet. Create one above: it answers in a project's lab and runs on schedules."
                                </p>
                            }
                            .into_any();
                        }
                        let all = page.items.clone();
                        view! {
                            <ul class="mt-1 divide-y divide-slate-100">
                                {page.items.into_iter().map(|a| {
                                    let last_run = runs.iter().find(|r| r.agent_id == a.id).cloned();
                                    view! { <AgentRow a=a all=all.clone() models=catalogue.clone() last_run=last_run update=update restrict=restrict delete=delete/> }
                                }).collect_view()}
                            </ul>
                        }
                        .into_any()
                    })
                })}
            </Transition>
        </section>
        <ProvidersSection add=add_provider remove=remove_provider models=models/>
    }
}

/// Where the models come from: the server's providers (read-only here)
/// and the org's own, which owners and admins add with a key of theirs.
#[component]
fn ProvidersSection(
    add: ServerAction<AddByokProvider>,
    remove: ServerAction<RemoveByokProvider>,
    /// The page's catalogue (one read for the page, not one per section).
    models: PageResource<Result<Page<ModelView>, AppError>>,
) -> impl IntoView {
    let slug = use_org_slug();
    let own = page_resource(
        move || (slug.get(), add.version().get(), remove.version().get()),
        |(slug, ..)| list_byok_providers(slug),
    );
    let add_error = action_error(add);
    let remove_error = action_error(remove);
    let form = NodeRef::<html::Form>::new();
    Effect::new(move |_| {
        if add.value().with(|v| matches!(v, Some(Ok(_)))) {
            if let Some(form) = form.get_untracked() {
                form.reset();
            }
        }
    });
    view! {
        <section class=format!("{CARD} mt-6") aria-labelledby="providers-heading">
            <h2 id="providers-heading" class="text-base font-semibold text-slate-900">"Model providers"</h2>
            <Transition fallback=|| view! { <p class="mt-2 text-sm text-slate-600">"Loading…"</p> }>
                {move || suspend(async move {
                    let catalogue = models.await.map(|p| p.items).unwrap_or_default();
                    let mut offered: Vec<(String, usize)> = Vec::new();
                    for m in catalogue.iter().filter(|m| !m.byok) {
                        match offered.iter_mut().find(|(p, _)| *p == m.provider) {
                            Some((_, n)) => *n += 1,
                            None => offered.push((m.provider.clone(), 1)),
                        }
                    }
                    let server_line = if offered.is_empty() {
                        "This server offers no models of its own.".to_string()
                    } else {
                        let list: Vec<String> = offered.iter().map(|(p, n)| format!("{p} ({n} model{})", if *n == 1 { "" } else { "s" })).collect();
                        format!("Offered by this server, metered in credits by its operator: {}.", list.join(", "))
                    };
                    loaded(own.await, move |providers| view! {
                        <p class="mt-2 text-sm text-slate-700">{server_line.clone()}</p>
                        <OwnProviders providers=providers remove=remove/>
                    })
                })}
            </Transition>
            <div class="mt-3"><FormError error=remove_error/></div>
            <details class="mt-4">
                <summary class="cursor-pointer text-sm font-medium text-indigo-700 hover:underline">"Add your own provider key"</summary>
                <ActionForm action=add node_ref=form attr:class="mt-3 space-y-4 rounded-md border border-slate-200 bg-slate-50 p-4">
                    <p class="text-sm text-slate-700">
                        "Calls on your own key cost 0 credits; your provider bills you. Owners and admins add keys, and confirm it is them first. The key is stored encrypted and shown only as its last four characters."
                    </p>
                    <FormError error=add_error inline=&["id", "base_url"]/>
                    <input type="hidden" name="org" value=move || slug.get()/>
                    <div class="grid gap-4 sm:grid-cols-2">
                        <Field label="Id" name="id" required=true hint="Names its models: my-openai/gpt-4.1." error=add_error/>
                        <div>
                            <label for="provider-kind" class="block text-sm font-medium text-slate-800">"Kind"</label>
                            <select id="provider-kind" name="kind" class=INPUT>
                                <option value="openai">"OpenAI-compatible (OpenAI, OpenRouter, vLLM, LiteLLM…)"</option>
                                <option value="anthropic">"Anthropic"</option>
                            </select>
                        </div>
                        <Field label="Base URL" name="base_url" required=true hint="Such as https://api.openai.com/v1." error=add_error/>
                        <div>
                            <label for="provider-key" class="block text-sm font-medium text-slate-800">"API key"</label>
                            <input id="provider-key" name="api_key" type="password" required autocomplete="off" class=INPUT/>
                        </div>
                    </div>
                    <div>
                        <label for="provider-models" class="block text-sm font-medium text-slate-800">"Models"</label>
                        <input id="provider-models" name="models" type="text" class=INPUT/>
                        <p class="mt-1 text-xs text-slate-600">"Model ids separated by commas. Leave empty to read them from the provider's model list."</p>
                    </div>
                    <button type="submit" class=BUTTON_SECONDARY>"Add provider"</button>
                </ActionForm>
            </details>
        </section>
    }
}

#[component]
fn OwnProviders(providers: Vec<ByokProviderView>, remove: ServerAction<RemoveByokProvider>) -> impl IntoView {
    let slug = use_org_slug();
    if providers.is_empty() {
        return view! { <p class="mt-2 text-sm text-slate-600">"This organization has no provider keys of its own."</p> }.into_any();
    }
    view! {
        <ul class="mt-3 divide-y divide-slate-100" aria-label="Your providers">
            {providers.into_iter().map(|p| {
                let confirm = format!("Confirm: remove {}", p.provider);
                let models = p.models.join(", ");
                view! {
                    <li class="py-3">
                        <div class="flex flex-wrap items-baseline justify-between gap-x-4">
                            <h3 class="font-semibold text-slate-900">{p.provider.clone()}</h3>
                            <span class="text-sm text-slate-700">{format!("{} · key ending {}", p.kind, p.key_last4)}</span>
                        </div>
                        <p class="mt-0.5 text-sm text-slate-700"><code class="font-mono">{p.base_url.clone()}</code></p>
                        <p class="mt-0.5 text-sm text-slate-600">{format!("{} model{}: {models}", p.models.len(), if p.models.len() == 1 { "" } else { "s" })}</p>
                        <details class="mt-1">
                            <summary class="cursor-pointer text-sm font-medium text-red-700 hover:underline">
                                "Remove"<span class="sr-only">" "{p.provider.clone()}</span>
                            </summary>
                            <ActionForm action=remove attr:class="mt-2">
                                <input type="hidden" name="org" value=move || slug.get()/>
                                <input type="hidden" name="id" value=p.id.to_string()/>
                                <p class="mb-2 text-sm text-slate-700">"Agents on its models stop running until they get another model."</p>
                                <button type="submit" class=BUTTON_DANGER>{confirm}</button>
                            </ActionForm>
                        </details>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
    .into_any()
}

#[component]
fn AgentRow(
    a: AgentView,
    all: Vec<AgentView>,
    models: Vec<ModelView>,
    last_run: Option<AgentLastRun>,
    update: ServerAction<UpdateAgent>,
    restrict: ServerAction<SetAgentRestrictions>,
    delete: ServerAction<DeleteAgent>,
) -> impl IntoView {
    let slug = use_org_slug();
    let id = a.id;
    let tools_text = a.tools.clone().map(|t| t.join(", ")).unwrap_or_default();
    let peer_names: Vec<String> = a
        .peers
        .clone()
        .unwrap_or_default()
        .iter()
        .filter_map(|p| all.iter().find(|x| x.id == *p).map(|x| x.name.clone()))
        .collect();
    let tools_summary = match &a.tools {
        None => "every tool".to_string(),
        Some(t) if t.is_empty() => "no tools".to_string(),
        Some(t) => t.join(", "),
    };
    let peers_summary =
        if a.peers.is_none() { "every agent of the project".to_string() } else { peer_names.join(", ") };
    let status = if a.enabled {
        ("Enabled", "bg-emerald-50 text-emerald-800")
    } else {
        ("Disabled", "bg-slate-100 text-slate-700")
    };
    let confirm = format!("Confirm: delete {}", a.name);
    let fast_sibling = models.iter().find(|m| m.id == a.model).and_then(|m| m.fast_sibling.clone());
    let name = a.name.clone();
    view! {
        <li class="py-4">
            <div class="flex flex-wrap items-baseline justify-between gap-x-4 gap-y-1">
                <h3 class="font-semibold text-slate-900">{a.name.clone()}</h3>
                <span class=format!("rounded px-2 py-0.5 text-xs font-medium {}", status.1)>{status.0}</span>
            </div>
            <p class="mt-0.5 text-sm text-slate-700">
                <code class="font-mono">{a.model.clone()}</code>
                {a.fast_mode.then(|| match fast_sibling.clone() {
                    Some(s) => format!(" · fast mode: runs {s}"),
                    None => " · fast mode (this model has no faster sibling: ignored)".to_string(),
                })}
                {format!(" · up to {} steps · ", a.max_steps)}
                {match last_run {
                    Some(run) => view! { <span>"last run "<UtcTime iso=run.started_at/>{format!(" ({})", run.status)}</span> }.into_any(),
                    None => view! { <span>"never run yet"</span> }.into_any(),
                }}
            </p>
            <p class="mt-0.5 text-sm text-slate-600">{format!("May use {tools_summary}; may message {peers_summary}.")}</p>
            <div class="mt-2 flex flex-wrap items-start gap-x-6 gap-y-2">
                <details class="open:basis-full">
                    <summary class="cursor-pointer text-sm font-medium text-indigo-700 hover:underline">
                        "Edit"<span class="sr-only">" "{name.clone()}</span>
                    </summary>
                    <ActionForm action=update attr:class="mt-3 space-y-4 rounded-md border border-slate-200 bg-slate-50 p-4">
                        <input type="hidden" name="org" value=move || slug.get()/>
                        <input type="hidden" name="id" value=id.to_string()/>
                        <div class="grid gap-4 sm:grid-cols-2">
                            <div>
                                <label for=format!("agent-name-{id}") class="block text-sm font-medium text-slate-800">"Name"</label>
                                <input id=format!("agent-name-{id}") name="name" type="text" required value=a.name.clone() class=INPUT/>
                            </div>
                            <ModelPicker id=format!("agent-model-{id}") models=models.clone() selected=Some(a.model.clone())/>
                        </div>
                        <PromptField id=format!("agent-prompt-{id}") value=a.system_prompt.clone()/>
                        <StepsAndFastMode id=format!("agent-{id}") max_steps=a.max_steps fast_mode=a.fast_mode/>
                        <label class="flex items-center gap-2 text-sm text-slate-800">
                            <input type="checkbox" name="enabled" checked=a.enabled class="h-4 w-4 rounded border-slate-300"/>
                            "Enabled (a disabled agent does not run, also not on schedules)"
                        </label>
                        <button type="submit" class=BUTTON_SECONDARY>"Save changes"</button>
                    </ActionForm>
                </details>
                <details class="open:basis-full">
                    <summary class="cursor-pointer text-sm font-medium text-indigo-700 hover:underline">
                        "Restrictions"<span class="sr-only">" of "{name.clone()}</span>
                    </summary>
                    <ActionForm action=restrict attr:class="mt-3 space-y-4 rounded-md border border-slate-200 bg-slate-50 p-4">
                        <p class="text-sm text-slate-700">"What this agent may use. Changing it asks you to confirm it is you."</p>
                        <input type="hidden" name="org" value=move || slug.get()/>
                        <input type="hidden" name="id" value=id.to_string()/>
                        <div>
                            <label for=format!("agent-tools-{id}") class="block text-sm font-medium text-slate-800">"Tools"</label>
                            <input id=format!("agent-tools-{id}") name="tools" type="text" value=tools_text class=INPUT/>
                            <p class="mt-1 text-xs text-slate-600">"Tool names, separated by commas. Empty: every tool available to it."</p>
                        </div>
                        <div>
                            <label for=format!("agent-peers-{id}") class="block text-sm font-medium text-slate-800">"Peers"</label>
                            <input id=format!("agent-peers-{id}") name="peers" type="text" value=peer_names.join(", ") class=INPUT/>
                            <p class="mt-1 text-xs text-slate-600">"Names of the agents it may message, separated by commas. Empty: every agent of the session's project."</p>
                        </div>
                        <button type="submit" class=BUTTON_SECONDARY>"Save restrictions"</button>
                    </ActionForm>
                </details>
                <details>
                    <summary class="cursor-pointer text-sm font-medium text-red-700 hover:underline">
                        "Delete"<span class="sr-only">" "{name.clone()}</span>
                    </summary>
                    <ActionForm action=delete attr:class="mt-2">
                        <input type="hidden" name="org" value=move || slug.get()/>
                        <input type="hidden" name="id" value=id.to_string()/>
                        <p class="mb-2 text-sm text-slate-700">"The agent stops running and leaves the list; its past sessions stay."</p>
                        <button type="submit" class=BUTTON_DANGER>{confirm}</button>
                    </ActionForm>
                </details>
            </div>
        </li>
    }
}

/// The model `<select>`, each option saying whether fast mode applies.
#[component]
fn ModelPicker(#[prop(into)] id: String, models: Vec<ModelView>, selected: Option<String>) -> impl IntoView {
    view! {
        <div>
            <label for=id.clone() class="block text-sm font-medium text-slate-800">"Model"</label>
            <select id=id name="model" class=INPUT>
                {models.into_iter().map(|m| {
                    let is_selected = selected.as_deref() == Some(m.id.as_str());
                    let label = match &m.fast_sibling {
                        Some(s) => format!("{} ({}; fast: {s})", m.name, m.id),
                        None => format!("{} ({})", m.name, m.id),
                    };
                    view! { <option value=m.id selected=is_selected>{label}</option> }
                }).collect_view()}
            </select>
        </div>
    }
}

#[component]
fn PromptField(#[prop(into)] id: String, value: String) -> impl IntoView {
    view! {
        <div>
            <label for=id.clone() class="block text-sm font-medium text-slate-800">"System prompt"</label>
            <textarea id=id name="system_prompt" rows="4" class=INPUT>{value}</textarea>
        </div>
    }
}

/// Max steps, and fast mode with what it does.
#[component]
fn StepsAndFastMode(#[prop(into)] id: String, max_steps: i64, fast_mode: bool) -> impl IntoView {
    let steps_id = format!("{id}-max-steps");
    let fast_hint = format!("{id}-fast-hint");
    view! {
        <div class="grid gap-4 sm:grid-cols-2">
            <div>
                <label for=steps_id.clone() class="block text-sm font-medium text-slate-800">"Max steps"</label>
                <input id=steps_id name="max_steps" type="number" min="1" max="50" value=max_steps.to_string() required class=INPUT/>
                <p class="mt-1 text-xs text-slate-600">"Model calls per run, 1–50; the last one must answer without tools."</p>
            </div>
            <div>
                <label class="mt-6 flex items-center gap-2 text-sm text-slate-800">
                    <input type="checkbox" name="fast_mode" checked=fast_mode aria-describedby=fast_hint.clone() class="h-4 w-4 rounded border-slate-300"/>
                    "Fast mode"
                </label>
                <p id=fast_hint class="mt-1 text-xs text-slate-600">
                    "Runs use the model's faster sibling (shown as “fast:” in the list) when it has one; for a model without one it changes nothing."
                </p>
            </div>
        </div>
    }
}

/// What to do when this org has no model to run.
#[component]
fn NoProvider() -> impl IntoView {
    view! {
        <div role="status" class="rounded-md border border-amber-300 bg-amber-50 p-4 text-sm text-amber-900">
            <p class="font-medium">"No model provider is configured on this server."</p>
            <p class="mt-1">
                "An operator adds one with "<code class="font-mono">"[[providers]]"</code>" in the "
                <code class="font-mono">"ALUMIA_CONFIG"</code>" file (any OpenAI-compatible API, or Anthropic), or runs Ollama at "
                <code class="font-mono">"ALUMIA_OLLAMA_URL"</code>" (by default "<code class="font-mono">"http://127.0.0.1:11434"</code>
                "), whose models are then offered here at 0 credits. Or an owner adds the organization's own provider key under Model providers below. Agents can be created once a model is available."
            </p>
        </div>
    }
}

#[component]
fn ModelTable(models: Vec<ModelView>) -> impl IntoView {
    view! {
        <section class=format!("{CARD} mt-6") aria-labelledby="models-heading">
            <h2 id="models-heading" class="text-base font-semibold text-slate-900">"Models"</h2>
            <div class="mt-3 overflow-x-auto">
                <table class="min-w-full text-left text-sm">
                    <thead class="text-slate-700">
                        <tr>
                            <th scope="col" class="py-2 pr-4 font-medium">"Model"</th>
                            <th scope="col" class="py-2 pr-4 font-medium">"Provider"</th>
                            <th scope="col" class="py-2 pr-4 font-medium">"Credits per million tokens (in / out)"</th>
                            <th scope="col" class="py-2 pr-4 font-medium">"Fast mode runs"</th>
                        </tr>
                    </thead>
                    <tbody class="divide-y divide-slate-100">
                        {models.into_iter().map(|m| {
                            let price = if m.input_credits_per_mtok == "0" && m.output_credits_per_mtok == "0" {
                                "free".to_string()
                            } else {
                                format!("{} / {}", m.input_credits_per_mtok, m.output_credits_per_mtok)
                            };
                            view! {
                                <tr>
                                    <th scope="row" class="py-2 pr-4 font-normal">
                                        <span class="font-medium text-slate-900">{m.name}</span>
                                        <code class="ml-2 font-mono text-xs text-slate-600">{m.id}</code>
                                    </th>
                                    <td class="py-2 pr-4 text-slate-800">{m.provider}</td>
                                    <td class="py-2 pr-4 text-slate-800">{price}</td>
                                    <td class="py-2 pr-4 text-slate-800">{m.fast_sibling.unwrap_or_else(|| "—".to_string())}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}
