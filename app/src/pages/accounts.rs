//! Sign-up and sign-in. Plain forms that post to server functions, so they
//! work with and without JavaScript.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_query_map;

use crate::api::accounts::{signed_in_target, SignIn, SignUp};
use crate::api::security::{finish_passkey_sign_in, start_passkey_sign_in, StepUpWithCode, VerifySignIn};
use crate::components::forms::{action_error, Field, FormError, BUTTON, BUTTON_SECONDARY};
use crate::components::passkey_glue;
use crate::components::resource::page_resource;
use crate::components::suspend::suspend;

/// The centred card the account pages share.
#[component]
fn AuthCard(#[prop(into)] title: String, children: Children) -> impl IntoView {
    view! {
        <Title text=format!("{title} · Alumia")/>
        <main class="flex min-h-screen items-center justify-center bg-slate-50 px-4 py-12">
            <div class="w-full max-w-sm">
                <p class="mb-6 text-center text-xl font-bold tracking-tight text-indigo-800">"Alumia"</p>
                <div class="rounded-lg border border-slate-200 bg-white p-8 shadow-sm">
                    <h1 class="mb-6 text-xl font-bold text-slate-900">{title}</h1>
                    {children()}
                </div>
            </div>
        </main>
    }
}

/// Sends visitors who are already signed in on to their dashboard.
#[component]
fn RedirectIfSignedIn() -> impl IntoView {
    let target = page_resource(|| (), |_| signed_in_target());
    view! {
        <Suspense>
            {move || suspend(async move {
                target.await.ok().flatten().map(|path| view! { <Redirect path=path/> })
            })}
        </Suspense>
    }
}

fn next_param() -> Signal<String> {
    let query = use_query_map();
    Signal::derive(move || query.read().get("next").unwrap_or_default())
}

#[component]
pub fn SignUpPage() -> impl IntoView {
    let action = ServerAction::<SignUp>::new();
    let error = action_error(action);
    let next = next_param();
    let login_href = move || match next.get() {
        n if n.is_empty() => "/login".to_string(),
        n => format!("/login?next={}", crate::model::encode_query_value(&n)),
    };
    view! {
        <RedirectIfSignedIn/>
        <AuthCard title="Create your account">
            <ActionForm action=action attr:class="space-y-4">
                <FormError error=error inline=&["email", "password"]/>
                <input type="hidden" name="next" value=next/>
                <Field label="Email" name="email" kind="email" autocomplete="email" required=true error=error/>
                <Field
                    label="Password"
                    name="password"
                    kind="password"
                    autocomplete="new-password"
                    hint="At least 10 characters."
                    required=true
                    error=error
                />
                <button type="submit" class=format!("{BUTTON} w-full")>"Create account"</button>
            </ActionForm>
            <p class="mt-6 text-center text-sm text-slate-700">
                "Already have an account? "
                <a href=login_href class="font-semibold text-indigo-700 hover:underline">"Sign in"</a>
            </p>
        </AuthCard>
    }
}

#[component]
pub fn SignInPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let error = action_error(action);
    let next = next_param();
    let signup_href = move || match next.get() {
        n if n.is_empty() => "/signup".to_string(),
        n => format!("/signup?next={}", crate::model::encode_query_value(&n)),
    };
    view! {
        <RedirectIfSignedIn/>
        <AuthCard title="Sign in">
            <ActionForm action=action attr:class="space-y-4">
                <FormError error=error/>
                <input type="hidden" name="next" value=next/>
                <Field label="Email" name="email" kind="email" autocomplete="username" required=true/>
                <Field label="Password" name="password" kind="password" autocomplete="current-password" required=true/>
                <button type="submit" class=format!("{BUTTON} w-full")>"Sign in"</button>
            </ActionForm>
            <PasskeySignIn next/>
            <p class="mt-6 text-center text-sm text-slate-700">
                "New to Alumia? "
                <a href=signup_href class="font-semibold text-indigo-700 hover:underline">"Create an account"</a>
            </p>
        </AuthCard>
    }
}

