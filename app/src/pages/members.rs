//! Members: who belongs to the org, invite links, roles, removal.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use crate::api::members::{
    get_invite_preview, get_members_page, AcceptInvite, ChangeMemberRole, CreateInvite, RemoveMember, RevokeInvite,
};
use crate::components::forms::{action_error, loaded, FormError, BUTTON, BUTTON_DANGER, BUTTON_SECONDARY, CARD, INPUT};
use crate::components::layout::{use_org_slug, PageHeader};
use crate::components::resource::page_resource;
use crate::components::suspend::suspend;
use crate::components::time::UtcTime;
use crate::model::{MemberView, Role};

#[component]
pub fn MembersPage() -> impl IntoView {
    let slug = use_org_slug();
    let invite = ServerAction::<CreateInvite>::new();
    let change = ServerAction::<ChangeMemberRole>::new();
    let remove = ServerAction::<RemoveMember>::new();
    let revoke = ServerAction::<RevokeInvite>::new();
    let page = page_resource(
        move || {
            (slug.get(), invite.version().get(), change.version().get(), remove.version().get(), revoke.version().get())
        },
        |(slug, ..)| get_members_page(slug),
    );
    let invite_error = action_error(invite);
    let change_error = action_error(change);
    let remove_error = action_error(remove);
    let revoke_error = action_error(revoke);
    view! {
        <PageHeader title="Members" intro="People in this organization and what they may do."/>
        <FormError error=change_error/>
        <FormError error=remove_error/>
        <FormError error=revoke_error/>
        <Suspense fallback=|| view! { <p class="text-slate-600">"Loading…"</p> }>
            {move || suspend(async move {
                loaded(page.await, |p| {
                    let manage = p.viewer_role >= Role::Admin;
                    let viewer_role = p.viewer_role;
                    let viewer_id = p.viewer_id;
                    let invites = p.invites.clone();
                    view! {
                        <section class=CARD>
                            <h2 class="text-base font-semibold text-slate-900">"Members"</h2>
                            <div class="mt-3 overflow-x-auto">
                                <table class="min-w-full text-left text-sm">
                                    <thead class="border-b border-slate-200 text-slate-600">
                                        <tr>
                                            <th scope="col" class="py-2 pr-4 font-medium">"Email"</th>
                                            <th scope="col" class="py-2 pr-4 font-medium">"Role"</th>
                                            <th scope="col" class="py-2 pr-4 font-medium">"Joined"</th>
                                            <th scope="col" class="py-2 font-medium"><span class="sr-only">"Actions"</span></th>
                                        </tr>
                                    </thead>
                                    <tbody class="divide-y divide-slate-100">
                                        {p.members
                                            .into_iter()
                                            .map(|m| view! { <MemberRow m=m viewer_id=viewer_id viewer_role=viewer_role manage=manage change=change remove=remove/> })
                                            .collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        </section>
                        {manage.then(|| view! {
                            <section class=format!("{CARD} mt-6")>
                                <h2 class="text-base font-semibold text-slate-900">"Invite people"</h2>
                                <p class="mt-1 text-sm text-slate-700">
                                    "Create a link and send it to the person you invite. It works once and expires in 7 days."
                                </p>
                                <ActionForm action=invite attr:class="mt-4 flex flex-wrap items-end gap-3">
                                    <input type="hidden" name="org" value=move || slug.get()/>
                                    <div>
                                        <label for="invite-role" class="block text-sm font-medium text-slate-800">"Role"</label>
                                        <select id="invite-role" name="role" class=INPUT>
                                            <option value="member" selected>"member"</option>
                                            <option value="admin">"admin"</option>
                                            {(viewer_role == Role::Owner).then(|| view! { <option value="owner">"owner"</option> })}
                                        </select>
                                    </div>
                                    <button type="submit" class=BUTTON>"Create invite link"</button>
                                </ActionForm>
                                <div class="mt-3"><FormError error=invite_error/></div>
                                <CreatedInviteLink action=invite/>
                                {(!invites.is_empty()).then(|| view! {
                                    <h3 class="mt-6 text-sm font-semibold text-slate-900">"Pending invites"</h3>
                                    <ul class="mt-2 divide-y divide-slate-100 text-sm">
                                        {invites.into_iter().map(|i| view! {
                                            <li class="flex items-center justify-between py-2">
                                                <span class="text-slate-800">{i.role.as_str()}" · expires "{i.expires_at.chars().take(10).collect::<String>()}</span>
                                                <ActionForm action=revoke>
                                                    <input type="hidden" name="org" value=move || slug.get()/>
                                                    <input type="hidden" name="invite_id" value=i.id.to_string()/>
                                                    <button type="submit" class=BUTTON_SECONDARY>"Revoke invite"</button>
                                                </ActionForm>
                                            </li>
                                        }).collect_view()}
                                    </ul>
                                })}
                            </section>
                        })}
                    }
                })
            })}
        </Suspense>
    }
}

/// The invite link of the last successful "Create invite link", shown once.
#[component]
fn CreatedInviteLink(action: ServerAction<CreateInvite>) -> impl IntoView {
    move || {
        action.value().get().and_then(|r| r.ok()).map(|created| {
            view! {
                <div class="mt-4 rounded-md border border-green-200 bg-green-50 p-4" role="status">
                    <label for="invite-link" class="block text-sm font-medium text-green-900">
                        {format!("Invite link ({}) — copy it now, it is shown only once", created.role.as_str())}
                    </label>
                    <input id="invite-link" readonly value=created.url.clone() class=INPUT/>
                </div>
            }
        })
    }
}

#[component]
fn MemberRow(
    m: MemberView,
    viewer_id: uuid::Uuid,
    viewer_role: Role,
    manage: bool,
    change: ServerAction<ChangeMemberRole>,
    remove: ServerAction<RemoveMember>,
) -> impl IntoView {
    let slug = use_org_slug();
    let is_self = m.user_id == viewer_id;
    // Owners are managed by owners only.
    let can_manage = manage && (m.role != Role::Owner || viewer_role == Role::Owner);
    let select_id = format!("role-{}", m.user_id);
    let user_id = m.user_id.to_string();
    let user_id2 = user_id.clone();
    let email = m.email.clone();
    view! {
        <tr>
            <td class="py-2 pr-4 text-slate-900">{m.email.clone()}{is_self.then_some(" (you)")}</td>
            <td class="py-2 pr-4">
                {if can_manage {
                    view! {
                        <ActionForm action=change attr:class="flex items-center gap-2">
                            <input type="hidden" name="org" value=move || slug.get()/>
                            <input type="hidden" name="user_id" value=user_id.clone()/>
                            <label for=select_id.clone() class="sr-only">{format!("Role of {}", m.email)}</label>
                            <select id=select_id name="role" class="rounded-md border border-slate-300 px-2 py-1 text-sm">
                                {Role::ALL
                                    .iter()
                                    .filter(|r| **r != Role::Owner || viewer_role == Role::Owner)
                                    .map(|r| view! { <option value=r.as_str() selected=*r == m.role>{r.as_str()}</option> })
                                    .collect_view()}
                            </select>
                            <button type="submit" class=BUTTON_SECONDARY>"Save role"</button>
                        </ActionForm>
                    }.into_any()
                } else {
                    view! { <span class="text-slate-800">{m.role.as_str()}</span> }.into_any()
                }}
            </td>
            <td class="py-2 pr-4 text-slate-600"><UtcTime iso=m.joined_at.clone()/></td>
            <td class="py-2 text-right">
                {(can_manage || is_self).then(|| view! {
                    <details class="inline-block text-left">
                        <summary class="cursor-pointer text-sm text-red-700 hover:underline">{if is_self { "Leave" } else { "Remove" }}</summary>
                        <ActionForm action=remove attr:class="mt-2">
                            <input type="hidden" name="org" value=move || slug.get()/>
                            <input type="hidden" name="user_id" value=user_id2.clone()/>
                            <button type="submit" class=BUTTON_DANGER>
                                {if is_self { "Confirm: leave this organization".to_string() } else { format!("Confirm: remove {email}") }}
                            </button>
                        </ActionForm>
                    </details>
                })}
            </td>
        </tr>
    }
}

/// `/invite/<token>`: who invites you to what, and the button to join.
#[component]
pub fn InvitePage() -> impl IntoView {
    let params = use_params_map();
    let token = move || params.read().get("token").unwrap_or_default();
    let preview = page_resource(token, get_invite_preview);
    let accept = ServerAction::<AcceptInvite>::new();
    let error = action_error(accept);
    view! {
        <Title text="Invitation · Alumia"/>
        <main class="flex min-h-screen items-center justify-center bg-slate-50 px-4 py-12">
            <div class=format!("{CARD} w-full max-w-md")>
                <h1 class="text-xl font-bold text-slate-900">"Invitation"</h1>
                <Suspense fallback=|| view! { <p class="mt-2 text-slate-600">"Loading…"</p> }>
                    {move || suspend(async move {
                        loaded(preview.await, |p| {
                            let next = format!("/invite/{}", token());
                            view! {
                                <p class="mt-2 text-slate-800">
                                    "You are invited to join "<strong>{p.org_name.clone()}</strong>" as "{p.role.as_str()}"."
                                </p>
                                {match p.signed_in_as {
                                    Some(email) => view! {
                                        <p class="mt-2 text-sm text-slate-600">"Signed in as "{email}</p>
                                        <ActionForm action=accept attr:class="mt-6 space-y-3">
                                            <FormError error=error/>
                                            <input type="hidden" name="token" value=token()/>
                                            <button type="submit" class=BUTTON>"Accept invitation"</button>
                                        </ActionForm>
                                    }.into_any(),
                                    None => view! {
                                        <p class="mt-4 text-sm text-slate-700">"Sign in or create an account to accept."</p>
                                        <div class="mt-4 flex gap-3">
                                            <A href=format!("/signup?next={next}") attr:class=BUTTON>"Create account"</A>
                                            <A href=format!("/login?next={next}") attr:class=BUTTON_SECONDARY>"Sign in"</A>
                                        </div>
                                    }.into_any(),
                                }}
                            }
                        })
                    })}
                </Suspense>
            </div>
        </main>
    }
}
