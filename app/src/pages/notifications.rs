//! Notifications (SPEC §12): what needs the member's attention, newest
//! first, with its read state (theirs). New ones appear without a reload:
//! the frame's live stream bumps `NotificationsChanged`.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::notifications::{list_notifications, MarkAllNotificationsRead, MarkNotificationRead};
use crate::components::forms::{action_error, loaded, FormError, BUTTON_SECONDARY, CARD};
use crate::components::layout::{use_org_slug, NotificationsChanged, PageHeader};
use crate::components::resource::page_resource;
use crate::components::suspend::suspend;
use crate::components::time::UtcTime;
use crate::model::NotificationView;

#[component]
pub fn NotificationsPage() -> impl IntoView {
    let slug = use_org_slug();
    let query = use_query_map();
    let unread_only = Signal::derive(move || query.read().get("unread").is_some_and(|v| v == "1" || v == "true"));
    let changed = use_context::<NotificationsChanged>().map(|c| c.0);
    let mark = ServerAction::<MarkNotificationRead>::new();
    let mark_all = ServerAction::<MarkAllNotificationsRead>::new();
    // A mark changes the badge too.
    Effect::new(move |_| {
        let versions = (mark.version().get(), mark_all.version().get());
        if versions != (0, 0) {
            if let Some(changed) = changed {
                changed.update(|n| *n += 1);
            }
        }
    });
    let page = page_resource(
        move || {
            (slug.get(), unread_only.get(), changed.map(|c| c.get()), mark.version().get(), mark_all.version().get())
        },
        |(slug, unread, ..)| list_notifications(slug, unread),
    );
    let mark_error = action_error(mark);
    let all_error = action_error(mark_all);
    let base = move || format!("/{}/notifications", slug.get());
    let tab = |active: bool| {
        if active {
            "rounded-md bg-indigo-50 px-3 py-1.5 text-sm font-semibold text-indigo-800"
        } else {
            "rounded-md px-3 py-1.5 text-sm text-slate-700 hover:bg-slate-100"
        }
    };

    view! {
        <PageHeader title="Notifications" intro="What needs your attention: failed schedules, budgets and credits. Read state is yours alone."/>
        <section class=CARD>
            <div class="flex flex-wrap items-center justify-between gap-3">
                <nav aria-label="Show" class="flex gap-1">
                    <a href=base aria-current=move || (!unread_only.get()).then_some("page") class=move || tab(!unread_only.get())>"All"</a>
                    <a href=move || format!("{}?unread=1", base()) aria-current=move || unread_only.get().then_some("page") class=move || tab(unread_only.get())>"Unread"</a>
                </nav>
                <ActionForm action=mark_all>
                    <input type="hidden" name="org" value=move || slug.get()/>
                    <button type="submit" class=BUTTON_SECONDARY>"Mark all read"</button>
                </ActionForm>
            </div>
            <div class="mt-3 space-y-2">
                <FormError error=mark_error/>
                <FormError error=all_error/>
            </div>
            <Transition fallback=|| view! { <p class="mt-3 text-sm text-slate-600">"Loading…"</p> }>
                {move || suspend(async move {
                    loaded(page.await, |page| {
                        let unread = page.unread_count;
                        let summary = view! {
                            <p class="mt-3 text-sm text-slate-700" data-testid="unread-count">
                                {match unread {
                                    0 => "Everything is read.".to_string(),
                                    1 => "1 unread.".to_string(),
                                    n => format!("{n} unread."),
                                }}
                            </p>
                        };
                        if page.items.is_empty() {
                            let (title, text) = if unread_only.get_untracked() {
                                ("Nothing unread", "New notifications appear here as they arrive.")
                            } else {
                                ("No notifications yet", "Failed schedules, budget alerts and running out of credits are reported here, newest first.")
                            };
                            return view! {
                                {summary}
                                <div class="mt-3 rounded-md border border-dashed border-slate-300 p-6 text-center">
                                    <p class="font-medium text-slate-900">{title}</p>
                                    <p class="mx-auto mt-1 max-w-xl text-sm text-slate-700">{text}</p>
                                </div>
                            }
                            .into_any();
                        }
                        let items = page.items;
                        view! {
                            {summary}
                            <ul class="mt-2 divide-y divide-slate-100">
                                <For
                                    each=move || items.clone()
                                    key=|n| (n.id, n.read_at.clone())
                                    children=move |n| view! { <NotificationRow n=n mark=mark/> }
                                />
                            </ul>
                        }
                        .into_any()
                    })
                })}
            </Transition>
        </section>
    }
}

#[component]
fn NotificationRow(n: NotificationView, mark: ServerAction<MarkNotificationRead>) -> impl IntoView {
    let slug = use_org_slug();
    let unread = n.read_at.is_none();
    let title = n.title.clone();
    view! {
        <li class="py-4" data-testid="notification" data-unread=unread.then_some("true")>
            <div class="flex flex-wrap items-baseline justify-between gap-x-4 gap-y-1">
                <h2 class=if unread { "font-semibold text-slate-900" } else { "font-medium text-slate-700" }>
                    {unread.then(|| view! { <span aria-hidden="true" class="mr-2 inline-block h-2 w-2 rounded-full bg-indigo-600"></span> })}
                    {unread.then(|| view! { <span class="sr-only">"Unread: "</span> })}
                    {title.clone()}
                </h2>
                <p class="text-sm text-slate-600"><UtcTime iso=n.created_at.clone()/></p>
            </div>
            {(!n.body.is_empty()).then(|| view! { <p class="mt-1 text-sm text-slate-800">{n.body.clone()}</p> })}
            <div class="mt-2 flex flex-wrap items-center gap-4">
                {n.link.clone().map(|link| view! {
                    <a href=link class="text-sm font-medium text-indigo-700 hover:underline">
                        "Open"<span class="sr-only">" "{title.clone()}</span>
                    </a>
                })}
                {unread.then(|| view! {
                    <ActionForm action=mark>
                        <input type="hidden" name="org" value=move || slug.get()/>
                        <input type="hidden" name="id" value=n.id.to_string()/>
                        <button type="submit" class="text-sm font-medium text-slate-700 hover:underline">
                            "Mark read"<span class="sr-only">" "{title.clone()}</span>
                        </button>
                    </ActionForm>
                })}
            </div>
        </li>
    }
}