/// "Sign in with a passkey": a discoverable-credential ceremony (needs
/// JavaScript; without it the button says so).
#[component]
fn PasskeySignIn(next: Signal<String>) -> impl IntoView {
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let sign_in = move |_| {
        busy.set(true);
        error.set(None);
        let next = next.get_untracked();
        leptos::task::spawn_local(async move {
            let outcome = async {
                let options = start_passkey_sign_in().await.map_err(|e| e.message)?;
                let credential = passkey_glue::get(options).await?;
                finish_passkey_sign_in(credential, Some(next)).await.map_err(|e| e.message)
            }
            .await;
            busy.set(false);
            match outcome {
                // A full load: the new session's pages start fresh.
                Ok(path) => {
                    let _ = window().location().set_href(&path);
                }
                Err(message) => error.set(Some(message)),
            }
        });
    };
    view! {
        <div class="mt-6 border-t border-slate-200 pt-6">
            {move || error.get().map(|m| view! {
                <p role="alert" class="mb-3 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800">{m}</p>
            })}
            <button type="button" class=format!("{BUTTON_SECONDARY} w-full py-2") disabled=move || busy.get() on:click=sign_in>
                "Sign in with a passkey"
            </button>
        </div>
    }
}

/// `/login/verify`: the second step of a password sign-in when an
/// authenticator app is on. A plain form: works without JavaScript.
#[component]
pub fn VerifySignInPage() -> impl IntoView {
    let action = ServerAction::<VerifySignIn>::new();
    let error = action_error(action);
    let next = next_param();
    let restart = move || error.get().is_some_and(|e| e.details.as_ref().is_some_and(|d| d.get("restart").is_some()));
    view! {
        <AuthCard title="Two-step verification">
            <p class="mb-4 text-sm text-slate-700">
                "Enter the 6-digit code from your authenticator app, or one of your recovery codes."
            </p>
            <ActionForm action=action attr:class="space-y-4">
                <FormError error=error inline=&["code"]/>
                <input type="hidden" name="next" value=next/>
                <Field label="Code" name="code" autocomplete="one-time-code" required=true error=error/>
                <button type="submit" class=format!("{BUTTON} w-full")>"Verify"</button>
            </ActionForm>
            {move || restart().then(|| view! {
                <p class="mt-4 text-sm"><a href="/login" class="font-semibold text-indigo-700 hover:underline">"Sign in again"</a></p>
            })}
        </AuthCard>
    }
}

/// `/step-up?next=…`: where a form posted without JavaScript lands when
/// its action needs a fresh step-up; back to `next` after a good code.
#[component]
pub fn StepUpPage() -> impl IntoView {
    let action = ServerAction::<StepUpWithCode>::new();
    let error = action_error(action);
    let next = next_param();
    let back = move || match next.get() {
        n if n.starts_with('/') && !n.starts_with("//") => n,
        _ => "/".to_string(),
    };
    view! {
        <AuthCard title="Confirm it is you">
            <p class="mb-4 text-sm text-slate-700">
                "This change needs a fresh check with a second factor. Enter the 6-digit code from your authenticator app, or a recovery code. Then submit the form again."
            </p>
            <ActionForm action=action attr:class="space-y-4">
                <FormError error=error inline=&["code"]/>
                <input type="hidden" name="next" value=back/>
                <Field label="Code" name="code" autocomplete="one-time-code" required=true error=error/>
                <button type="submit" class=format!("{BUTTON} w-full")>"Confirm"</button>
            </ActionForm>
            <p class="mt-4 text-sm text-slate-700">
                "Only have a passkey? Passkeys need JavaScript: turn it on and use the dialog. No second factor yet? "
                <a href="/settings/security" class="font-semibold text-indigo-700 hover:underline">"Set one up"</a>
                "."
            </p>
            <p class="mt-2 text-sm"><a href=back class="text-indigo-700 hover:underline">"Back"</a></p>
        </AuthCard>
    }
}
