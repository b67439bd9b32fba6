//! The `alumia` server as a library, so tests start the real thing on
//! port 0 (`launch`) exactly as the binary does.

pub mod admin;
pub mod api;
pub mod auth;
pub mod config;
pub mod csrf;
pub mod openapi;
pub mod org_gate;
pub mod router;
pub mod sessions;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tower_sessions::ExpiredDeletion;

use app::db::Db;
use app::domain::cache::Caches;
use app::domain::{Clock, Ctx, DomainSettings, RateLimits};

pub use config::{Config, Settings};

/// Opens (and migrates) the database the config names, creating the data
/// directory for the default SQLite file.
pub async fn open_db(config: &Config) -> anyhow::Result<Db> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| anyhow::anyhow!("cannot create data dir {}: {e}", config.data_dir.display()))?;
    let db = Db::connect(&config.database_url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open database {}: {e}", config::redact_url(&config.database_url)))?;
    db.migrate().await?;
    Ok(db)
}

/// Everything `launch` serves, built but not yet listening; tests keep
/// the `Ctx` to move the clock.
pub struct Built {
    pub router: axum::Router,
    pub ctx: Ctx,
}

fn make_ctx(config: &Config, db: Db) -> Ctx {
    let single_process = matches!(db, Db::Sqlite(_));
    Ctx {
        db,
        caches: Arc::new(Caches::new(single_process)),
        clock: Clock::default(),
        settings: Arc::new(DomainSettings { public_url: config.public_url.clone(), production: config.production() }),
        limits: Arc::new(RateLimits::new(config.rate_limits)),
    }
}

/// The domain context for `alumia admin` commands (no HTTP server).
pub async fn operator_ctx(config: &Config) -> anyhow::Result<Ctx> {
    Ok(make_ctx(config, open_db(config).await?))
}

pub async fn build(config: &Config) -> anyhow::Result<Built> {
    let db = open_db(config).await?;
    let store = sessions::DbSessionStore::open(&db).await?;
    let ctx = make_ctx(config, db);
    // Housekeeping: expired sessions and idle rate-limit keys.
    tokio::spawn(store.clone().continuously_delete_expired(Duration::from_secs(3600)));
    let limits = ctx.limits.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            limits.retain_recent();
        }
    });
    let router = router::build(config, ctx.clone(), store);
    Ok(Built { router, ctx })
}

/// Serves on `listener` until `shutdown` resolves.
pub async fn serve(
    built: Built,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let service = built.router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service).with_graceful_shutdown(shutdown).await?;
    Ok(())
}

pub async fn launch(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let built = build(&config).await?;
    serve(built, listener, shutdown).await
}
