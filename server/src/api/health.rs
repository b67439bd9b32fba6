//! `/healthz`: the process is up. `/readyz`: the database answers.

use axum::extract::State;
use axum::http::StatusCode;

use app::domain::Ctx;

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(ctx): State<Ctx>) -> (StatusCode, &'static str) {
    match ctx.db.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
    }
}
