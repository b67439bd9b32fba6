//! Developers: API keys for `/api/v1`. A new key's secret is shown once,
//! right after it is minted; lists show only its prefix.

use leptos::html;
use leptos::prelude::*;

use crate::api::api_keys::{list_api_keys, take_minted_api_key, MintApiKey, RevokeApiKey};
use crate::components::forms::{
    action_error, loaded, Field, FormError, BUTTON, BUTTON_DANGER, BUTTON_SECONDARY, CARD, INPUT,
};
use crate::components::layout::{use_org_slug, PageHeader};
use crate::components::resource::page_resource;
use crate::components::suspend::suspend;
use crate::components::time::UtcTime;
use crate::model::{ApiKeyView, MintedApiKey};

const CHECKBOX: &str = "mt-0.5 h-4 w-4 accent-indigo-700 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600";

#[component]
pub fn DevelopersPage() -> impl IntoView {
    let slug = use_org_slug();
    let mint = ServerAction::<MintApiKey>::new();
    let revoke = ServerAction::<RevokeApiKey>::new();
    let keys = page_resource(
        move || (slug.get(), mint.version().get(), revoke.version().get()),
        |(slug, ..)| list_api_keys(slug),
    );
    // A key minted by a form posted without JavaScript comes back through
    // the session, on this one page load.
    let minted_without_js = page_resource(move || slug.get(), take_minted_api_key);
    let mint_error = action_error(mint);
    let revoke_error = action_error(revoke);

    // After a key is minted, empty the form for the next one.
    let form = NodeRef::<html::Form>::new();
    Effect::new(move |_| {
        if mint.value().with(|v| matches!(v, Some(Ok(_)))) {
            if let Some(form) = form.get_untracked() {
                form.reset();
            }
        }
    });

    view! {
        <PageHeader
            title="Developers"
            intro="API keys let scripts, CI jobs and the Alumia CLI call the /api/v1 API on behalf of this organization."
        />
        <section class=CARD>
            <h2 class="text-base font-semibold text-slate-900">"Using the API"</h2>
            <p class="mt-1 text-sm text-slate-700">
                "Send the key with every request to "<code class="font-mono text-slate-900">"/api/v1"</code>
                " in the "<code class="font-mono text-slate-900">"Authorization"</code>" header:"
            </p>
            <pre class="mt-2 overflow-x-auto rounded-md bg-slate-900 px-3 py-2 font-mono text-sm text-slate-100"><code>"Authorization: Bearer alm_…"</code></pre>
            <p class="mt-2 text-sm text-slate-700">
                "Endpoints, parameters and errors are described in the "
                <a href="/api/docs" rel="external" class="font-medium text-indigo-700 underline hover:text-indigo-900">
                    "API reference"
                </a>"."
            </p>
        </section>

        <section class=format!("{CARD} mt-6")>
            <h2 class="text-base font-semibold text-slate-900">"Create an API key"</h2>
            <p class="mt-1 text-sm text-slate-700">
                "Name it after where it will be used, so you know which one to revoke later."
            </p>
            <ActionForm action=mint node_ref=form attr:class="mt-4 space-y-4">
                <FormError error=mint_error inline=&["name"]/>
                <input type="hidden" name="org" value=move || slug.get()/>
                <div class="max-w-md">
                    <Field label="Name" name="name" required=true error=mint_error/>
                </div>
                <fieldset>
                    <legend class="text-sm font-medium text-slate-800">"Scopes"</legend>
                    <p id="scopes-hint" class="mt-1 text-xs text-slate-600">
                        <code class="font-mono">"models:read"</code>" is always included."
                    </p>
                    <div class="mt-2 space-y-2">
                        <div class="flex items-start gap-2">
                            <input id="scope-terminal" type="checkbox" name="terminal" value="on" class=CHECKBOX/>
                            <label for="scope-terminal" class="text-sm text-slate-800">
                                <span class="font-mono">"terminal"</span>" (CLI device login)"
                            </label>
                        </div>
                        <div class="flex items-start gap-2">
                            <input id="scope-billing" type="checkbox" name="billing" value="on" class=CHECKBOX/>
                            <label for="scope-billing" class="text-sm text-slate-800">
                                <span class="font-mono">"billing:machine:charge"</span>" (owners and admins)"
                            </label>
                        </div>
                    </div>
                </fieldset>
                <button type="submit" class=BUTTON>"Create API key"</button>
            </ActionForm>
            <Suspense>
                {move || suspend(async move {
                    let flashed = minted_without_js.await.ok().flatten();
                    view! { <NewKeyPanel action=mint flashed/> }
                })}
            </Suspense>
        </section>

        <section class=format!("{CARD} mt-6")>
            <h2 class="text-base font-semibold text-slate-900">"API keys"</h2>
            <div class="mt-3">
                <FormError error=revoke_error/>
            </div>
            <Transition fallback=|| view! { <p class="mt-3 text-sm text-slate-600">"Loading…"</p> }>
                {move || suspend(async move {
                    loaded(keys.await, |keys| {
                        if keys.is_empty() {
                            return view! {
                                <p class="mt-3 text-sm text-slate-700">
                                    "No API keys yet. Create one above to call the API from a script, a CI job or the Alumia CLI."
                                </p>
                            }
                            .into_any();
                        }
                        view! {
                            <div class="mt-3 overflow-x-auto">
                                <table class="min-w-full text-left text-sm">
                                    <thead class="whitespace-nowrap border-b border-slate-200 text-slate-600">
                                        <tr>
                                            <th scope="col" class="py-2 pr-4 font-medium">"Name"</th>
                                            <th scope="col" class="py-2 pr-4 font-medium">"Prefix"</th>
                                            <th scope="col" class="py-2 pr-4 font-medium">"Scopes"</th>
                                            <th scope="col" class="py-2 pr-4 font-medium">"Created by"</th>
                                            <th scope="col" class="py-2 pr-4 font-medium">"Created"</th>
                                            <th scope="col" class="py-2 pr-4 font-medium">"Last used"</th>
                                            <th scope="col" class="py-2 font-medium">"Status"</th>
                                        </tr>
                                    </thead>
                                    <tbody class="divide-y divide-slate-100">
                                        <For
                                            each=move || keys.clone()
                                            key=|k| (k.id, k.revoked_at.clone(), k.last_used_at.clone())
                                            children=move |k| view! { <KeyRow k=k revoke=revoke/> }
                                        />
                                    </tbody>
                                </table>
                            </div>
                        }
                        .into_any()
                    })
                })}
            </Transition>
        </section>
    }
}

