//! Settings: defaults, then an optional TOML file, then environment
//! variables and flags. Secrets never appear in `Debug` or logs.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::time::Duration;

use app::domain::billing::plans::{CreditPack, Package};
use app::domain::files::storage::StorageUrl;
use app::domain::models::ProviderConfig;
use clap::Args;
use serde::Deserialize;

use crate::client_ip::TrustedProxies;
use crate::listener::Limits;

/// Every setting, as flags and environment variables (`alumia --help`).
#[derive(Args, Clone, Default)]
pub struct Settings {
    /// Optional TOML file with the same settings (keys: addr, public_url,
    /// data_dir, database_url, env, site_root, disable_rate_limit,
    /// step_up_seconds, master_key, billing, stripe_*, metrics_addr,
    /// log_format, header_timeout_secs, body_timeout_secs,
    /// idle_timeout_secs, max_connections, shutdown_grace_secs,
    /// trusted_proxies, ollama_url, schedule_tick_ms, storage_url,
    /// s3_endpoint, max_upload_mb, [[providers]], and the billing
    /// catalogue: default_package, credits_per_dollar, [[packages]],
    /// [[credit_packs]]; see README).
    #[arg(long, env = "ALUMIA_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:3000]
    #[arg(long, env = "ALUMIA_ADDR", global = true)]
    pub addr: Option<SocketAddr>,
    /// Public base URL: links in invites, WebAuthn relying party
    /// [default: http://localhost:3000]
    #[arg(long, env = "ALUMIA_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Data directory (SQLite file, generated keys, uploads) [default: ./data]
    #[arg(long, env = "ALUMIA_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Database: sqlite://… or postgres://… [default: SQLite file in the data dir]
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// development or production (Secure cookies, generic error messages)
    /// [default: development]
    #[arg(long = "env", env = "ALUMIA_ENV", global = true)]
    pub environment: Option<String>,
    /// Where the built assets are (pkg/alumia.js, .wasm, .css) [default: target/site]
    #[arg(long, env = "ALUMIA_SITE_ROOT", global = true)]
    pub site_root: Option<PathBuf>,
    /// Turns rate limits off (ignored in production)
    #[arg(long, env = "DISABLE_RATE_LIMIT", global = true, value_parser = parse_flag)]
    pub disable_rate_limit: Option<bool>,
    /// How long a passkey or TOTP step-up lasts, in seconds [default: 600]
    #[arg(long, env = "ALUMIA_STEP_UP_SECONDS", global = true)]
    pub step_up_seconds: Option<u32>,
    /// Master key sealing secrets at rest (TOTP secrets…): 64 hex digits.
    /// [default: generated once into <data dir>/master.key]
    #[arg(long, env = "ALUMIA_MASTER_KEY", global = true, hide_env_values = true)]
    pub master_key: Option<String>,
    /// enabled or disabled (runs unmetered: no credits, budgets or
    /// package checks) [default: enabled]
    #[arg(long, env = "ALUMIA_BILLING", global = true)]
    pub billing: Option<String>,
    /// Stripe secret key (sk_…); with the webhook secret, turns on online
    /// payments
    #[arg(long, env = "ALUMIA_STRIPE_SECRET_KEY", global = true, hide_env_values = true)]
    pub stripe_secret_key: Option<String>,
    /// Stripe publishable key (pk_…) for Stripe Elements on the billing page
    #[arg(long, env = "ALUMIA_STRIPE_PUBLISHABLE_KEY", global = true)]
    pub stripe_publishable_key: Option<String>,
    /// Signing secret of the Stripe webhook endpoint (whsec_…)
    #[arg(long, env = "ALUMIA_STRIPE_WEBHOOK_SECRET", global = true, hide_env_values = true)]
    pub stripe_webhook_secret: Option<String>,
    /// Stripe API base URL [default: https://api.stripe.com/]
    #[arg(long, env = "ALUMIA_STRIPE_API_BASE", global = true)]
    pub stripe_api_base: Option<String>,
    /// Stripe.js URL [default: https://js.stripe.com/v3/]
    #[arg(long, env = "ALUMIA_STRIPE_JS_URL", global = true)]
    pub stripe_js_url: Option<String>,
    /// Currency of top-ups [default: usd]
    #[arg(long, env = "ALUMIA_STRIPE_CURRENCY", global = true)]
    pub stripe_currency: Option<String>,
    /// Address of a separate listener serving Prometheus metrics at
    /// GET /metrics, and nothing else [default: none, no metrics]
    #[arg(long, env = "ALUMIA_METRICS_ADDR", global = true)]
    pub metrics_addr: Option<SocketAddr>,
    /// Log format on stderr: text or json [default: text]
    #[arg(long, env = "ALUMIA_LOG_FORMAT", global = true)]
    pub log_format: Option<String>,
    /// Seconds a request head may take from its first byte [default: 10]
    #[arg(long, env = "ALUMIA_HEADER_TIMEOUT_SECS", global = true)]
    pub header_timeout_secs: Option<u64>,
    /// Seconds a request body may stall before the answer is 408 [default: 30]
    #[arg(long, env = "ALUMIA_BODY_TIMEOUT_SECS", global = true)]
    pub body_timeout_secs: Option<u64>,
    /// Seconds a kept-alive connection may wait for its next request, or
    /// an answer for its client to read on [default: 60]
    #[arg(long, env = "ALUMIA_IDLE_TIMEOUT_SECS", global = true)]
    pub idle_timeout_secs: Option<u64>,
    /// Open connections at most; more wait to be accepted [default: 10000]
    #[arg(long, env = "ALUMIA_MAX_CONNECTIONS", global = true)]
    pub max_connections: Option<usize>,
    /// Seconds a shutdown waits for answers in flight [default: 30]
    #[arg(long, env = "ALUMIA_SHUTDOWN_GRACE_SECS", global = true)]
    pub shutdown_grace_secs: Option<u64>,
    /// Proxies whose Forwarded / X-Forwarded-For headers name the client:
    /// comma-separated CIDR ranges, e.g. 127.0.0.1/32,10.0.0.0/8
    /// [default: none, the headers are ignored]
    #[arg(long, env = "ALUMIA_TRUSTED_PROXIES", global = true)]
    pub trusted_proxies: Option<String>,
    /// Ollama server whose models are offered at 0 credits when no
    /// [[providers]] are configured; `off` disables
    /// [default: http://127.0.0.1:11434]
    #[arg(long, env = "ALUMIA_OLLAMA_URL", global = true)]
    pub ollama_url: Option<String>,
    /// How often the schedule runner looks for due times, in
    /// milliseconds; 0 turns it off in this process [default: 1000]
    #[arg(long, env = "ALUMIA_SCHEDULE_TICK_MS", global = true)]
    pub schedule_tick_ms: Option<u64>,
    /// Where files are stored: file://<dir> or s3://<bucket>/<prefix>
    /// [default: file://<data dir>/files]
    #[arg(long, env = "ALUMIA_STORAGE_URL", global = true)]
    pub storage_url: Option<String>,
    /// An S3-compatible server for s3:// storage (path-style requests);
    /// credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION
    #[arg(long, env = "ALUMIA_S3_ENDPOINT", global = true)]
    pub s3_endpoint: Option<String>,
    /// The largest file an upload may carry, in MB [default: 25]
    #[arg(long, env = "ALUMIA_MAX_UPLOAD_MB", global = true)]
    pub max_upload_mb: Option<u64>,
}

