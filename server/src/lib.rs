//! The `alumia` server as a library, so tests start the real thing on
//! port 0 (`launch`) exactly as the binary does.

pub mod admin;
pub mod api;
pub mod auth;
pub mod client_ip;
pub mod config;
pub mod csrf;
pub mod listener;
pub mod metrics;
pub mod openapi;
pub mod org_gate;
pub mod router;
pub mod security_headers;
pub mod sessions;
pub mod share_page;
pub mod step_up;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tower_sessions::ExpiredDeletion;

use app::db::Db;
use app::domain::billing::plans::{BillingSettings, StripeSettings};
use app::domain::billing::{grants, top_ups};
use app::domain::cache::Caches;
use app::domain::files::storage::Storage;
use app::domain::models::{self, Catalogue};
use app::domain::passkeys;
use app::domain::secrets::{self, Sealer};
use app::domain::{Clock, Ctx, CtxParts, DomainSettings, RateLimits};

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
    /// The metrics listener, bound when `ALUMIA_METRICS_ADDR` is set.
    pub metrics: Option<metrics::Listener>,
    /// The main listener's timeouts and connection cap.
    pub limits: listener::Limits,
}

impl Built {
    /// Where the metrics listener is (its port when configured as 0).
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics.as_ref().and_then(|m| m.local_addr().ok())
    }
}

fn make_ctx(config: &Config, db: Db) -> anyhow::Result<Ctx> {
    let single_process = matches!(db, Db::Sqlite(_));
    Ok(Ctx::new(CtxParts {
        db,
        caches: Arc::new(Caches::new(single_process)),
        clock: Clock::default(),
        settings: Arc::new(DomainSettings {
            public_url: config.public_url.clone(),
            production: config.production(),
            step_up_seconds: config.step_up_seconds,
            max_upload_bytes: config.max_upload_mb * app::domain::files::MB,
        }),
        limits: Arc::new(RateLimits::new(config.rate_limits)),
        webauthn: Arc::new(
            passkeys::relying_party(&config.public_url)
                .map_err(|e| anyhow::anyhow!("ALUMIA_PUBLIC_URL cannot be a WebAuthn relying party: {e}"))?,
        ),
        sealer: Arc::new(Sealer::new(&master_key(config)?)),
        billing: Arc::new(billing_settings(&config.billing)?),
        charges: Arc::default(),
        models: Arc::new(Catalogue::new(
            models::operator_providers(&config.providers, |var| std::env::var(var).ok())
                .map_err(|e| anyhow::anyhow!("[[providers]]: {e}"))?,
            config.ollama_url.clone(),
        )),
        hub: Arc::default(),
        events: Arc::default(),
        tools: Arc::new(app::domain::sessions::tools::Registry::with_builtins()),
        http: app::domain::providers::http_client(),
        storage: Arc::new(
            Storage::open(
                &config.storage,
                config.s3_endpoint.as_deref(),
                |var| std::env::var(var).ok(),
                storage_http(),
            )
            .map_err(|e| anyhow::anyhow!("file storage: {e}"))?,
        ),
    }))
}

/// The client S3 requests go out on: a store that stops answering fails
/// the request instead of holding it.
fn storage_http() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// The billing catalogue and Stripe client from the configuration.
fn billing_settings(config: &config::BillingConfig) -> anyhow::Result<BillingSettings> {
    let mut settings = BillingSettings::unconfigured();
    settings.metered = config.metered;
    if let Some(packages) = &config.packages {
        settings.packages = packages.clone();
        settings.default_package = settings.packages.first().map(|p| p.id.clone()).unwrap_or_default();
    }
    if let Some(id) = &config.default_package {
        settings.default_package = id.clone();
    }
    if let Some(packs) = &config.credit_packs {
        settings.credit_packs = packs.clone();
    }
    settings.credits_per_dollar = config.credits_per_dollar.unwrap_or(settings.credits_per_dollar);
    settings.min_top_up_cents = config.min_top_up_cents.unwrap_or(settings.min_top_up_cents);
    settings.max_top_up_cents = config.max_top_up_cents.unwrap_or(settings.max_top_up_cents);
    if let Some(stripe) = &config.stripe {
        let mut builder = stripe::ClientBuilder::new(stripe.secret_key.clone()).timeout(Duration::from_secs(20));
        if let Some(base) = &stripe.api_base {
            builder = builder.url(base.clone());
        }
        settings.stripe = Some(StripeSettings {
            client: builder.build().map_err(|e| anyhow::anyhow!("Stripe client: {e}"))?,
            webhook_secret: stripe.webhook_secret.clone(),
            publishable_key: stripe.publishable_key.clone(),
            js_url: stripe.js_url.clone(),
            currency: stripe.currency.clone(),
        });
    }
    settings.check().map_err(|e| anyhow::anyhow!("billing configuration: {e}"))?;
    Ok(settings)
}

