//! The gate in front of every `/<orgSlug>/…` page: a visitor who is not
//! signed in goes to sign-in, and one who is not a member of the org gets
//! the same 404 page as for an org that does not exist, with a 404 status,
//! before anything of the page is rendered.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use app::api::support::BrowserAuth;
use app::domain::orgs::{self, RESERVED_SLUGS};
use app::domain::Ctx;
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::LOCATION;
use http::{Method, StatusCode};

pub type RenderNotFound = Arc<dyn Fn(Request<Body>) -> Pin<Box<dyn Future<Output = Response> + Send>> + Send + Sync>;

#[derive(Clone)]
pub struct OrgGate {
    pub ctx: Ctx,
    pub not_found: RenderNotFound,
}

/// The org slug a page path starts with, if it is one (top-level routes
/// such as `/login` or `/settings` are reserved words, never slugs).
fn org_slug(path: &str) -> Option<&str> {
    let first = path.trim_start_matches('/').split('/').next()?;
    (!first.is_empty() && !RESERVED_SLUGS.contains(&first)).then_some(first)
}

/// Whether the route that matched is one of the `/<orgSlug>/…` pages.
fn is_org_page(req: &Request) -> bool {
    req.extensions().get::<MatchedPath>().is_some_and(|p| p.as_str() == "/{org}" || p.as_str().starts_with("/{org}/"))
}

pub async fn check(gate: OrgGate, mut req: Request, next: Next) -> Response {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    let Some(slug) = org_slug(req.uri().path()).map(str::to_string) else {
        // A reserved word in the place of an org (`/metrics`, `/admin`,
        // `/login/members`) is no org's page: 404 for everyone.
        if is_org_page(&req) && !req.uri().path().trim_matches('/').is_empty() {
            return (gate.not_found)(req).await;
        }
        return next.run(req).await;
    };
    // Resolved once in front of every page (`sessions::resolve_browser`).
    let user = req.extensions().get::<BrowserAuth>().and_then(BrowserAuth::user_id);
    let Some(user_id) = user else {
        let next_path = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let login = format!("/login?next={}", app::model::encode_query_value(next_path));
        return (StatusCode::FOUND, [(LOCATION, login)]).into_response();
    };
    match orgs::viewer(&gate.ctx, user_id).await {
        Ok(viewer) if viewer.member_of(&slug).is_ok() => {
            // The frame and the page read the org from here.
            req.extensions_mut().insert(viewer);
            next.run(req).await
        }
        _ => (gate.not_found)(req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::org_slug;

    #[test]
    fn top_level_routes_are_not_orgs() {
        assert_eq!(org_slug("/acme"), Some("acme"));
        assert_eq!(org_slug("/acme/members"), Some("acme"));
        assert_eq!(org_slug("/login"), None);
        assert_eq!(org_slug("/settings/security"), None);
        assert_eq!(org_slug("/"), None);
    }
}
