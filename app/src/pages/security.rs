//! `/settings/security`: the account's sessions. Passkeys and TOTP arrive
//! with the step-up release.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;

use crate::api::accounts::{get_security_page, SignOutOtherSessions};
use crate::components::forms::{action_error, FormError, BUTTON_SECONDARY, CARD};
use crate::components::time::UtcTime;
use crate::model::ErrorCode;

#[component]
pub fn SecurityPage() -> impl IntoView {
    let others = ServerAction::<SignOutOtherSessions>::new();
    let error = action_error(others);
    let page = Resource::new(move || others.version().get(), |_| get_security_page());
    view! {
        <Title text="Security · Alumia"/>
        <main class="mx-auto max-w-3xl px-6 py-10">
            <a href="/" class="text-sm font-semibold text-indigo-700 hover:underline">"← Back to dashboard"</a>
            <h1 class="mt-4 text-2xl font-bold text-slate-900">"Security"</h1>
            <p class="mt-1 text-slate-700">"How you sign in, and where you are signed in."</p>
            <Suspense fallback=|| view! { <p class="mt-6 text-slate-600">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Err(e) if e.code == ErrorCode::Unauthorized => view! { <Redirect path="/login?next=/settings/security"/> }.into_any(),
                        Err(e) => view! { <p role="alert" class="mt-6 text-red-800">{e.message}</p> }.into_any(),
                        Ok(p) => {
                            let other_count = p.sessions.iter().filter(|s| !s.current).count();
                            view! {
                                <section class=format!("{CARD} mt-6")>
                                    <h2 class="text-base font-semibold text-slate-900">"Account"</h2>
                                    <p class="mt-1 text-sm text-slate-700">"Signed in as "<strong>{p.email}</strong>" with a password."</p>
                                </section>
                                <section class=format!("{CARD} mt-6")>
                                    <h2 class="text-base font-semibold text-slate-900">"Two-factor authentication"</h2>
                                    <p class="mt-1 text-sm text-slate-700">
                                        "Passkeys and authenticator-app codes (TOTP) will be set up here. They protect sign-in and confirm sensitive changes such as minting API keys."
                                    </p>
                                </section>
                                <section class=format!("{CARD} mt-6")>
                                    <h2 class="text-base font-semibold text-slate-900">"Sessions"</h2>
                                    <ul class="mt-3 divide-y divide-slate-100 text-sm">
                                        {p.sessions.into_iter().map(|s| view! {
                                            <li class="py-2">
                                                <p class="text-slate-900">
                                                    {s.user_agent.clone().unwrap_or_else(|| "Unknown browser".into())}
                                                    {s.current.then(|| view! { <span class="ml-2 rounded bg-green-100 px-1.5 py-0.5 text-xs font-medium text-green-800">"This session"</span> })}
                                                </p>
                                                <p class="text-slate-600">
                                                    {s.ip.clone().unwrap_or_default()}" · last active "
                                                    <UtcTime iso=s.last_seen_at.clone()/>
                                                </p>
                                            </li>
                                        }).collect_view()}
                                    </ul>
                                    <ActionForm action=others attr:class="mt-4 space-y-2">
                                        <FormError error=error/>
                                        <button type="submit" class=BUTTON_SECONDARY disabled=other_count == 0>"Sign out other sessions"</button>
                                    </ActionForm>
                                    {move || others.value().get().and_then(|r| r.ok()).map(|n| view! {
                                        <p role="status" class="mt-2 text-sm text-green-800">{format!("Signed out {n} other session(s).")}</p>
                                    })}
                                </section>
                            }.into_any()
                        }
                    }
                })}
            </Suspense>
        </main>
    }
}
