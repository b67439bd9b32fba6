//! The step-up dialog (SPEC §4). A gated action answers 403 with
//! `details.stepUp = "required"`; `forms::action_error` sees it and asks
//! this dialog, which runs a passkey or code ceremony and then retries the
//! action with the input the user already gave.

use std::sync::Arc;

use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::security::{finish_passkey_step_up, get_step_up_methods, start_passkey_step_up, step_up_with_code};
use crate::components::forms::{BUTTON, BUTTON_SECONDARY, INPUT};
use crate::components::passkey_glue;
use crate::model::{AppError, StepUpMethods};

type Retry = Arc<dyn Fn() + Send + Sync>;

/// Shared by the dialog and every form of the page.
#[derive(Clone, Copy)]
pub struct StepUpPrompt {
    open: RwSignal<bool>,
    retry: StoredValue<Option<Retry>>,
}

impl StepUpPrompt {
    /// Opens the dialog; `retry` runs after a successful ceremony.
    pub fn ask(&self, retry: impl Fn() + Send + Sync + 'static) {
        self.retry.set_value(Some(Arc::new(retry)));
        self.open.set(true);
    }
}

/// "10 minutes", "30 seconds".
fn duration(seconds: u32) -> String {
    match seconds {
        s if s % 60 == 0 && s >= 120 => format!("{} minutes", s / 60),
        60 => "1 minute".to_string(),
        s => format!("{s} seconds"),
    }
}

/// Whether an error asks for a step-up.
pub fn is_step_up_required(err: &AppError) -> bool {
    err.details.as_ref().and_then(|d| d.get("stepUp")).and_then(|v| v.as_str()) == Some("required")
}

/// Called once by the app, above every page and the dialog.
pub fn provide_step_up_prompt() {
    provide_context(StepUpPrompt { open: RwSignal::new(false), retry: StoredValue::new(None) });
}

/// Renders the dialog while it is open.
#[component]
pub fn StepUpDialog() -> impl IntoView {
    let prompt = use_context::<StepUpPrompt>();
    move || prompt.filter(|p| p.open.get()).map(|prompt| view! { <DialogBody prompt/> })
}

#[component]
fn DialogBody(prompt: StepUpPrompt) -> impl IntoView {
    let methods = RwSignal::new(None::<Result<StepUpMethods, AppError>>);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let code = NodeRef::<html::Input>::new();
    spawn_local(async move { methods.set(Some(get_step_up_methods().await)) });

    let done = move || {
        prompt.open.set(false);
        if let Some(retry) = prompt.retry.get_value() {
            retry();
        }
    };
    let cancel = move |_| prompt.open.set(false);
    let use_passkey = move |_| {
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let outcome = async {
                let options = start_passkey_step_up().await.map_err(|e| e.message)?;
                let credential = passkey_glue::get(options).await?;
                finish_passkey_step_up(credential).await.map_err(|e| e.message)
            }
            .await;
            busy.set(false);
            match outcome {
                Ok(()) => done(),
                Err(message) => error.set(Some(message)),
            }
        });
    };
    let submit_code = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(input) = code.get_untracked() else { return };
        let value = input.value();
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let outcome = step_up_with_code(value, None).await;
            busy.set(false);
            match outcome {
                Ok(()) => done(),
                Err(e) => error.set(Some(e.message)),
            }
        });
    };

    view! {
        <div class="fixed inset-0 z-40 flex items-center justify-center bg-slate-900/50 p-4">
            <div
                role="dialog"
                aria-modal="true"
                aria-labelledby="step-up-title"
                aria-describedby="step-up-intro"
                class="w-full max-w-md rounded-lg bg-white p-6 shadow-xl"
            >
                <h2 id="step-up-title" class="text-lg font-semibold text-slate-900">"Confirm it is you"</h2>
                <p id="step-up-intro" class="mt-1 text-sm text-slate-700">
                    "This change needs a fresh check with your passkey or authenticator app."
                    {move || methods.get().and_then(|m| m.ok()).map(|m| format!(" It lasts {}.", duration(m.window_seconds)))}
                </p>
                {move || {
                    error.get().map(|m| view! {
                        <p role="alert" class="mt-3 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800">{m}</p>
                    })
                }}
                {move || match methods.get() {
                    None => view! { <p class="mt-4 text-sm text-slate-600">"Loading…"</p> }.into_any(),
                    Some(Err(e)) => view! { <p role="alert" class="mt-4 text-sm text-red-800">{e.message}</p> }.into_any(),
                    Some(Ok(m)) if !m.passkey && !m.totp => view! {
                        <p class="mt-4 text-sm text-slate-800">
                            "Your account has no passkey or authenticator app yet. Add one first: it protects changes like this one."
                        </p>
                        <a href="/settings/security" class=format!("{BUTTON} mt-3 inline-block")>"Set up a sign-in factor"</a>
                    }.into_any(),
                    Some(Ok(m)) => view! {
                        {m.passkey.then(|| view! {
                            <button type="button" class=format!("{BUTTON} mt-4 w-full") disabled=move || busy.get() on:click=use_passkey>
                                "Use your passkey"
                            </button>
                        })}
                        {m.totp.then(|| view! {
                            <form class="mt-4 space-y-2" on:submit=submit_code>
                                <label for="step-up-code" class="block text-sm font-medium text-slate-800">
                                    "Authenticator code or recovery code"
                                </label>
                                <input id="step-up-code" node_ref=code name="code" autocomplete="one-time-code" inputmode="text" required class=INPUT/>
                                <button type="submit" class=BUTTON disabled=move || busy.get()>"Confirm"</button>
                            </form>
                        })}
                    }.into_any(),
                }}
                <div class="mt-6 flex justify-end">
                    <button type="button" class=BUTTON_SECONDARY on:click=cancel>"Cancel"</button>
                </div>
            </div>
        </div>
    }
}
