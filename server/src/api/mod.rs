//! `/api/v1`: REST handlers over the same domain functions the dashboard
//! uses, answering in the envelope of SPEC §6.

pub mod envelope;
pub mod health;

use axum::routing::any;
use axum::Router;

use app::model::{AppError, ErrorCode};
use envelope::ApiError;

/// Unknown `/api/v1/...` routes answer the envelope, never the HTML 404.
async fn not_found() -> ApiError {
    ApiError(AppError::new(ErrorCode::NotFound, "No such API route"))
}

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/api/v1", any(not_found)).route("/api/v1/{*rest}", any(not_found))
}