/// The secret of the key just minted, shown this once with a copy button.
#[component]
fn NewKeyPanel(action: ServerAction<MintApiKey>, flashed: Option<MintedApiKey>) -> impl IntoView {
    move || {
        action.value().get().and_then(|r| r.ok()).or_else(|| flashed.clone()).map(|minted| {
            let input = NodeRef::<html::Input>::new();
            // None: not tried; Some(true): copied; Some(false): the browser refused.
            let copied = RwSignal::new(None::<bool>);
            view! {
                <div role="status" class="mt-6 rounded-md border border-amber-300 bg-amber-50 p-4">
                    <p class="text-sm font-semibold text-amber-950">
                        {format!("API key \u{201c}{}\u{201d} created", minted.key.name)}
                    </p>
                    <label for="new-api-key" class="mt-3 block text-sm font-medium text-amber-950">
                        "Your new API key"
                    </label>
                    <div class="flex flex-wrap items-center gap-2 sm:flex-nowrap">
                        <input
                            id="new-api-key"
                            node_ref=input
                            readonly
                            value=minted.secret.clone()
                            aria-describedby="new-api-key-warning"
                            class=format!("{INPUT} font-mono")
                            on:focus=move |_| {
                                if let Some(el) = input.get_untracked() {
                                    el.select();
                                }
                            }
                        />
                        <button type="button" class=format!("{BUTTON_SECONDARY} mt-1") on:click=move |_| copy_key(input, copied)>
                            "Copy"
                        </button>
                    </div>
                    <p id="new-api-key-warning" class="mt-2 text-sm font-semibold text-amber-950">
                        "Copy it now: it will not be shown again."
                    </p>
                    {move || {
                        copied.get().map(|ok| {
                            let text = if ok {
                                "Copied to the clipboard."
                            } else {
                                "The browser did not allow copying. The key is selected: press Ctrl+C (\u{2318}C on a Mac)."
                            };
                            view! { <p class="mt-1 text-sm text-amber-950">{text}</p> }
                        })
                    }}
                </div>
            }
        })
    }
}