/// The configured master key, or the one generated into the data dir on
/// first start (several instances must share one: configure it then).
fn master_key(config: &Config) -> anyhow::Result<[u8; secrets::KEY_LEN]> {
    if let Some(key) = &config.master_key {
        return Ok(key.0);
    }
    let path = config.data_dir.join("master.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(config::MasterKey::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?.0),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = Sealer::generate_key();
            if publish_private(&path, &hex::encode(key))? {
                tracing::info!(path = %path.display(), "generated a master key for secrets at rest; back it up");
                return Ok(key);
            }
            // Another process (an `alumia admin` run) published one first.
            master_key(config)
        }
        Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    }
}

/// Creates `path`, readable by its owner only, whole or not at all: the
/// text goes to a private temporary file first, then is linked into place
/// (which fails if `path` exists). `false` when another process won.
fn publish_private(path: &std::path::Path, text: &str) -> anyhow::Result<bool> {
    use std::io::Write;
    let temporary = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file =
        options.open(&temporary).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", temporary.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    let linked = std::fs::hard_link(&temporary, path);
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(anyhow::anyhow!("cannot create {}: {e}", path.display())),
    }
}

/// The domain context for `alumia admin` commands (no HTTP server).
pub async fn operator_ctx(config: &Config) -> anyhow::Result<Ctx> {
    make_ctx(config, open_db(config).await?)
}

pub async fn build(config: &Config) -> anyhow::Result<Built> {
    let db = open_db(config).await?;
    // `alumia admin`'s writes to this SQLite file drop page data at once.
    app::db::changes::follow(&config.database_url);
    let store = sessions::DbSessionStore::open(&db).await?;
    let ctx = make_ctx(config, db)?;
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
    spawn_billing_workers(&ctx);
    ctx.events.spawn_listener(&ctx.db, ctx.caches.clone());
    app::domain::sessions::spawn_interrupted_sweeper(&ctx);
    let holder = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
    tokio::spawn(app::domain::files::sweeper::run(ctx.clone(), holder));
    tracing::info!(storage = %ctx.storage.description, "file storage");
    if let Some(every) = config.schedule_tick {
        app::domain::schedules::runner::spawn(&ctx, every);
    }
    discover_models(&ctx).await;
    let mut router = router::build(config, ctx.clone(), store);
    let metrics = match config.metrics_addr {
        Some(addr) => {
            let listener = metrics::Listener::bind(addr).await?;
            tracing::info!("metrics on http://{}/metrics", listener.local_addr()?);
            // A layer of the whole router runs inside each route, where
            // the matched route template is known.
            router = router.layer(axum::middleware::from_fn(metrics::track));
            Some(listener)
        }
        None => None,
    };
    Ok(Built { router, ctx, metrics, limits: config.limits })
}

/// Says which models this server offers, after a first look for Ollama
/// when discovery is on; discovery then keeps looking every minute.
async fn discover_models(ctx: &app::domain::Ctx) {
    let found = ctx.models.refresh_ollama(&reqwest::Client::new()).await;
    let configured: usize = ctx.models.operator().iter().filter(|p| p.managed).map(|p| p.models.len()).sum();
    match ctx.models.ollama_url() {
        Some(url) if found > 0 => tracing::info!(%url, models = found, "offering Ollama's models at 0 credits"),
        Some(url) => {
            tracing::info!(%url, "no [[providers]] configured and no Ollama answering there yet; looking again every minute")
        }
        None if configured == 0 => tracing::warn!(
            "no model provider configured: add [[providers]] to ALUMIA_CONFIG, or let orgs bring their own keys"
        ),
        None => tracing::info!(models = configured, "model providers configured"),
    }
    models::spawn_ollama_discovery(ctx.models.clone());
}

/// The monthly grant (and expiry) pass every minute, and the top-up
/// reconcile pass every minute when Stripe is configured. Leases keep
/// several processes from doing the same pass at once.
fn spawn_billing_workers(ctx: &Ctx) {
    if !ctx.billing.metered {
        return;
    }
    let ctx = ctx.clone();
    let holder = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Err(err) = grants::run(&ctx, &holder).await {
                tracing::warn!(error = ?err, "monthly grant pass failed");
            }
            if let Err(err) = top_ups::reconcile(&ctx, &holder).await {
                tracing::warn!(error = ?err, "top-up reconcile pass failed");
            }
        }
    });
}

/// Serves on `listener`, and metrics on their own listener when built
/// with one, until `shutdown` resolves.
pub async fn serve(
    built: Built,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (router, limits) = (built.router, built.limits);
    let Some(metrics) = built.metrics else {
        listener::serve(router, listener, limits, shutdown).await?;
        return Ok(());
    };
    // One shutdown signal for both listeners.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    let main = listener::serve(router, listener, limits, until_stopped(stopped.clone()));
    let (main, metrics) = tokio::join!(main, metrics.serve(built.ctx.db.clone(), until_stopped(stopped)));
    main?;
    metrics?;
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
