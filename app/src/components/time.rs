use leptos::prelude::*;

/// An RFC 3339 time as `YYYY-MM-DD HH:MM UTC`, the exact time on hover.
#[component]
pub fn UtcTime(#[prop(into)] iso: String) -> impl IntoView {
    let shown = chrono::DateTime::parse_from_rfc3339(&iso)
        .map(|t| t.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| iso.clone());
    view! { <time datetime=iso.clone() title=iso>{shown}</time> }
}
