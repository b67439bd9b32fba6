//! Server-side glue shared by the server functions.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use http::header::{ACCEPT, RETRY_AFTER, USER_AGENT};
use http::request::Parts;
use http::{HeaderValue, StatusCode};
use leptos::prelude::*;
use leptos_axum::ResponseOptions;
use tower_sessions::Session;
use uuid::Uuid;

use crate::domain::accounts::{self, ClientInfo};
use crate::domain::{Actor, Ctx};
use crate::model::{AppError, ErrorCode};

/// Key of the `user_sessions` row id inside the tower-sessions record.
pub const SESSION_KEY: &str = "sid";

pub fn ctx() -> Ctx {
    expect_context::<Ctx>()
}

pub async fn session() -> Result<Session, AppError> {
    leptos_axum::extract::<Session>().await.map_err(|_| AppError::internal())
}

pub async fn client_info() -> ClientInfo {
    let ip = leptos_axum::extract::<ConnectInfo<SocketAddr>>()
        .await
        .ok()
        .map(|ConnectInfo(addr)| addr.ip().to_string());
    let user_agent = use_context::<Parts>()
        .and_then(|p| p.headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_string));
    ClientInfo { ip, user_agent }
}

/// The signed-in user of this browser session, if any.
pub async fn current_actor() -> Result<Option<Actor>, AppError> {
    let session = session().await?;
    let Some(session_id) = session.get::<Uuid>(SESSION_KEY).await.map_err(|_| AppError::internal())? else {
        return Ok(None);
    };
    let ctx = ctx();
    match accounts::resolve_session(&ctx, session_id).await? {
        Some(user_id) => Ok(Some(Actor::User {
            user_id,
            session_id,
            stepped_up_at: None,
            ip: client_info().await.ip,
        })),
        None => {
            // Signed out elsewhere ("sign out other sessions"): forget it here too.
            let _ = session.flush().await;
            Ok(None)
        }
    }
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

/// Gives a failed call its real HTTP status for programmatic callers. A
/// plain HTML form post keeps leptos's redirect back to the form, which
/// shows the error.
pub fn reply<T>(result: Result<T, AppError>) -> Result<T, AppError> {
    if let Err(err) = &result {
        let html_form = use_context::<Parts>()
            .and_then(|p| p.headers.get(ACCEPT).and_then(|v| v.to_str().ok()).map(|a| a.contains("text/html")))
            .unwrap_or(false);
        if !html_form {
            if let Some(res) = use_context::<ResponseOptions>() {
                res.set_status(StatusCode::from_u16(err.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
                if err.code == ErrorCode::TooManyRequests {
                    let secs = err.details.as_ref().and_then(|d| d.get("retryAfterSeconds")).and_then(|v| v.as_u64()).unwrap_or(1);
                    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                        res.insert_header(RETRY_AFTER, v);
                    }
                }
            }
        }
    }
    result
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