fn parse_flag(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        other => Err(format!("expected 1/0/true/false, got {other}")),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    addr: Option<SocketAddr>,
    public_url: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    env: Option<String>,
    site_root: Option<PathBuf>,
    disable_rate_limit: Option<bool>,
    step_up_seconds: Option<u32>,
    master_key: Option<String>,
    billing: Option<String>,
    stripe_secret_key: Option<String>,
    stripe_publishable_key: Option<String>,
    stripe_webhook_secret: Option<String>,
    stripe_api_base: Option<String>,
    stripe_js_url: Option<String>,
    stripe_currency: Option<String>,
    default_package: Option<String>,
    credits_per_dollar: Option<i64>,
    min_top_up_cents: Option<i64>,
    max_top_up_cents: Option<i64>,
    packages: Option<Vec<Package>>,
    credit_packs: Option<Vec<CreditPack>>,
    metrics_addr: Option<SocketAddr>,
    log_format: Option<String>,
    header_timeout_secs: Option<u64>,
    body_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
    max_connections: Option<usize>,
    shutdown_grace_secs: Option<u64>,
    trusted_proxies: Option<String>,
    ollama_url: Option<String>,
    schedule_tick_ms: Option<u64>,
    storage_url: Option<String>,
    s3_endpoint: Option<String>,
    max_upload_mb: Option<u64>,
    providers: Option<Vec<ProviderConfig>>,
}

