//! The pages as lazy routes: each page's view is a split point, so its code
//! is a wasm chunk of its own that the browser fetches when it first shows
//! that page, instead of every page's code in the module every visit
//! downloads (docs/wasm-size.md). On the server a lazy view is an ordinary
//! call; in the browser `hydrate_lazy` loads the current page's chunk
//! before hydrating, and client-side navigation loads the next one.
//!
//! The "coming soon" pages stay in the main module: their chunk would cost
//! more in round trips than their few bytes.

use leptos::prelude::*;
use leptos_router::{lazy_route, LazyRoute};

use crate::pages::accounts::{SignInPage, SignUpPage, StepUpPage, VerifySignInPage};
use crate::pages::agents::AgentsPage;
use crate::pages::billing::BillingPage;
use crate::pages::developers::DevelopersPage;
use crate::pages::lab::LabPage;
use crate::pages::members::{InvitePage, MembersPage};
use crate::pages::notifications::NotificationsPage;
use crate::pages::orgs::{HomePage, NewOrgPage, OverviewPage};
use crate::pages::projects::ProjectsPage;
use crate::pages::schedules::SchedulesPage;
use crate::pages::security::SecurityPage;

/// `Route => Page`: a unit struct `Route` whose lazily loaded view is the
/// component `Page`. The pages load their own data (resources in their
/// bodies), so `data()` has nothing to start. The route type's name names
/// the chunk, so each must be unique.
macro_rules! lazy_pages {
    ($($route:ident => $page:ident),* $(,)?) => {$(
        pub struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(_this: Self) -> AnyView {
                view! { <$page/> }.into_any()
            }
        }
    )*};
}

lazy_pages! {
    HomeRoute => HomePage,
    SignUpRoute => SignUpPage,
    SignInRoute => SignInPage,
    VerifySignInRoute => VerifySignInPage,
    StepUpRoute => StepUpPage,
    NewOrgRoute => NewOrgPage,
    InviteRoute => InvitePage,
    SecurityRoute => SecurityPage,
    OverviewRoute => OverviewPage,
    AgentsRoute => AgentsPage,
    ProjectsRoute => ProjectsPage,
    LabRoute => LabPage,
    SchedulesRoute => SchedulesPage,
    NotificationsRoute => NotificationsPage,
    BillingRoute => BillingPage,
    DevelopersRoute => DevelopersPage,
    MembersRoute => MembersPage,
}
