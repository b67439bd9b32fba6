//! The dashboard frame: sidebar with the org's sections, top bar with the
//! org switcher and the user menu. Same on every `/<orgSlug>` page.

use leptos::prelude::*;
use leptos_router::components::{Outlet, Redirect};
use leptos_router::hooks::{use_location, use_params_map};

use crate::api::accounts::SignOut;
use crate::api::notifications::unread_notifications;
use crate::api::orgs::get_org_context;
use crate::components::event_source::{follow, Following, NOTIFICATION_EVENTS};
use crate::components::resource::{page_resource, PageResource};
use crate::components::suspend::suspend;
use crate::model::{AppError, ErrorCode, OrgContext};

/// Sections of an org, in sidebar order: (label, path below the org).
pub const SECTIONS: &[(&str, &str)] = &[
    ("Overview", ""),
    ("Agents", "/agents"),
    ("Projects", "/projects"),
    ("Schedules", "/schedules"),
    ("Skills", "/skills"),
    ("Connectors", "/connectors"),
    ("Notifications", "/notifications"),
    ("Billing", "/billing"),
    ("Developers", "/developers"),
    ("Members", "/members"),
];

/// Bumped when the member's notifications change: one arrived on the
/// live stream, or they marked some read. The sidebar's badge and the
/// notifications page load again on it.
#[derive(Clone, Copy)]
pub struct NotificationsChanged(pub RwSignal<u32>);

/// The org slug of the current `/<orgSlug>/…` page.
pub fn use_org_slug() -> Signal<String> {
    let params = use_params_map();
    Signal::derive(move || params.read().get("org").unwrap_or_default())
}

/// A project's lab (`/<org>/projects/<project>`): it holds the chat and the
/// canvas side by side, so it takes more of the screen than other pages.
fn is_lab(path: &str) -> bool {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    parts.len() == 3 && parts[1] == "projects"
}

/// The frame of every `/<orgSlug>` page. Membership is checked before a
/// page is rendered (the server's org gate answers 404 to non-members), so
/// the frame only loads what it shows. The `<Outlet/>` stays outside any
/// `Suspend`: leptos re-runs `Suspend` children while resolving on the
/// server, which would build each page (and its data loads) more than once.
///
/// The frame's three parts that wait for its context (the org's name, the
/// top bar, the unread badge) are bare `Suspend`s, not `<Suspense>`s: the
/// server renders the same markup either way (every route is `async`
/// SSR, which waits for them), the browser hydrates them from the
/// serialized context at once, and a `<Suspense>` boundary (its effect,
/// channels and task set) cost about a tenth of a page showing only the
/// frame (callgrind: 711 → 641 thousand instructions a request for three).
#[component]
pub fn OrgShell() -> impl IntoView {
    let slug = use_org_slug();
    let context = page_resource(move || slug.get(), get_org_context);
    let base = format!("/{}", slug.get_untracked());
    let location = use_location();
    let changed = RwSignal::new(0u32);
    provide_context(NotificationsChanged(changed));
    // One stream per open dashboard tab: new notifications show at once,
    // whichever server process wrote them. The effect's value is the
    // stream, closed when the org changes or the frame goes away.
    Effect::new(move |previous: Option<Option<Following>>| {
        drop(previous);
        let url = format!("/api/v1/notifications/stream?org={}", slug.get());
        follow(&url, NOTIFICATION_EVENTS, move |_, _| changed.update(|n| *n += 1))
    });
    view! {
        <div class="min-h-screen bg-slate-50 md:flex">
            <aside class="border-b border-slate-200 bg-white md:min-h-screen md:w-60 md:border-b-0 md:border-r">
                <div class="px-5 py-4">
                    <a href=base.clone() class="text-lg font-bold tracking-tight text-indigo-800">"Alumia"</a>
                    {move || suspend(async move {
                        context.await.ok().map(|c| view! { <p class="mt-1 truncate text-sm text-slate-600">{c.org.name}</p> })
                    })}
                </div>
                <nav aria-label="Organization" class="px-3 pb-4">
                    <ul class="flex flex-wrap gap-1 md:block md:space-y-0.5">
                        {SECTIONS
                            .iter()
                            .map(|(label, path)| {
                                let href = format!("{base}{path}");
                                let target = href.clone();
                                let active = move || location.pathname.with(|p| *p == target);
                                let current = active.clone();
                                // A plain link: the router takes its clicks all the same, and
                                // `<A>`'s own path resolution and memos, eleven times on every
                                // page, cost more than the rest of the sidebar.
                                view! {
                                    <li>
                                        <a
                                            href=href
                                            aria-current=move || current().then_some("page")
                                            class=move || {
                                                if active() {
                                                    "block rounded-md bg-indigo-50 px-3 py-2 text-sm font-semibold text-indigo-800"
                                                } else {
                                                    "block rounded-md px-3 py-2 text-sm text-slate-700 hover:bg-slate-100"
                                                }
                                            }
                                        >
                                            {*label}
                                            {(*path == "/notifications").then(|| view! { <UnreadBadge context=context/> })}
                                        </a>
                                    </li>
                                }
                            })
                            .collect_view()}
                        <li class="md:mt-4 md:border-t md:border-slate-200 md:pt-4">
                            <a
                                href="/settings/security"
                                class="block rounded-md px-3 py-2 text-sm text-slate-700 hover:bg-slate-100"
                            >
                                "Security"
                            </a>
                        </li>
                    </ul>
                </nav>
            </aside>
            <div class="flex-1">
                <header class="flex min-h-14 flex-wrap items-center justify-between gap-3 border-b border-slate-200 bg-white px-6 py-3">
                    {move || suspend(async move {
                        match context.await {
                            Ok(ctx) => view! { <TopBar ctx=ctx/> }.into_any(),
                            // Signed out meanwhile (e.g. "sign out other sessions").
                            Err(e) if e.code == ErrorCode::Unauthorized => {
                                view! { <Redirect path="/login"/> }.into_any()
                            }
                            Err(e) => view! { <p role="alert" class="text-sm text-red-800">{e.message}</p> }.into_any(),
                        }
                    })}
                </header>
                <main class=move || if is_lab(&location.pathname.read()) { "mx-auto max-w-7xl px-6 py-8" } else { "mx-auto max-w-5xl px-6 py-8" }>
                    <Outlet/>
                </main>
            </div>
        </div>
    }
}

