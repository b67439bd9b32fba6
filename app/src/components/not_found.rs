use leptos::prelude::*;
use leptos_meta::Title;

/// The one 404 page: unknown paths, unknown orgs and orgs the visitor is
/// not a member of all look exactly alike.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::api::support::set_page_status(http::StatusCode::NOT_FOUND);
    view! {
        <Title text="Page not found · Alumia"/>
        <main class="mx-auto flex min-h-screen max-w-md flex-col items-center justify-center px-6 text-center">
            <p class="text-sm font-semibold text-indigo-700">"404"</p>
            <h1 class="mt-2 text-2xl font-bold text-slate-900">"Page not found"</h1>
            <p class="mt-3 text-slate-700">
                "There is nothing here, or you do not have access to it."
            </p>
            <a href="/" class="mt-6 text-sm font-semibold text-indigo-700 hover:underline">"Go to your dashboard"</a>
        </main>
    }
}