/// Stripe, when both its secret key and webhook secret are set. `Debug`
/// never shows the secrets.
#[derive(Clone)]
pub struct StripeConfig {
    pub secret_key: String,
    pub webhook_secret: String,
    pub publishable_key: String,
    pub api_base: Option<String>,
    pub js_url: String,
    pub currency: String,
}

impl fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeConfig")
            .field("secret_key", &"***")
            .field("webhook_secret", &"***")
            .field("publishable_key", &self.publishable_key)
            .field("api_base", &self.api_base)
            .field("js_url", &self.js_url)
            .field("currency", &self.currency)
            .finish()
    }
}

/// Billing as configured.
#[derive(Clone, Debug)]
pub struct BillingConfig {
    pub metered: bool,
    pub stripe: Option<StripeConfig>,
    /// `None`: the built-in Personal, Pro and Team.
    pub packages: Option<Vec<Package>>,
    pub default_package: Option<String>,
    pub credit_packs: Option<Vec<CreditPack>>,
    pub credits_per_dollar: Option<i64>,
    pub min_top_up_cents: Option<i64>,
    pub max_top_up_cents: Option<i64>,
}

/// How logs are written to stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Lines for people (tracing-subscriber's default format).
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl LogFormat {
    pub fn parse(text: &str) -> anyhow::Result<LogFormat> {
        match text.trim().to_ascii_lowercase().as_str() {
            "text" | "" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => anyhow::bail!("ALUMIA_LOG_FORMAT must be text or json, not {text:?}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

/// The resolved configuration the server runs with.
#[derive(Clone)]
pub struct Config {
    pub addr: SocketAddr,
    pub public_url: String,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub environment: Environment,
    pub site_root: PathBuf,
    pub rate_limits: bool,
    pub step_up_seconds: u32,
    /// From the setting; `None` means the data dir's `master.key`.
    pub master_key: Option<MasterKey>,
    pub billing: BillingConfig,
    /// Where to serve `/metrics`; `None`: no metrics listener.
    pub metrics_addr: Option<SocketAddr>,
    pub log_format: LogFormat,
    /// Timeouts and the connection cap of the main listener.
    pub limits: Limits,
    pub trusted_proxies: TrustedProxies,
    /// `[[providers]]`: the operator's model providers.
    pub providers: Vec<ProviderConfig>,
    /// Where to discover Ollama; `None`: `off`.
    pub ollama_url: Option<String>,
    /// The schedule runner's tick; `None`: not run in this process.
    pub schedule_tick: Option<Duration>,
    /// Where files' bytes go.
    pub storage: StorageUrl,
    pub s3_endpoint: Option<String>,
    pub max_upload_mb: u64,
}

/// 32 bytes; `Debug` never shows them.
#[derive(Clone)]
pub struct MasterKey(pub [u8; 32]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

impl MasterKey {
    pub fn parse(hex_text: &str) -> anyhow::Result<MasterKey> {
        let bytes = hex::decode(hex_text.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| anyhow::anyhow!("ALUMIA_MASTER_KEY must be 64 hex digits (32 bytes)"))?;
        Ok(MasterKey(bytes))
    }
}

impl Config {
    pub fn production(&self) -> bool {
        self.environment == Environment::Production
    }

    /// Resolves `settings` over the TOML file over the defaults.
    pub fn resolve(settings: &Settings) -> anyhow::Result<Config> {
        let file: FileSettings = match &settings.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| anyhow::anyhow!("invalid config file {}: {e}", path.display()))?
            }
            None => FileSettings::default(),
        };
        let billing = resolve_billing(settings, &file)?;
        let limits = resolve_limits(settings, &file)?;
        let environment = match settings.environment.clone().or(file.env).as_deref().unwrap_or("development") {
            "development" | "dev" => Environment::Development,
            "production" | "prod" => Environment::Production,
            other => anyhow::bail!("ALUMIA_ENV must be development or production, not {other:?}"),
        };
        let data_dir = settings.data_dir.clone().or(file.data_dir).unwrap_or_else(|| PathBuf::from("./data"));
        let database_url =
            settings.database_url.clone().or(file.database_url).unwrap_or_else(|| default_sqlite_url(&data_dir));
        let public_url = settings
            .public_url
            .clone()
            .or(file.public_url)
            .unwrap_or_else(|| "http://localhost:3000".to_string())
            .trim_end_matches('/')
            .to_string();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            anyhow::bail!("ALUMIA_PUBLIC_URL must start with http:// or https://");
        }
        let disable = settings.disable_rate_limit.or(file.disable_rate_limit).unwrap_or(false);
        let step_up_seconds = settings.step_up_seconds.or(file.step_up_seconds).unwrap_or(600);
        if step_up_seconds == 0 {
            anyhow::bail!("ALUMIA_STEP_UP_SECONDS must be at least 1");
        }
        let master_key =
            settings.master_key.clone().or(file.master_key).as_deref().map(MasterKey::parse).transpose()?;
        let addr = settings.addr.or(file.addr).unwrap_or_else(|| ([127, 0, 0, 1], 3000).into());
        let metrics_addr = settings.metrics_addr.or(file.metrics_addr);
        if metrics_addr.is_some_and(|m| m == addr && m.port() != 0) {
            anyhow::bail!("ALUMIA_METRICS_ADDR must differ from ALUMIA_ADDR: metrics get a listener of their own");
        }
        let log_format =
            settings.log_format.clone().or(file.log_format).as_deref().map(LogFormat::parse).transpose()?;
        let trusted_proxies = match settings.trusted_proxies.clone().or(file.trusted_proxies) {
            Some(list) => TrustedProxies::parse(&list).map_err(|e| anyhow::anyhow!("ALUMIA_TRUSTED_PROXIES: {e}"))?,
            None => TrustedProxies::default(),
        };
        let ollama_url = match settings.ollama_url.clone().or(file.ollama_url).as_deref().map(str::trim) {
            Some("off") => None,
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => Some(url.to_string()),
            Some(other) => anyhow::bail!("ALUMIA_OLLAMA_URL must be an http(s) URL or off, not {other:?}"),
            None => Some("http://127.0.0.1:11434".to_string()),
        };
        let schedule_tick = match settings.schedule_tick_ms.or(file.schedule_tick_ms).unwrap_or(1000) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        };
        let storage = match settings.storage_url.clone().or(file.storage_url) {
            Some(url) => StorageUrl::parse(&url).map_err(|e| anyhow::anyhow!(e))?,
            None => StorageUrl::Local(data_dir.join("files")),
        };
        let s3_endpoint = settings.s3_endpoint.clone().or(file.s3_endpoint).filter(|e| !e.trim().is_empty());
        if let Some(endpoint) = &s3_endpoint {
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                anyhow::bail!("ALUMIA_S3_ENDPOINT must be an http(s) URL, not {endpoint:?}");
            }
        }
        let max_upload_mb = settings.max_upload_mb.or(file.max_upload_mb).unwrap_or(25);
        if max_upload_mb == 0 {
            anyhow::bail!("ALUMIA_MAX_UPLOAD_MB must be at least 1");
        }
        Ok(Config {
            storage,
            s3_endpoint,
            max_upload_mb,
            schedule_tick,
            limits,
            trusted_proxies,
            providers: file.providers.unwrap_or_default(),
            ollama_url,
            billing,
            addr,
            public_url,
            data_dir,
            database_url,
            environment,
            site_root: settings.site_root.clone().or(file.site_root).unwrap_or_else(|| PathBuf::from("target/site")),
            // DISABLE_RATE_LIMIT is a development convenience only.
            rate_limits: !(disable && environment == Environment::Development),
            step_up_seconds,
            master_key,
            metrics_addr,
            log_format: log_format.unwrap_or(LogFormat::Text),
        })
    }
}