/// How many notifications the member has not read, beside the sidebar's
/// "Notifications"; nothing when none. The first count comes with the
/// frame's context (no load of its own on every page); the browser counts
/// again when the live stream or the notifications page says it changed.
#[component]
fn UnreadBadge(context: PageResource<Result<OrgContext, AppError>>) -> impl IntoView {
    let slug = use_org_slug();
    // (org, count) of the latest recount; only the current org's is shown.
    let recounted = RwSignal::new(None::<(String, i64)>);
    Effect::new(move |_| {
        slug.track();
        recounted.set(None);
    });
    if let Some(changed) = use_context::<NotificationsChanged>().map(|c| c.0) {
        Effect::new(move |_| {
            if changed.get() == 0 {
                return;
            }
            let slug = slug.get_untracked();
            leptos::task::spawn_local(async move {
                if let Ok(n) = unread_notifications(slug.clone()).await {
                    recounted.set(Some((slug, n)));
                }
            });
        });
    }
    view! {
        {move || suspend(async move {
            let first = context.await.ok().map(|c| c.unread_notifications).unwrap_or(0);
            move || {
                let current = slug.get();
                let n = recounted.get().filter(|(org, _)| *org == current).map_or(first, |(_, n)| n);
                (n > 0).then(|| {
                    let shown = if n > 99 { "99+".to_string() } else { n.to_string() };
                    view! {
                        <span
                            data-testid="unread-badge"
                            class="ml-2 inline-flex min-w-5 items-center justify-center rounded-full bg-red-700 px-1.5 text-xs font-semibold text-white"
                        >
                            {shown}
                            <span class="sr-only">" unread"</span>
                        </span>
                    }
                })
            }
        })}
    }
}

/// The org switcher and the user menu.
#[component]
fn TopBar(ctx: OrgContext) -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    let current_slug = ctx.org.slug.clone();
    view! {
        <details class="relative">
            <summary class="cursor-pointer list-none rounded-md border border-slate-300 px-3 py-1.5 text-sm text-slate-800 hover:bg-slate-50">
                <span class="sr-only">"Switch organization: "</span>
                {ctx.org.name.clone()}
                <span aria-hidden="true" class="ml-2 text-slate-500">"▾"</span>
            </summary>
            <ul
                aria-label="Switch organization"
                class="absolute z-10 mt-1 w-64 rounded-md border border-slate-200 bg-white py-1 shadow-lg"
            >
                {ctx
                    .orgs
                    .iter()
                    .map(|o| {
                        let is_current = o.slug == current_slug;
                        view! {
                            <li>
                                <a
                                    href=format!("/{}", o.slug)
                                    rel="external"
                                    aria-current=is_current.then_some("true")
                                    class="block px-3 py-2 text-sm text-slate-800 hover:bg-slate-100"
                                >
                                    {o.name.clone()}
                                    <span class="ml-2 text-xs text-slate-600">{o.role.as_str()}</span>
                                </a>
                            </li>
                        }
                    })
                    .collect_view()}
                <li class="border-t border-slate-200">
                    <a href="/new" class="block px-3 py-2 text-sm font-medium text-indigo-700 hover:bg-slate-100">
                        "New organization"
                    </a>
                </li>
            </ul>
        </details>
        <div class="flex items-center gap-3">
            <span class="text-sm text-slate-700">{ctx.user_email.clone()}</span>
            <ActionForm action=sign_out>
                <button type="submit" class="rounded-md px-3 py-1.5 text-sm font-medium text-slate-700 hover:bg-slate-100">
                    "Sign out"
                </button>
            </ActionForm>
        </div>
    }
}

/// The page heading and intro every section starts with.
#[component]
pub fn PageHeader(#[prop(into)] title: String, #[prop(into)] intro: String) -> impl IntoView {
    let slug = use_org_slug();
    let page_title = format!("{title} · {} · Alumia", slug.get_untracked());
    view! {
        <leptos_meta::Title text=page_title/>
        <div class="mb-6">
            <h1 class="text-2xl font-bold text-slate-900">{title}</h1>
            <p class="mt-1 text-slate-700">{intro}</p>
        </div>
    }
}

/// An honest empty state for a capability that has not arrived yet.
#[component]
pub fn ComingSoon(#[prop(into)] what: String, #[prop(into)] how: String) -> impl IntoView {
    view! {
        <section class="rounded-lg border border-dashed border-slate-300 bg-white p-8 text-center">
            <h2 class="text-base font-semibold text-slate-900">"Nothing here yet"</h2>
            <p class="mx-auto mt-2 max-w-xl text-sm text-slate-700">{what}</p>
            <p class="mx-auto mt-2 max-w-xl text-sm text-slate-600">{how}</p>
        </section>
    }
}
