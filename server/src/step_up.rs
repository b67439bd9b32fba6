//! The step-up gate in front of every mutation (SPEC §4), in one place.
//!
//! Every server function, and every `/api/v1` route that is not a read,
//! needs a browser session with a fresh step-up, unless it is listed below
//! as open. A function or route added later is therefore gated until
//! someone decides otherwise here; `server/tests/http/step_up.rs` walks
//! the router to hold this true. The domain checks again
//! (`step_up::require_browser_step_up`), so a call that got past a wrong
//! entry here still cannot act.

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION, REFERER};
use http::{Method, StatusCode};
use tower_sessions::Session;

use app::api::support::{self, BrowserAuth};
use app::domain::{api_keys, step_up, Ctx};
use app::model::{encode_query_value, AppError};

use crate::api::envelope::ApiError;

/// Server functions that need no step-up: reads, signing in and out, the
/// ceremonies themselves, enrolment of a first factor (which checks the
/// password itself, and a step-up for later ones), and what API keys may
/// do too.
pub const OPEN_SERVER_FNS: &[&str] = &[
    // reads
    "whoami",
    "home_target",
    "signed_in_target",
    "get_org_context",
    "get_org_overview",
    "get_members_page",
    "get_invite_preview",
    "get_security_page",
    "get_step_up_methods",
    "get_billing_page",
    "list_projects",
    "list_workspaces",
    "list_models",
    "list_agents",
    "list_agent_last_runs",
    "list_byok_providers",
    "list_api_keys",
    "take_minted_api_key",
    "get_lab",
    "get_chat",
    "get_canvas",
    "list_share_links",
    "list_schedules",
    "schedule_pickers",
    "schedule_history",
    "preview_schedule",
    "list_notifications",
    "unread_notifications",
    // signing in and out
    "sign_up",
    "sign_in",
    "sign_out",
    "verify_sign_in",
    "start_passkey_sign_in",
    "finish_passkey_sign_in",
    // the step-up ceremonies
    "start_passkey_step_up",
    "finish_passkey_step_up",
    "step_up_with_code",
    // first factor: password checked by the domain; later ones: step-up
    "start_passkey_registration",
    "finish_passkey_registration",
    "start_totp_enrolment",
    "confirm_totp_enrolment",
    // allowed to API keys as well
    "create_org",
    "accept_invite",
    "create_agent",
    "update_agent",
    "delete_agent",
    "create_project",
    "update_project",
    "delete_project",
    "create_top_up",
    // the lab's chat, as /api/v1/sessions
    "start_session",
    "send_chat_message",
    "cancel_chat_run",
    // canvas blocks, as /api/v1/projects/{id}/blocks (sharing stays gated)
    "add_block",
    "update_block",
    "delete_block",
    "delete_file",
    // schedules and notifications, as /api/v1
    "create_schedule",
    "update_schedule",
    "set_schedule_enabled",
    "run_schedule_now",
    "delete_schedule",
    "mark_notification_read",
    "mark_all_notifications_read",
];

/// `/api/v1` mutations API keys may make. Every other route that is not a
/// read is browser-only and needs a fresh step-up.
pub const OPEN_API_MUTATIONS: &[(&str, &str)] = &[
    // Agents: keys too; restriction changes are checked by the domain
    // (browser with step-up).
    ("POST", "/api/v1/agents"),
    ("PATCH", "/api/v1/agents/{id}"),
    ("DELETE", "/api/v1/agents/{id}"),
    ("POST", "/api/v1/projects"),
    ("PATCH", "/api/v1/projects/{id}"),
    ("DELETE", "/api/v1/projects/{id}"),
    // Canvas blocks: content, like chat; sharing stays browser-only.
    ("POST", "/api/v1/projects/{id}/blocks"),
    ("PATCH", "/api/v1/projects/{id}/blocks/{blockId}"),
    ("DELETE", "/api/v1/projects/{id}/blocks/{blockId}"),
    // Files: content, like blocks; agents and automation upload too.
    ("POST", "/api/v1/files"),
    ("DELETE", "/api/v1/files/{id}"),
    // Sessions and chat: any member, with a key too.
    ("POST", "/api/v1/sessions"),
    ("POST", "/api/v1/sessions/{id}/messages"),
    ("POST", "/api/v1/sessions/{id}/cancel"),
    // Schedules: automation, so keys too, as for the agents they run.
    ("POST", "/api/v1/schedules"),
    ("PATCH", "/api/v1/schedules/{id}"),
    ("DELETE", "/api/v1/schedules/{id}"),
    ("POST", "/api/v1/schedules/{id}/run"),
    ("POST", "/api/v1/notifications/{id}/read"),
    ("POST", "/api/v1/notifications/read-all"),
    // Buying credits: owners and admins, with a key too.
    ("POST", "/api/v1/billing/top-ups/payment-intent"),
    // Stripe's signed events: no session, no key.
    ("POST", "/api/v1/webhooks/stripe"),
];

fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A browser without JavaScript posts forms and expects pages.
fn wants_page(req: &Request) -> bool {
    req.headers().get(ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"))
}

/// The path of the page a form was posted from, to come back to.
fn referer_path(req: &Request) -> String {
    req.headers()
        .get(REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.find("://").map(|i| &r[i + 3..]))
        .and_then(|rest| rest.find('/').map(|i| rest[i..].to_string()))
        .filter(|p| p.starts_with('/') && !p.starts_with("//"))
        .unwrap_or_else(|| "/".to_string())
}

enum Verdict {
    Pass,
    SignIn,
    StepUp,
}

async fn session_verdict(ctx: &Ctx, session: &Session, resolved: Option<BrowserAuth>) -> Verdict {
    // In front of pages and server functions the session is already
    // resolved (`sessions::resolve_browser`); `/api/v1` resolves it here.
    let auth = match resolved {
        Some(auth) => auth,
        None => match support::resolve_browser(ctx, session).await {
            Ok(auth) => auth,
            Err(_) => return Verdict::SignIn,
        },
    };
    match auth {
        BrowserAuth::SignedIn { stepped_up_at, .. }
            if step_up::is_fresh(stepped_up_at, ctx.clock.now(), ctx.settings.step_up_window()) =>
        {
            Verdict::Pass
        }
        BrowserAuth::SignedIn { .. } => Verdict::StepUp,
        BrowserAuth::SignedOut | BrowserAuth::Revoked => Verdict::SignIn,
    }
}

/// Server functions answer errors as the JSON of `AppError`.
fn server_fn_error(err: AppError) -> Response {
    let status = StatusCode::from_u16(err.code.status()).unwrap_or(StatusCode::FORBIDDEN);
    let body = serde_json::to_vec(&err).unwrap_or_default();
    (status, [(CONTENT_TYPE, "application/json")], body).into_response()
}

fn redirect(to: String) -> Response {
    (StatusCode::FOUND, [(LOCATION, to)]).into_response()
}

/// In front of `/fn/{name}`.
pub async fn gate_server_fns(State(ctx): State<Ctx>, session: Session, req: Request<Body>, next: Next) -> Response {
    let Some(name) = req.uri().path().strip_prefix("/fn/") else {
        return next.run(req).await;
    };
    if OPEN_SERVER_FNS.contains(&name) {
        return next.run(req).await;
    }
    let page = wants_page(&req);
    let back = encode_query_value(&referer_path(&req));
    match session_verdict(&ctx, &session, req.extensions().get::<BrowserAuth>().copied()).await {
        Verdict::Pass => next.run(req).await,
        Verdict::SignIn if page => redirect(format!("/login?next={back}")),
        Verdict::SignIn => server_fn_error(AppError::unauthorized()),
        Verdict::StepUp if page => redirect(format!("/step-up?next={back}")),
        Verdict::StepUp => server_fn_error(step_up::required()),
    }
}

/// In front of every `/api/v1` route (a route layer, so the matched path
/// is known).
pub async fn gate_api(State(ctx): State<Ctx>, session: Session, req: Request<Body>, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()).unwrap_or_default();
    if is_read(req.method()) || OPEN_API_MUTATIONS.contains(&(req.method().as_str(), route.as_str())) {
        return next.run(req).await;
    }
    if let Some(header) = req.headers().get(AUTHORIZATION) {
        let token = header.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).map(str::trim).unwrap_or_default();
        // A bad key is still a 401; a good one is the wrong kind of caller.
        return match api_keys::authenticate(&ctx, token, None).await {
            Ok(_) => ApiError(step_up::browser_only()).into_response(),
            Err(e) => ApiError(e).into_response(),
        };
    }
    match session_verdict(&ctx, &session, req.extensions().get::<BrowserAuth>().copied()).await {
        Verdict::Pass => next.run(req).await,
        Verdict::SignIn => ApiError(AppError::unauthorized()).into_response(),
        Verdict::StepUp => ApiError(step_up::required()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_posts_come_back_to_their_page_only() {
        let req = |referer: &str| Request::builder().header(REFERER, referer).body(Body::empty()).unwrap();
        assert_eq!(referer_path(&req("http://localhost:3000/acme/developers?x=1")), "/acme/developers?x=1");
        assert_eq!(referer_path(&req("not a url")), "/");
        assert_eq!(referer_path(&Request::new(Body::empty())), "/");
    }
}