fn resolve_limits(settings: &Settings, file: &FileSettings) -> anyhow::Result<Limits> {
    let defaults = Limits::default();
    let secs = |flag: Option<u64>, in_file: Option<u64>, name: &str, default: Duration| match flag.or(in_file) {
        Some(0) => Err(anyhow::anyhow!("{name} must be at least 1")),
        Some(s) => Ok(Duration::from_secs(s)),
        None => Ok(default),
    };
    let max_connections = settings.max_connections.or(file.max_connections).unwrap_or(defaults.max_connections);
    if max_connections == 0 {
        anyhow::bail!("ALUMIA_MAX_CONNECTIONS must be at least 1");
    }
    Ok(Limits {
        header_timeout: secs(
            settings.header_timeout_secs,
            file.header_timeout_secs,
            "ALUMIA_HEADER_TIMEOUT_SECS",
            defaults.header_timeout,
        )?,
        body_timeout: secs(
            settings.body_timeout_secs,
            file.body_timeout_secs,
            "ALUMIA_BODY_TIMEOUT_SECS",
            defaults.body_timeout,
        )?,
        idle_timeout: secs(
            settings.idle_timeout_secs,
            file.idle_timeout_secs,
            "ALUMIA_IDLE_TIMEOUT_SECS",
            defaults.idle_timeout,
        )?,
        max_connections,
        shutdown_grace: secs(
            settings.shutdown_grace_secs,
            file.shutdown_grace_secs,
            "ALUMIA_SHUTDOWN_GRACE_SECS",
            defaults.shutdown_grace,
        )?,
    })
}

