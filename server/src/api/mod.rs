//! `/api/v1`: REST handlers over the same domain functions the dashboard
//! uses, answering in the envelope of SPEC §6.

pub mod api_keys;
pub mod dashboard;
pub mod envelope;
pub mod extract;
pub mod health;
pub mod projects;

use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use http::header::CONTENT_LENGTH;
use http::Method;

use app::domain::Ctx;

use app::model::{AppError, ErrorCode};
use envelope::ApiError;

/// Unknown `/api/v1/...` routes answer the envelope, never the HTML 404.
async fn not_found() -> ApiError {
    ApiError(AppError::new(ErrorCode::NotFound, "No such API route"))
}

/// In production a body-carrying request must say how long it is, so the
/// cap is enforced before anything is read (SPEC §6).
async fn require_length(req: Request, next: Next) -> Response {
    let has_body = matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH);
    if has_body && !req.headers().contains_key(CONTENT_LENGTH) {
        return ApiError(AppError::new(ErrorCode::LengthRequired, "Send a Content-Length header")).into_response();
    }
    next.run(req).await
}

/// Every `/api/v1` route. Handlers take `ApiCaller` (auth) and the body
/// and query extractors of `extract`, so failures answer in the envelope.
pub fn routes(ctx: Ctx, production: bool) -> Router {
    let v1 = Router::new()
        .route("/dashboard/overview", get(dashboard::overview))
        .route("/api-keys", get(api_keys::list).post(api_keys::mint))
        .route("/api-keys/{id}/revoke", post(api_keys::revoke))
        .route("/projects", get(projects::list).post(projects::create))
        .route("/projects/{id}", get(projects::get).patch(projects::update).delete(projects::delete))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(DefaultBodyLimit::max(extract::BODY_LIMIT))
        .with_state(ctx);
    let v1 = if production { v1.layer(axum::middleware::from_fn(require_length)) } else { v1 };
    Router::new().nest("/api/v1", v1).route("/api/v1", any(not_found))
}
