//! Alumia's dashboard: Leptos components and routes, server functions,
//! and (feature `ssr`) the domain and data layer shared with `/api/v1`.

pub mod api;
pub mod components;
pub mod model;
pub mod pages;
pub mod routes;

#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod domain;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{path, Lazy, SsrMode};

use components::layout::OrgShell;
use components::not_found::NotFound;
use components::step_up::{provide_step_up_prompt, StepUpDialog};
use pages::connectors::ConnectorsPage;
use pages::skills::SkillsPage;
use routes::*;

/// A whole HTML document around `body`. `css_href` carries the
/// stylesheet's content hash so browsers never keep a stale one; `hydrate`
/// adds the wasm that brings the page to life.
fn document(css_href: String, hydrate: Option<LeptosOptions>, body: impl IntoView + 'static) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="stylesheet" href=css_href/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                {hydrate.as_ref().map(|_| view! { <script src="/pkg/webauthn.js" defer></script> <script src="/pkg/payments.js" defer></script> })}
                {hydrate.map(|options| view! { <HydrationScripts options/> })}
                <MetaTags/>
            </head>
            <body class="bg-slate-50 text-slate-900 antialiased">{body}</body>
        </html>
    }
}

/// The dashboard's document.
pub fn shell(options: LeptosOptions, css_href: String) -> impl IntoView {
    document(css_href, Some(options), view! { <App/> })
}

/// The 404 document the server answers for `/<orgSlug>/…` when the org
/// does not exist or the visitor is not a member. Static: nothing to hydrate.
pub fn not_found_shell(css_href: String) -> impl IntoView {
    provide_meta_context();
    document(css_href, None, view! { <NotFound/> })
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    provide_step_up_prompt();
    // Async SSR everywhere: a page answers only once its data is loaded,
    // so a missing org gets a real 404 status, not a 200 with a 404 body.
    view! {
        <Router>
            <Routes fallback=|| view! { <NotFound/> }>
                <Route path=path!("/") view={Lazy::<HomeRoute>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/signup") view={Lazy::<SignUpRoute>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/login") view={Lazy::<SignInRoute>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/login/verify") view={Lazy::<VerifySignInRoute>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/step-up") view={Lazy::<StepUpRoute>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/new") view={Lazy::<NewOrgRoute>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/invite/:token") view={Lazy::<InviteRoute>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/settings/security") view={Lazy::<SecurityRoute>::new()} ssr=SsrMode::Async/>
                <ParentRoute path=path!("/:org") view=OrgShell ssr=SsrMode::Async>
                    <Route path=path!("") view={Lazy::<OverviewRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("agents") view={Lazy::<AgentsRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("projects") view={Lazy::<ProjectsRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("projects/:project") view={Lazy::<LabRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("schedules") view={Lazy::<SchedulesRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("skills") view=SkillsPage ssr=SsrMode::Async/>
                    <Route path=path!("connectors") view=ConnectorsPage ssr=SsrMode::Async/>
                    <Route path=path!("notifications") view={Lazy::<NotificationsRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("billing") view={Lazy::<BillingRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("developers") view={Lazy::<DevelopersRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("members") view={Lazy::<MembersRoute>::new()} ssr=SsrMode::Async/>
                </ParentRoute>
            </Routes>
            <StepUpDialog/>
        </Router>
    }
}