fn resolve_billing(settings: &Settings, file: &FileSettings) -> anyhow::Result<BillingConfig> {
    let pick = |flag: &Option<String>, in_file: &Option<String>| {
        flag.clone().or_else(|| in_file.clone()).filter(|v| !v.trim().is_empty())
    };
    let metered = match pick(&settings.billing, &file.billing).as_deref().unwrap_or("enabled") {
        "enabled" | "on" => true,
        "disabled" | "off" => false,
        other => anyhow::bail!("ALUMIA_BILLING must be enabled or disabled, not {other:?}"),
    };
    let secret = pick(&settings.stripe_secret_key, &file.stripe_secret_key);
    let webhook_secret = pick(&settings.stripe_webhook_secret, &file.stripe_webhook_secret);
    let stripe = match (secret, webhook_secret) {
        (Some(secret_key), Some(webhook_secret)) => Some(StripeConfig {
            secret_key,
            webhook_secret,
            publishable_key: pick(&settings.stripe_publishable_key, &file.stripe_publishable_key).unwrap_or_default(),
            api_base: pick(&settings.stripe_api_base, &file.stripe_api_base),
            js_url: pick(&settings.stripe_js_url, &file.stripe_js_url)
                .unwrap_or_else(|| "https://js.stripe.com/v3/".to_string()),
            currency: pick(&settings.stripe_currency, &file.stripe_currency).unwrap_or_else(|| "usd".to_string()),
        }),
        (None, None) => None,
        _ => anyhow::bail!("Stripe needs both ALUMIA_STRIPE_SECRET_KEY and ALUMIA_STRIPE_WEBHOOK_SECRET (or neither)"),
    };
    Ok(BillingConfig {
        metered,
        stripe,
        packages: file.packages.clone(),
        default_package: file.default_package.clone(),
        credit_packs: file.credit_packs.clone(),
        credits_per_dollar: file.credits_per_dollar,
        min_top_up_cents: file.min_top_up_cents,
        max_top_up_cents: file.max_top_up_cents,
    })
}

