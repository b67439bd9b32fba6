//! The `/api/v1` envelope: `{"success":true,"data":…}` or
//! `{"success":false,"error":{"code","message","details"?}}`.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use axum::Json;
use http::header::RETRY_AFTER;
use http::{HeaderValue, StatusCode};
use serde::Serialize;
use serde_json::json;

use app::domain::cache::Shared;
use app::model::{AppError, ErrorCode};

pub struct ApiError(pub AppError);

/// The `Retry-After` header (seconds) a 429 carries.
fn retry_after(err: &AppError) -> Option<HeaderValue> {
    if err.code != ErrorCode::TooManyRequests {
        return None;
    }
    let secs = err.details.as_ref().and_then(|d| d.get("retryAfterSeconds")).and_then(|v| v.as_u64()).unwrap_or(1);
    HeaderValue::from_str(&secs.to_string()).ok()
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let err = self.0;
        let status = StatusCode::from_u16(err.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = json!({ "code": err.code.as_str(), "message": err.message });
        if let Some(details) = &err.details {
            body["details"] = details.clone();
        }
        let mut res = (status, Json(json!({ "success": false, "error": body }))).into_response();
        if let Some(v) = retry_after(&err) {
            res.headers_mut().insert(RETRY_AFTER, v);
        }
        res
    }
}

/// A successful answer.
pub struct ApiOk<T>(pub T);

/// Serialized straight to bytes: going through a `serde_json::Value`
/// first cost more than the rest of a cached list request.
#[derive(Serialize)]
struct Success<'a, T> {
    success: bool,
    data: &'a T,
}

impl<T: Serialize> IntoResponse for ApiOk<T> {
    fn into_response(self) -> Response {
        Json(Success { success: true, data: &self.0 }).into_response()
    }
}

/// `ApiOk` for a cached answer whose JSON is already made.
pub struct ApiOkShared<T>(pub Arc<Shared<T>>);

impl<T: Serialize> IntoResponse for ApiOkShared<T> {
    fn into_response(self) -> Response {
        const HEAD: &[u8] = br#"{"success":true,"data":"#;
        let data = self.0.json();
        let mut body = Vec::with_capacity(HEAD.len() + data.len() + 1);
        body.extend_from_slice(HEAD);
        body.extend_from_slice(data);
        body.push(b'}');
        ([(http::header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

/// Server functions answer errors with status 500 whatever they are
/// (leptos's default). This gives each `AppError` its real status, and 429s
/// their `Retry-After`, for every server function at once. Form posts
/// without JavaScript are redirects (302) and pass untouched.
pub async fn server_fn_status(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let res = next.run(req).await;
    if res.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    if let Ok(err) = serde_json::from_slice::<AppError>(&bytes) {
        parts.status = StatusCode::from_u16(err.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if let Some(v) = retry_after(&err) {
            parts.headers.insert(RETRY_AFTER, v);
        }
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}
