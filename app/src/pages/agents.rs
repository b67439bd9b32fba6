//! Agents: the models this org may run today; creating agents arrives
//! with the agent runtime.

use leptos::prelude::*;

use crate::api::models::list_models;
use crate::components::forms::{loaded, CARD};
use crate::components::layout::{use_org_slug, ComingSoon, PageHeader};
use crate::model::ModelView;

#[component]
pub fn AgentsPage() -> impl IntoView {
    let slug = use_org_slug();
    let models = Resource::new(move || slug.get(), list_models);
    view! {
        <PageHeader title="Agents" intro="The AI agents of this organization."/>
        <section class=CARD aria-labelledby="models-heading">
            <h2 id="models-heading" class="text-base font-semibold text-slate-900">"Models"</h2>
            <Suspense fallback=|| view! { <p class="mt-3 text-sm text-slate-600">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    loaded(models.await, |page| {
                        if page.items.is_empty() {
                            return view! { <NoProvider/> }.into_any();
                        }
                        view! { <ModelTable models=page.items/> }.into_any()
                    })
                })}
            </Suspense>
        </section>
        <div class="mt-6">
            <ComingSoon what="Agents run your prompts with a model, tools and skills. Each agent will have a model, a system prompt, enabled skills and tool restrictions." how="Agents arrive in a coming release; you will create them here and over /api/v1."/>
        </div>
    }
}

/// What to do when this org has no model to run.
#[component]
fn NoProvider() -> impl IntoView {
    view! {
        <div role="status" class="mt-3 rounded-md border border-amber-300 bg-amber-50 p-4 text-sm text-amber-900">
            <p class="font-medium">"No model provider is configured on this server."</p>
            <p class="mt-1">
                "An operator adds one with "<code class="font-mono">"[[providers]]"</code>" in the "
                <code class="font-mono">"ALUMIA_CONFIG"</code>" file (any OpenAI-compatible API, or Anthropic), or runs Ollama at "
                <code class="font-mono">"ALUMIA_OLLAMA_URL"</code>" (by default "<code class="font-mono">"http://127.0.0.1:11434"</code>
                "), whose models are then offered here at 0 credits. If your package includes them, you will also be able to bring your own provider key."
            </p>
        </div>
    }
}

#[component]
fn ModelTable(models: Vec<ModelView>) -> impl IntoView {
    view! {
        <div class="mt-3 overflow-x-auto">
            <table class="min-w-full text-left text-sm">
                <thead class="text-slate-700">
                    <tr>
                        <th scope="col" class="py-2 pr-4 font-medium">"Model"</th>
                        <th scope="col" class="py-2 pr-4 font-medium">"Provider"</th>
                        <th scope="col" class="py-2 pr-4 font-medium">"Credits per million tokens (in / out)"</th>
                        <th scope="col" class="py-2 pr-4 font-medium">"Fast mode"</th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-slate-100">
                    {models
                        .into_iter()
                        .map(|m| {
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
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}
