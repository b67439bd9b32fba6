//! `/api/v1`: REST handlers over the same domain functions the dashboard
//! uses, answering in the envelope of SPEC §6.

pub mod agents;
pub mod api_keys;
pub mod billing;
pub mod canvas;
pub mod dashboard;
pub mod envelope;
pub mod extract;
pub mod files;
pub mod health;
pub mod members;
pub mod models;
pub mod notifications;
pub mod projects;
pub mod schedules;
pub mod sessions;
pub mod sse;
pub mod workspaces;

use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use http::header::CONTENT_LENGTH;
use http::Method;

use app::domain::Ctx;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use app::model::{AppError, ErrorCode};
use envelope::ApiError;

/// Unknown `/api/v1/...` routes answer the envelope, never the HTML 404.
async fn not_found() -> ApiError {
    ApiError(AppError::new(ErrorCode::NotFound, "No such API route"))
}

/// A method the path does not have: 405 with `Allow` (axum adds the
/// header from the methods the path does have).
async fn method_not_allowed() -> ApiError {
    ApiError(AppError::new(ErrorCode::MethodNotAllowed, "This path does not take that method; see the Allow header"))
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

/// `GET /api/v1/openapi.json`: this document.
#[utoipa::path(get, path = "/openapi.json", tag = "meta", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document of /api/v1")))]
async fn openapi_json() -> axum::response::Response {
    let doc = OPENAPI_JSON.get().cloned().unwrap_or_default();
    ([(http::header::CONTENT_TYPE, "application/json")], doc).into_response()
}

/// The document, serialized once by `routes` (a request extension would
/// cost every `/api/v1` request a map insert).
static OPENAPI_JSON: std::sync::OnceLock<axum::body::Bytes> = std::sync::OnceLock::new();

/// Every `/api/v1` route, with its OpenAPI description. The router and the
/// document come from the same `routes!` lists, so they cannot disagree.
pub fn router_and_doc() -> (Router<Ctx>, serde_json::Value) {
    let v1 = OpenApiRouter::<Ctx>::new()
        .routes(routes!(dashboard::overview))
        .routes(routes!(billing::summary))
        .routes(routes!(billing::ledger))
        .routes(routes!(billing::set_budget))
        .routes(routes!(billing::top_up_payment_intent))
        .routes(routes!(billing::stripe_webhook))
        .routes(routes!(agents::list, agents::create))
        .routes(routes!(agents::get, agents::update, agents::delete))
        .routes(routes!(api_keys::list, api_keys::mint))
        .routes(routes!(api_keys::revoke))
        .routes(routes!(projects::list, projects::create))
        .routes(routes!(projects::get, projects::update, projects::delete))
        .routes(routes!(canvas::list, canvas::create))
        .routes(routes!(canvas::get, canvas::update, canvas::delete))
        .routes(routes!(canvas::enable_share, canvas::disable_share))
        .routes(routes!(canvas::list_links))
        .routes(routes!(canvas::revoke_link))
        .routes(routes!(files::list, files::upload))
        .routes(routes!(files::get, files::delete))
        .routes(routes!(workspaces::list, workspaces::create))
        .routes(routes!(workspaces::delete))
        .routes(routes!(schedules::list, schedules::create))
        .routes(routes!(schedules::preview))
        .routes(routes!(schedules::get, schedules::update, schedules::delete))
        .routes(routes!(schedules::run_now))
        .routes(routes!(schedules::history))
        .routes(routes!(notifications::list))
        .routes(routes!(notifications::read_all))
        .routes(routes!(notifications::stream))
        .routes(routes!(notifications::mark_read))
        .routes(routes!(members::list))
        .routes(routes!(models::list))
        .routes(routes!(sessions::list, sessions::create))
        .routes(routes!(sessions::get))
        .routes(routes!(sessions::messages, sessions::post_message))
        .routes(routes!(sessions::events))
        .routes(routes!(sessions::cancel))
        .routes(routes!(sessions::run))
        .routes(routes!(members::invites, members::invite))
        .routes(routes!(members::change_role, members::remove))
        .routes(routes!(openapi_json));
    let (router, mut doc) =
        OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi()).nest("/api/v1", v1).split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    (router, crate::openapi::finish(&doc))
}

/// Every `/api/v1` route. Handlers take `ApiCaller` (auth) and the body
/// and query extractors of `extract`, so failures answer in the envelope.
pub fn routes(ctx: Ctx, production: bool) -> Router {
    let (api, mut doc) = router_and_doc();
    // Top-up bounds come from this server's configuration.
    if let Some(amount) = doc.pointer_mut("/components/schemas/TopUpInput/properties/amountCents") {
        amount["minimum"] = ctx.billing.min_top_up_cents.into();
        amount["maximum"] = ctx.billing.max_top_up_cents.into();
    }
    let json = serde_json::to_vec(&doc).expect("the OpenAPI document serializes");
    let _ = OPENAPI_JSON.set(json.into());
    // Unknown paths under /api/v1 answer the envelope 404 (a catch-all
    // route rather than a fallback, so the router merges with the pages).
    let api = api
        // Every route that exists so far; not the catch-all below.
        .route_layer(axum::middleware::from_fn_with_state(ctx.clone(), crate::step_up::gate_api))
        .route("/api/v1/{*rest}", any(not_found))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(extract::BODY_LIMIT))
        .with_state(ctx);
    let api = if production { api.layer(axum::middleware::from_fn(require_length)) } else { api };
    let viewer = utoipa_scalar::Scalar::new(doc).custom_html(crate::openapi::VIEWER_HTML);
    api.route("/api/v1", any(not_found)).route(
        "/api/docs",
        get(move || {
            let html = viewer.to_html();
            async move { axum::response::Html(html) }
        }),
    )
}
