//! `/settings/security`: password, passkeys, authenticator app (TOTP),
//! recovery codes and sessions. Changes here are account-security changes:
//! they need a fresh step-up, except adding the first factor, which asks
//! for the password instead.

use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::components::Redirect;

use crate::api::accounts::{get_security_page, SignOutOtherSessions};
use crate::api::security::{
    finish_passkey_registration, start_passkey_registration, ChangePassword, ConfirmTotpEnrolment, DeletePasskey,
    DisableTotp, RegenerateRecoveryCodes, RenamePasskey, StartTotpEnrolment,
};
use crate::components::forms::{action_error, Field, FormError, BUTTON, BUTTON_DANGER, BUTTON_SECONDARY, CARD, INPUT};
use crate::components::passkey_glue;
use crate::components::resource::page_resource;
use crate::components::step_up::{is_step_up_required, StepUpPrompt};
use crate::components::suspend::suspend;
use crate::components::time::UtcTime;
use crate::model::{AppError, ErrorCode, PasskeyView, SecurityPage as Page};

#[component]
pub fn SecurityPage() -> impl IntoView {
    let others = ServerAction::<SignOutOtherSessions>::new();
    let others_error = action_error(others);
    let password = ServerAction::<ChangePassword>::new();
    let rename = ServerAction::<RenamePasskey>::new();
    let delete = ServerAction::<DeletePasskey>::new();
    let start_totp = ServerAction::<StartTotpEnrolment>::new();
    let confirm_totp = ServerAction::<ConfirmTotpEnrolment>::new();
    let disable_totp = ServerAction::<DisableTotp>::new();
    let regenerate = ServerAction::<RegenerateRecoveryCodes>::new();
    // Bumped when a passkey is added (that ceremony is not an action).
    let added = RwSignal::new(0u32);
    // Outlives the sections, which are rebuilt when the page reloads.
    let passkey_message = RwSignal::new(None::<Result<String, String>>);
    let page = page_resource(
        move || {
            (
                others.version().get(),
                rename.version().get(),
                delete.version().get(),
                confirm_totp.version().get(),
                disable_totp.version().get(),
                regenerate.version().get(),
                added.get(),
            )
        },
        |_| get_security_page(),
    );
    view! {
        <Title text="Security · Alumia"/>
        <main class="mx-auto max-w-3xl px-6 py-10">
            <a href="/" class="text-sm font-semibold text-indigo-700 hover:underline">"← Back to dashboard"</a>
            <h1 class="mt-4 text-2xl font-bold text-slate-900">"Security"</h1>
            <p class="mt-1 text-slate-700">"How you sign in, and where you are signed in."</p>
            <Suspense fallback=|| view! { <p class="mt-6 text-slate-600">"Loading…"</p> }>
                {move || suspend(async move {
                    match page.await {
                        Err(e) if e.code == ErrorCode::Unauthorized => view! { <Redirect path="/login?next=/settings/security"/> }.into_any(),
                        Err(e) => view! { <p role="alert" class="mt-6 text-red-800">{e.message}</p> }.into_any(),
                        Ok(p) => {
                            let has_factor = !p.passkeys.is_empty() || p.totp_enabled;
                            view! {
                                <AccountSection page=p.clone() action=password/>
                                <PasskeysSection passkeys=p.passkeys.clone() has_factor rename delete added message=passkey_message/>
                                <TotpSection enabled=p.totp_enabled has_factor start=start_totp confirm=confirm_totp disable=disable_totp/>
                                <RecoveryCodesSection left=p.recovery_codes_left has_factor action=regenerate/>
                                <SessionsSection page=p others error=others_error/>
                            }.into_any()
                        }
                    }
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn AccountSection(page: Page, action: ServerAction<ChangePassword>) -> impl IntoView {
    let error = action_error(action);
    view! {
        <section class=format!("{CARD} mt-6")>
            <h2 class="text-base font-semibold text-slate-900">"Account"</h2>
            <p class="mt-1 text-sm text-slate-700">"Signed in as "<strong>{page.email}</strong>"."</p>
            {page.step_up.stepped_up_until.map(|until| view! {
                <p class="mt-1 text-sm text-slate-700">"Confirmed with a second factor until "<UtcTime iso=until/>"."</p>
            })}
            <details class="mt-4">
                <summary class="cursor-pointer text-sm font-semibold text-indigo-700">"Change password"</summary>
                <ActionForm action attr:class="mt-3 max-w-md space-y-3">
                    <FormError error inline=&["new_password"]/>
                    <Field label="New password" name="new_password" kind="password" required=true error autocomplete="new-password"/>
                    <button type="submit" class=BUTTON>"Change password"</button>
                </ActionForm>
                {move || action.value().get().and_then(|r| r.ok()).map(|_| view! {
                    <p role="status" class="mt-2 text-sm text-green-800">"Password changed."</p>
                })}
            </details>
        </section>
    }
}

/// The password field shown when a first factor is being added.
#[component]
fn PasswordForFirstFactor(has_factor: bool, id: &'static str) -> impl IntoView {
    (!has_factor).then(|| {
        view! {
            <div class="max-w-md">
                <label for=id class="block text-sm font-medium text-slate-800">"Your password"</label>
                <input id=id name="password" type="password" autocomplete="current-password" required class=INPUT/>
                <p class="mt-1 text-xs text-slate-600">"Needed to add your first sign-in factor."</p>
            </div>
        }
    })
}

#[component]
fn PasskeysSection(
    passkeys: Vec<PasskeyView>,
    has_factor: bool,
    rename: ServerAction<RenamePasskey>,
    delete: ServerAction<DeletePasskey>,
    added: RwSignal<u32>,
    message: RwSignal<Option<Result<String, String>>>,
) -> impl IntoView {
    let rename_error = action_error(rename);
    let delete_error = action_error(delete);
    let prompt = use_context::<StepUpPrompt>();
    let name = NodeRef::<html::Input>::new();
    let password = NodeRef::<html::Input>::new();
    let busy = RwSignal::new(false);

    // Registration is a ceremony, not a form post: start, let the browser
    // create the credential, finish.
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        register_passkey(Registration { name, password, busy, message, added, prompt });
    };

    view! {
        <section class=format!("{CARD} mt-6")>
            <h2 class="text-base font-semibold text-slate-900">"Passkeys"</h2>
            <p class="mt-1 text-sm text-slate-700">
                "Sign in with your fingerprint, face or device PIN, and confirm sensitive changes without a code."
            </p>
            <FormError error=rename_error/>
            <FormError error=delete_error/>
            {if passkeys.is_empty() {
                view! { <p class="mt-3 text-sm text-slate-600">"No passkeys yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="mt-3 divide-y divide-slate-100 text-sm" aria-label="Your passkeys">
                        {passkeys.into_iter().map(|k| view! { <PasskeyRow passkey=k rename delete/> }).collect_view()}
                    </ul>
                }.into_any()
            }}
            <form class="mt-4 space-y-3" on:submit=on_submit>
                <div class="max-w-md">
                    <label for="passkey-name" class="block text-sm font-medium text-slate-800">"Passkey name"</label>
                    <input id="passkey-name" node_ref=name name="name" required maxlength="60" placeholder="Work laptop" class=INPUT/>
                </div>
                {(!has_factor).then(|| view! {
                    <div class="max-w-md">
                        <label for="passkey-password" class="block text-sm font-medium text-slate-800">"Your password"</label>
                        <input id="passkey-password" node_ref=password name="password" type="password" autocomplete="current-password" required class=INPUT/>
                        <p class="mt-1 text-xs text-slate-600">"Needed to add your first sign-in factor."</p>
                    </div>
                })}
                <button type="submit" class=BUTTON disabled=move || busy.get()>"Add a passkey"</button>
            </form>
            {move || message.get().map(|m| match m {
                Ok(text) => view! { <p role="status" class="mt-2 text-sm text-green-800">{text}</p> }.into_any(),
                Err(text) => view! { <p role="alert" class="mt-2 text-sm text-red-800">{text}</p> }.into_any(),
            })}
        </section>
    }
}

/// The passkey form's state, kept so a step-up can run it again.
#[derive(Clone, Copy)]
struct Registration {
    name: NodeRef<html::Input>,
    password: NodeRef<html::Input>,
    busy: RwSignal<bool>,
    message: RwSignal<Option<Result<String, String>>>,
    added: RwSignal<u32>,
    prompt: Option<StepUpPrompt>,
}

/// Starts the ceremony with what is typed; after a step-up, runs again.
fn register_passkey(r: Registration) {
    let label = r.name.get_untracked().map(|i| i.value()).unwrap_or_default();
    let password = r.password.get_untracked().map(|i| i.value()).filter(|p| !p.is_empty());
    r.busy.set(true);
    r.message.set(None);
    spawn_local(async move {
        let outcome = async {
            let options = start_passkey_registration(password).await?;
            let credential = passkey_glue::create(options).await.map_err(AppError::bad_request)?;
            finish_passkey_registration(label, credential).await
        }
        .await;
        r.busy.set(false);
        match outcome {
            Ok(view) => {
                r.message.set(Some(Ok(format!("Passkey \u{201c}{}\u{201d} added.", view.name))));
                r.added.update(|n| *n += 1);
            }
            Err(e) if is_step_up_required(&e) && r.prompt.is_some() => {
                if let Some(prompt) = r.prompt {
                    prompt.ask(move || register_passkey(r));
                }
            }
            Err(e) => r.message.set(Some(Err(e.message))),
        }
    });
}

#[component]
fn PasskeyRow(
    passkey: PasskeyView,
    rename: ServerAction<RenamePasskey>,
    delete: ServerAction<DeletePasskey>,
) -> impl IntoView {
    let id = passkey.id.to_string();
    let delete_id = id.clone();
    let rename_id = format!("rename-{}", passkey.id);
    let name = passkey.name.clone();
    view! {
        <li class="py-3">
            <p class="font-medium text-slate-900">{passkey.name.clone()}</p>
            <p class="text-slate-600">
                "Added "<UtcTime iso=passkey.created_at.clone()/>" · "
                {match passkey.last_used_at.clone() {
                    Some(t) => view! { "last used "<UtcTime iso=t/> }.into_any(),
                    None => view! { "never used" }.into_any(),
                }}
            </p>
            <div class="mt-2 flex flex-wrap gap-3">
                <details>
                    <summary class="cursor-pointer text-sm font-medium text-indigo-700">{format!("Rename {}", passkey.name)}</summary>
                    <ActionForm action=rename attr:class="mt-2 flex flex-wrap items-end gap-2">
                        <input type="hidden" name="passkey_id" value=id/>
                        <div>
                            <label for=rename_id.clone() class="block text-sm font-medium text-slate-800">"New name"</label>
                            <input id=rename_id name="name" required maxlength="60" value=passkey.name.clone() class=INPUT/>
                        </div>
                        <button type="submit" class=BUTTON_SECONDARY>"Save name"</button>
                    </ActionForm>
                </details>
                <details>
                    <summary class="cursor-pointer text-sm font-medium text-red-700">{format!("Delete {name}")}</summary>
                    <ActionForm action=delete attr:class="mt-2">
                        <input type="hidden" name="passkey_id" value=delete_id/>
                        <p class="text-sm text-slate-700">"You will no longer be able to sign in with this passkey."</p>
                        <button type="submit" class=format!("{BUTTON_DANGER} mt-2")>"Delete passkey"</button>
                    </ActionForm>
                </details>
            </div>
        </li>
    }
}

#[component]
fn TotpSection(
    enabled: bool,
    has_factor: bool,
    start: ServerAction<StartTotpEnrolment>,
    confirm: ServerAction<ConfirmTotpEnrolment>,
    disable: ServerAction<DisableTotp>,
) -> impl IntoView {
    let start_error = action_error(start);
    let confirm_error = action_error(confirm);
    let disable_error = action_error(disable);
    view! {
        <section class=format!("{CARD} mt-6")>
            <h2 class="text-base font-semibold text-slate-900">"Authenticator app"</h2>
            <p class="mt-1 text-sm text-slate-700">
                "Six-digit codes from an app such as 1Password, Google Authenticator or Aegis, asked after your password."
            </p>
            {if enabled {
                view! {
                    <p class="mt-3 text-sm font-medium text-green-800">"On"</p>
                    <details class="mt-2">
                        <summary class="cursor-pointer text-sm font-medium text-red-700">"Turn off the authenticator app"</summary>
                        <ActionForm action=disable attr:class="mt-2">
                            <FormError error=disable_error/>
                            <p class="text-sm text-slate-700">"Sign-in will no longer ask for a code."</p>
                            <button type="submit" class=format!("{BUTTON_DANGER} mt-2")>"Turn off"</button>
                        </ActionForm>
                    </details>
                }.into_any()
            } else {
                view! {
                    <ActionForm action=start attr:class="mt-4 space-y-3">
                        <FormError error=start_error inline=&["password"]/>
                        <PasswordForFirstFactor has_factor id="totp-password"/>
                        <button type="submit" class=BUTTON>"Set up an authenticator app"</button>
                    </ActionForm>
                    {move || start.value().get().and_then(|r| r.ok()).map(|enrol| view! {
                        <div class="mt-4 rounded-md border border-slate-200 p-4">
                            <p class="text-sm text-slate-800">"Scan this code with your app, or type the key in by hand."</p>
                            <div class="mt-3 w-52" role="img" aria-label="QR code for your authenticator app" inner_html=enrol.qr_svg.clone()></div>
                            <p class="mt-3 text-sm text-slate-800">"Key: "<code class="font-mono break-all" data-testid="totp-secret">{enrol.secret.clone()}</code></p>
                            <p class="mt-1 text-xs text-slate-600 break-all"><a class="underline" href=enrol.otpauth_uri.clone()>"Open in an authenticator app on this device"</a></p>
                            <ActionForm action=confirm attr:class="mt-4 max-w-xs space-y-3">
                                <FormError error=confirm_error inline=&["code"]/>
                                <Field label="Code from the app" name="code" required=true error=confirm_error autocomplete="one-time-code"/>
                                <button type="submit" class=BUTTON>"Turn on"</button>
                            </ActionForm>
                        </div>
                    })}
                }.into_any()
            }}
            <RecoveryCodesShown codes=Signal::derive(move || confirm.value().get().and_then(|r| r.ok()).map(|c| c.codes))/>
        </section>
    }
}

#[component]
fn RecoveryCodesSection(left: i64, has_factor: bool, action: ServerAction<RegenerateRecoveryCodes>) -> impl IntoView {
    let error = action_error(action);
    has_factor.then(|| view! {
        <section class=format!("{CARD} mt-6")>
            <h2 class="text-base font-semibold text-slate-900">"Recovery codes"</h2>
            <p class="mt-1 text-sm text-slate-700">
                {match left {
                    0 => "None yet. ".to_string(),
                    n => format!("{n} unused. "),
                }}
                "Each works once, in place of an authenticator code or passkey, if you lose your device. Keep them somewhere safe."
            </p>
            <ActionForm action attr:class="mt-3">
                <FormError error/>
                <button type="submit" class=BUTTON_SECONDARY>"Make new recovery codes"</button>
            </ActionForm>
            <RecoveryCodesShown codes=Signal::derive(move || action.value().get().and_then(|r| r.ok()).map(|c| c.codes))/>
        </section>
    })
}

/// Codes shown once, right after they were made.
#[component]
fn RecoveryCodesShown(codes: Signal<Option<Vec<String>>>) -> impl IntoView {
    move || {
        codes.get().map(|codes| view! {
            <div role="status" class="mt-4 rounded-md border border-amber-300 bg-amber-50 p-4">
                <p class="text-sm font-semibold text-amber-950">"Your recovery codes. Save them now: they will not be shown again."</p>
                <ul class="mt-2 grid grid-cols-2 gap-1 font-mono text-sm text-slate-900" aria-label="Recovery codes">
                    {codes.into_iter().map(|c| view! { <li>{c}</li> }).collect_view()}
                </ul>
            </div>
        })
    }
}

#[component]
fn SessionsSection(
    page: Page,
    others: ServerAction<SignOutOtherSessions>,
    error: Signal<Option<AppError>>,
) -> impl IntoView {
    let other_count = page.sessions.iter().filter(|s| !s.current).count();
    view! {
        <section class=format!("{CARD} mt-6")>
            <h2 class="text-base font-semibold text-slate-900">"Sessions"</h2>
            <ul class="mt-3 divide-y divide-slate-100 text-sm">
                {page.sessions.into_iter().map(|s| view! {
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
                <FormError error/>
                <button type="submit" class=BUTTON_SECONDARY disabled=other_count == 0>"Sign out other sessions"</button>
            </ActionForm>
            {move || others.value().get().and_then(|r| r.ok()).map(|n| view! {
                <p role="status" class="mt-2 text-sm text-green-800">{format!("Signed out {n} other session(s).")}</p>
            })}
        </section>
    }
}
