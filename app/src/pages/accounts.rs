//! Sign-up and sign-in. Plain forms that post to server functions, so they
//! work with and without JavaScript.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_query_map;

use crate::api::accounts::{signed_in_target, SignIn, SignUp};
use crate::components::forms::{action_error, Field, FormError, BUTTON};

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
    let target = Resource::new(|| (), |_| signed_in_target());
    view! {
        <Suspense>
            {move || Suspend::new(async move {
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
            <p class="mt-6 text-center text-sm text-slate-700">
                "New to Alumia? "
                <a href=signup_href class="font-semibold text-indigo-700 hover:underline">"Create an account"</a>
            </p>
        </AuthCard>
    }
}
