//! Server-side glue shared by the server functions.

use std::sync::Arc;

use http::header::{ACCEPT, USER_AGENT};
use http::request::Parts;
use http::StatusCode;
use leptos::prelude::*;
use leptos_axum::ResponseOptions;
use tower_sessions::Session;
use uuid::Uuid;

use crate::domain::accounts::{self, ClientInfo};
use crate::domain::orgs::{self, Viewer};
use crate::domain::{Actor, Ctx};
use crate::model::{AppError, OrgSummary};

/// Key of the `user_sessions` row id inside the tower-sessions record.
pub const SESSION_KEY: &str = "sid";

/// The server's `Ctx`. Missing only when a render was abandoned while a
/// load was in flight (its owner is gone); that load then just fails.
pub fn ctx() -> Result<Ctx, AppError> {
    use_context::<Ctx>().ok_or_else(|| {
        tracing::debug!("server function ran without the app context");
        AppError::internal()
    })
}

/// Reads the request's head in place. `use_context::<Parts>()` would clone
/// it (every header, and every extension through a boxed clone), and pages
/// ask for it several times a render: once or twice per server function.
fn with_parts<T>(read: impl FnOnce(&Parts) -> T) -> Option<T> {
    with_context::<Parts, _>(read)
}

pub async fn session() -> Result<Session, AppError> {
    leptos_axum::extract::<Session>().await.map_err(|_| AppError::internal())
}

/// The client's address as the server resolved it (`server/src/client_ip.rs`:
/// the TCP peer's, or the forwarded one from a trusted proxy); in the
/// request's extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub std::net::IpAddr);

pub async fn client_info() -> ClientInfo {
    with_parts(|p| ClientInfo {
        ip: p.extensions.get::<ClientIp>().map(|ClientIp(ip)| ip.to_string()),
        user_agent: p.headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_string),
    })
    .unwrap_or_default()
}

/// What the browser session of a request resolves to. The server resolves
/// it once per request, in front of pages and server functions, and puts
/// it in the request's extensions; the org gate adds the `Viewer`.
#[derive(Clone, Copy, Debug)]
pub enum BrowserAuth {
    /// No session, or one that never signed in.
    SignedOut,
    /// The session points at a `user_sessions` row signed out since.
    Revoked,
    SignedIn {
        user_id: Uuid,
        session_id: Uuid,
        stepped_up_at: Option<chrono::DateTime<chrono::Utc>>,
    },
}

impl BrowserAuth {
    pub fn user_id(&self) -> Option<Uuid> {
        match self {
            BrowserAuth::SignedIn { user_id, .. } => Some(*user_id),
            BrowserAuth::SignedOut | BrowserAuth::Revoked => None,
        }
    }
}

/// Resolves `session`: the tower-sessions record, then the `user_sessions`
/// row (both remembered for a few seconds, see `domain::cache`).
pub async fn resolve_browser(ctx: &Ctx, session: &Session) -> Result<BrowserAuth, AppError> {
    let Some(session_id) = session.get::<Uuid>(SESSION_KEY).await.map_err(|_| AppError::internal())? else {
        return Ok(BrowserAuth::SignedOut);
    };
    Ok(match accounts::resolve_session(ctx, session_id).await? {
        Some(live) => BrowserAuth::SignedIn { user_id: live.user_id, session_id, stepped_up_at: live.stepped_up_at },
        None => BrowserAuth::Revoked,
    })
}

/// The request's `BrowserAuth`: what the server resolved in front of it,
/// else resolved now (a render outside the routes, such as the 404 page).
async fn browser_auth(ctx: &Ctx) -> Result<BrowserAuth, AppError> {
    if let Some(auth) = with_parts(|p| p.extensions.get::<BrowserAuth>().copied()).flatten() {
        return Ok(auth);
    }
    resolve_browser(ctx, &session().await?).await
}

/// The signed-in user of this browser session, if any.
pub async fn current_actor() -> Result<Option<Actor>, AppError> {
    let ctx = ctx()?;
    match browser_auth(&ctx).await? {
        BrowserAuth::SignedIn { user_id, session_id, stepped_up_at } => {
            Ok(Some(Actor::User { user_id, session_id, stepped_up_at, ip: client_info().await.ip }))
        }
        BrowserAuth::SignedOut => Ok(None),
        BrowserAuth::Revoked => {
            // Signed out elsewhere ("sign out other sessions"): forget it here too.
            let _ = session().await?.flush().await;
            Ok(None)
        }
    }
}

/// The actor's email and memberships: the one the org gate looked up for
/// this request, else the (cached) lookup.
pub async fn viewer(ctx: &Ctx, actor: &Actor) -> Result<Arc<Viewer>, AppError> {
    match with_parts(|p| p.extensions.get::<Arc<Viewer>>().cloned()).flatten() {
        Some(viewer) if viewer.user_id == actor.user_id() => Ok(viewer),
        _ => orgs::viewer(ctx, actor.user_id()).await,
    }
}

/// The org `slug` as the actor sees it, for reads (writes check the role
/// in the database with `orgs::membership`).
pub async fn member_of(ctx: &Ctx, actor: &Actor, slug: &str) -> Result<OrgSummary, AppError> {
    viewer(ctx, actor).await?.member_of(slug)
}

pub async fn require_actor() -> Result<Actor, AppError> {
    current_actor().await?.ok_or_else(AppError::unauthorized)
}

/// Starts the browser session of a user who just proved who they are:
/// a new session id (no fixation), then the pointer to the account.
pub async fn begin_session(session_id: Uuid) -> Result<(), AppError> {
    let session = session().await?;
    session.cycle_id().await.map_err(|_| AppError::internal())?;
    session.insert(SESSION_KEY, session_id).await.map_err(|_| AppError::internal())
}

/// Only same-site paths: `next=//evil.example` or `https://…` is ignored.
pub fn safe_next(next: Option<String>) -> Option<String> {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\"))
}

/// Sets the status of the page being rendered (404 pages).
pub fn set_page_status(status: StatusCode) {
    if let Some(res) = use_context::<ResponseOptions>() {
        res.set_status(status);
    }
}

/// Whether this call is a plain HTML form post (no JavaScript): the
/// browser asks for a page, and gets redirected back to the form, so the
/// function's answer itself is never seen.
pub fn posted_without_javascript() -> bool {
    with_parts(|p| p.headers.get(ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html")))
        .unwrap_or(false)
}
