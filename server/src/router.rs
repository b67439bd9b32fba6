//! The whole HTTP surface: dashboard pages and server functions (Leptos),
//! `/api/v1`, health checks, assets; sessions and the CSRF guard around it.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use leptos::config::LeptosOptions;
use leptos::nonce::Nonce;
use leptos::prelude::{provide_context, with_context};
use leptos_axum::{generate_route_list, LeptosRoutes};
use sha2::{Digest, Sha256};
use tower::Layer;
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::time::Duration;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use app::domain::Ctx;
use app::{not_found_shell, shell, App};

use crate::config::Config;
use crate::csrf::{check_origin, AllowedOrigin};
use crate::org_gate::{self, OrgGate, RenderNotFound};
use crate::security_headers::{self, SecurityHeaders};
use crate::sessions::DbSessionStore;

/// `/pkg/alumia.css?v=<hash>`: a new stylesheet gets a new URL.
fn css_href(site_root: &Path) -> String {
    match std::fs::read(site_root.join("pkg/alumia.css")) {
        Ok(bytes) => format!("/pkg/alumia.css?v={}", &hex::encode(Sha256::digest(&bytes))[..12]),
        Err(_) => {
            tracing::warn!(path = %site_root.join("pkg/alumia.css").display(), "stylesheet not found; run `cargo xtask build-assets`");
            "/pkg/alumia.css".to_string()
        }
    }
}

pub fn build(config: &Config, ctx: Ctx, store: DbSessionStore) -> Router {
    let options = LeptosOptions::builder()
        .output_name("alumia")
        .site_root(config.site_root.to_string_lossy().to_string())
        .site_pkg_dir("pkg")
        .build();
    let routes = generate_route_list(App);
    let css = css_href(&config.site_root);

    let context = {
        let ctx = ctx.clone();
        move || leptos_context(&ctx)
    };
    let app_shell = {
        let options = options.clone();
        let css = css.clone();
        move || shell(options.clone(), css.clone())
    };
    // Paths no route claims render the app too, which shows the 404 page.
    let fallback = leptos_axum::render_app_async_with_context(context.clone(), app_shell.clone());

    let sessions = SessionManagerLayer::new(store)
        .with_name("alumia_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(config.production())
        .with_expiry(Expiry::OnInactivity(Duration::days(14)));

    let public_origin = config.public_url.clone();

    let not_found = {
        let render = leptos_axum::render_app_async_with_context(context.clone(), {
            let css = css.clone();
            move || not_found_shell(css.clone())
        });
        Arc::new(move |req: Request<Body>| {
            let render = render.clone();
            Box::pin(async move { render(req).await.into_response() }) as Pin<Box<dyn Future<Output = _> + Send>>
        }) as RenderNotFound
    };
    let gate = OrgGate { ctx: ctx.clone(), not_found };

    let leptos = Router::new()
        .leptos_routes_with_context(&options, routes, context, app_shell)
        .route_layer(axum::middleware::from_fn(crate::api::envelope::server_fn_status))
        .route_layer(axum::middleware::from_fn_with_state(ctx.clone(), crate::step_up::gate_server_fns))
        .route_layer(axum::middleware::from_fn(move |req: Request<Body>, next: Next| {
            org_gate::check(gate.clone(), req, next)
        }))
        // Outermost: the session is resolved once, for all of the above.
        .route_layer(axum::middleware::from_fn_with_state(ctx.clone(), crate::sessions::resolve_browser))
        .fallback(move |req: Request<Body>| {
            let fallback = fallback.clone();
            async move { fallback(req).await.into_response() }
        })
        .with_state(options);

    let health = Router::new()
        .route("/healthz", get(crate::api::health::healthz))
        .route("/readyz", get(crate::api::health::readyz))
        .with_state(ctx.clone());

    Router::new()
        .merge(crate::api::routes(ctx.clone(), config.production()))
        .merge(health)
        .route("/favicon.svg", get(favicon))
        .route("/share/{token}", get(crate::share_page::shared_canvas).with_state(ctx.clone()))
        .route("/frames/{id}", get(crate::share_page::frame).with_state(ctx.clone()))
        .route("/files/{id}/content", get(crate::api::files::signed_content).with_state(ctx.clone()))
        // Under /pkg: the only place pages may load scripts from.
        .route("/pkg/webauthn.js", get(webauthn_glue))
        .route("/pkg/payments.js", get(payments_glue))
        // The wasm and CSS are large and compress well (1.7 MB of wasm is
        // about a third of that gzipped).
        // A route rather than a nested service, so the metrics see its
        // template (`/pkg/{*file}`).
        .route_service("/pkg/{*file}", CompressionLayer::new().layer(ServeDir::new(&config.site_root)))
        .merge(leptos)
        .layer(axum::middleware::from_fn_with_state(AllowedOrigin { public_origin }, check_origin))
        .layer(sessions)
        .layer(axum::middleware::from_fn_with_state(Arc::new(SecurityHeaders::new(config)), security_headers::apply))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(config.trusted_proxies.clone()),
            crate::client_ip::resolve,
        ))
        .layer(TraceLayer::new_for_http())
}

/// What every render of the app gets: the server's `Ctx`, and the nonce
/// the security-headers layer put in this answer's policy, which Leptos
/// writes on the scripts it inlines (hydration, resolved resources).
fn leptos_context(ctx: &Ctx) {
    provide_context(ctx.clone());
    let nonce = with_context::<http::request::Parts, _>(|parts| parts.extensions.get::<Nonce>().cloned()).flatten();
    if let Some(nonce) = nonce {
        provide_context(nonce);
    }
}

/// The passkey glue the dashboard calls (`app/src/components/passkey_glue.rs`).
async fn webauthn_glue() -> impl IntoResponse {
    ([(http::header::CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("../../public/webauthn.js"))
}

/// The Stripe glue of the billing page (`app/src/components/payments_glue.rs`).
async fn payments_glue() -> impl IntoResponse {
    ([(http::header::CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("../../public/payments.js"))
}

async fn favicon() -> impl IntoResponse {
    ([(http::header::CONTENT_TYPE, "image/svg+xml")], include_str!("../../public/favicon.svg"))
}