/// Selects the key and writes it to the clipboard; `copied` tells how it went.
fn copy_key(input: NodeRef<html::Input>, copied: RwSignal<Option<bool>>) {
    use leptos::wasm_bindgen::closure::Closure;
    use leptos::wasm_bindgen::{JsCast, JsValue};
    use leptos::web_sys::js_sys::{Function, Promise, Reflect};

    let Some(el) = input.get_untracked() else { return };
    el.select();
    let text = JsValue::from_str(&el.value());
    // `navigator.clipboard.writeText`, looked up at run time: the web-sys
    // Clipboard bindings are not among the features this build enables.
    let clipboard = Reflect::get(&window(), &JsValue::from_str("navigator"))
        .and_then(|n| Reflect::get(&n, &JsValue::from_str("clipboard")))
        .ok()
        .filter(|c| c.is_object());
    let promise = clipboard.and_then(|c| {
        let write = Reflect::get(&c, &JsValue::from_str("writeText")).ok()?.dyn_into::<Function>().ok()?;
        write.call1(&c, &text).ok()?.dyn_into::<Promise>().ok()
    });
    match promise {
        Some(p) => {
            let done = Closure::once(move |_: JsValue| copied.set(Some(true)));
            let failed = Closure::once(move |_: JsValue| copied.set(Some(false)));
            let _ = p.then2(&done, &failed);
            done.forget();
            failed.forget();
        }
        None => copied.set(Some(false)),
    }
}

#[component]
fn KeyRow(k: ApiKeyView, revoke: ServerAction<RevokeApiKey>) -> impl IntoView {
    let slug = use_org_slug();
    let key_id = k.id.to_string();
    let confirm = format!("Confirm: revoke {}", k.name);
    let created_by = k.created_by_email.clone().unwrap_or_else(|| "a former member".to_string());
    view! {
        <tr class="align-top">
            <th scope="row" class="min-w-24 py-2 pr-4 font-medium text-slate-900">{k.name.clone()}</th>
            <td class="py-2 pr-4">
                <code class="whitespace-nowrap font-mono text-slate-800">{format!("{}\u{2026}", k.prefix)}</code>
            </td>
            <td class="py-2 pr-4">
                <ul class="flex flex-wrap gap-1">
                    {k.scopes
                        .iter()
                        .map(|s| {
                            view! {
                                <li class="whitespace-nowrap rounded bg-slate-100 px-1.5 py-0.5 font-mono text-xs text-slate-800">
                                    {s.clone()}
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            </td>
            <td class="py-2 pr-4 text-slate-700">{created_by}</td>
            <td class="whitespace-nowrap py-2 pr-4 text-slate-700"><UtcTime iso=k.created_at.clone()/></td>
            <td class="whitespace-nowrap py-2 pr-4 text-slate-700">
                {match k.last_used_at.clone() {
                    Some(t) => view! { <UtcTime iso=t/> }.into_any(),
                    None => view! { <span class="text-slate-600">"never"</span> }.into_any(),
                }}
            </td>
            <td class="py-2">
                {match k.revoked_at.clone() {
                    None => view! {
                        <span class="rounded bg-green-100 px-1.5 py-0.5 text-xs font-medium text-green-800">"Active"</span>
                    }
                    .into_any(),
                    Some(at) => view! {
                        <span class="rounded bg-slate-200 px-1.5 py-0.5 text-xs font-medium text-slate-800" title=format!("Revoked {at}")>
                            "Revoked"
                        </span>
                    }
                    .into_any(),
                }}
                {k.revoked_at.is_none().then(|| view! {
                    <details class="mt-1.5">
                        <summary class="cursor-pointer whitespace-nowrap rounded text-sm text-red-700 hover:underline focus:outline-none focus-visible:ring-2 focus-visible:ring-red-600">
                            "Revoke"
                        </summary>
                        <ActionForm action=revoke attr:class="mt-2">
                            <input type="hidden" name="org" value=move || slug.get()/>
                            <input type="hidden" name="key_id" value=key_id.clone()/>
                            <p class="mb-2 max-w-48 text-xs text-slate-700">"Requests with this key fail from now on."</p>
                            <button type="submit" class=BUTTON_DANGER>{confirm.clone()}</button>
                        </ActionForm>
                    </details>
                })}
            </td>
        </tr>
    }
}
