//! CSRF guard: a cookie-authenticated mutation must come from our own
//! origin (SPEC §3). Browsers always send `Origin` on cross-site POSTs.
//! Server functions are checked with or without a cookie: signing in and
//! signing up carry none yet, and another site must not sign a visitor
//! into an account of its choosing (login CSRF).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{COOKIE, HOST, ORIGIN};
use http::Method;

use app::model::AppError;

use crate::api::envelope::ApiError;

#[derive(Clone)]
pub struct AllowedOrigin {
    /// Origin of `ALUMIA_PUBLIC_URL`, e.g. `http://localhost:3000`.
    pub public_origin: String,
}

fn origin_host(origin: &str) -> Option<&str> {
    origin.split_once("://").map(|(_, host)| host.trim_end_matches('/'))
}

pub async fn check_origin(State(allowed): State<AllowedOrigin>, req: Request<Body>, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let browser_only = req.uri().path().starts_with("/fn/");
    if safe || !(browser_only || req.headers().contains_key(COOKIE)) {
        return next.run(req).await;
    }
    let headers = req.headers();
    let origin = headers.get(ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(HOST).and_then(|v| v.to_str().ok());
    let ok = match origin {
        Some(origin) => origin == allowed.public_origin || (host.is_some() && origin_host(origin) == host),
        // No Origin: not a browser, or a same-origin navigation of an old
        // browser. Refuse only what the browser itself calls cross-site.
        None => headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) != Some("cross-site"),
    };
    if ok {
        next.run(req).await
    } else {
        tracing::warn!(origin = origin.unwrap_or("-"), "cross-origin mutation refused");
        ApiError(AppError::forbidden("Cross-origin request refused")).into_response()
    }
}