fn default_sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("alumia.db").display())
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}://{}:***{}", &url[..scheme_end], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("addr", &self.addr)
            .field("public_url", &self.public_url)
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact_url(&self.database_url))
            .field("environment", &self.environment)
            .field("site_root", &self.site_root)
            .field("rate_limits", &self.rate_limits)
            .field("step_up_seconds", &self.step_up_seconds)
            .field("master_key", &self.master_key)
            .field("billing", &self.billing)
            .field("metrics_addr", &self.metrics_addr)
            .field("log_format", &self.log_format)
            .field("limits", &self.limits)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("providers", &self.providers.iter().map(|p| &p.id).collect::<Vec<_>>())
            .field("ollama_url", &self.ollama_url)
            .field("schedule_tick", &self.schedule_tick)
            .field("storage", &self.storage)
            .field("s3_endpoint", &self.s3_endpoint)
            .field("max_upload_mb", &self.max_upload_mb)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_database_urls_are_redacted() {
        assert_eq!(redact_url("postgres://app:hunter2@db:5432/alumia"), "postgres://app:***@db:5432/alumia");
        assert_eq!(redact_url("sqlite://./data/alumia.db"), "sqlite://./data/alumia.db");
        let config = Config::resolve(&Settings {
            database_url: Some("postgres://app:hunter2@db/alumia".into()),
            ..Default::default()
        })
        .unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn log_format_is_text_or_json() {
        let default = Config::resolve(&Settings::default()).unwrap();
        assert_eq!(default.log_format, LogFormat::Text);
        let json = Config::resolve(&Settings { log_format: Some("json".into()), ..Default::default() }).unwrap();
        assert_eq!(json.log_format, LogFormat::Json);
        assert_eq!(LogFormat::parse(" JSON ").unwrap(), LogFormat::Json);
        assert_eq!(LogFormat::parse("text").unwrap(), LogFormat::Text);
        let err = Config::resolve(&Settings { log_format: Some("yaml".into()), ..Default::default() }).unwrap_err();
        assert!(err.to_string().contains("ALUMIA_LOG_FORMAT must be text or json"), "{err}");
    }

    #[test]
    fn metrics_listener_is_off_unless_set_and_not_the_main_address() {
        assert_eq!(Config::resolve(&Settings::default()).unwrap().metrics_addr, None);
        let addr: SocketAddr = "127.0.0.1:9100".parse().unwrap();
        let set = Config::resolve(&Settings { metrics_addr: Some(addr), ..Default::default() }).unwrap();
        assert_eq!(set.metrics_addr, Some(addr));
        let same = Settings { addr: Some(addr), metrics_addr: Some(addr), ..Default::default() };
        assert!(Config::resolve(&same).is_err());
    }

    #[test]
    fn rate_limits_cannot_be_disabled_in_production() {
        let prod = Config::resolve(&Settings {
            environment: Some("production".into()),
            disable_rate_limit: Some(true),
            ..Default::default()
        })
        .unwrap();
        assert!(prod.rate_limits);
        let dev = Config::resolve(&Settings { disable_rate_limit: Some(true), ..Default::default() }).unwrap();
        assert!(!dev.rate_limits);
    }
}
