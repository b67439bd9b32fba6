//! The domain: one async fn per operation, taking `&Ctx`, the `Actor` and
//! the input. Authorization, validation and audit live here, so the
//! dashboard (server functions) and `/api/v1` cannot disagree.

pub mod accounts;
pub mod agents;
pub mod api_keys;
pub mod audit;
pub mod billing;
pub mod byok;
pub mod cache;
pub mod canvas;
pub mod clock;
pub mod events;
pub mod files;
pub mod jobs;
pub mod members;
pub mod metrics;
pub mod models;
pub mod notifications;
pub mod orgs;
pub mod paging;
pub mod passkeys;
pub mod projects;
pub mod providers;
pub mod rate_limit;
pub mod recovery_codes;
pub mod schedules;
pub mod secrets;
pub mod security;
pub mod sessions;
pub mod step_up;
pub mod totp;
pub mod validate;
pub mod workspaces;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::Db;
use crate::model::{AppError, ErrorCode};
pub use clock::Clock;
pub use rate_limit::RateLimits;

/// Everything a domain operation may touch, built once by `launch`.
///
/// One `Arc`: a request clones it many times (each server function, each
/// component that reads it), and cloning a struct of a dozen `Arc`s bumped
/// a dozen counters shared by every worker thread, which cost more than
/// some pages' own data (measured: ~5% of a signed-in page's CPU).
#[derive(Clone)]
pub struct Ctx(Arc<CtxParts>);

impl Ctx {
    pub fn new(parts: CtxParts) -> Ctx {
        Ctx(Arc::new(parts))
    }
}

impl std::ops::Deref for Ctx {
    type Target = CtxParts;

    fn deref(&self) -> &CtxParts {
        &self.0
    }
}

/// What a [`Ctx`] holds.
pub struct CtxParts {
    pub db: Db,
    pub clock: Clock,
    pub settings: Arc<DomainSettings>,
    pub limits: Arc<RateLimits>,
    pub caches: Arc<cache::Caches>,
    /// The WebAuthn relying party (id and origin from the public URL).
    pub webauthn: Arc<webauthn_rs::Webauthn>,
    /// Seals secrets at rest with the master key.
    pub sealer: Arc<secrets::Sealer>,
    /// Packages, prices and Stripe.
    pub billing: Arc<billing::plans::BillingSettings>,
    /// Charges waiting to be written together (SQLite).
    pub charges: Arc<billing::metering::ChargeQueue>,
    /// The operator's model providers and what they offer.
    pub models: Arc<models::Catalogue>,
    /// The runs going on in this process.
    pub hub: Arc<sessions::live::Hub>,
    /// Live signals in this process and, on PostgreSQL, across processes.
    pub events: Arc<events::Events>,
    /// Where the agent loop finds tools (built-ins; skills, connectors and
    /// MCP servers plug their sources in).
    pub tools: Arc<sessions::tools::Registry>,
    /// The client model calls go out on (`providers::http_client`).
    pub http: reqwest::Client,
    /// Where files' bytes live (local disk or S3).
    pub storage: Arc<files::storage::Storage>,
}

/// The part of the server configuration the domain needs.
#[derive(Clone, Debug)]
pub struct DomainSettings {
    /// `http://localhost:3000`, no trailing slash: links we hand out.
    pub public_url: String,
    pub production: bool,
    /// How long a step-up lasts (`ALUMIA_STEP_UP_SECONDS`).
    pub step_up_seconds: u32,
    /// The largest file an upload may carry (`ALUMIA_MAX_UPLOAD_MB`).
    pub max_upload_bytes: u64,
}

impl DomainSettings {
    pub fn step_up_window(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::from(self.step_up_seconds))
    }
}

/// Who is asking: a browser session, or an API key (which acts for the
/// user who minted it, inside the key's org only).
#[derive(Clone, Debug)]
pub enum Actor {
    User {
        user_id: Uuid,
        session_id: Uuid,
        stepped_up_at: Option<DateTime<Utc>>,
        ip: Option<String>,
    },
    ApiKey {
        key_id: Uuid,
        user_id: Uuid,
        org_id: Uuid,
        scopes: Vec<String>,
        ip: Option<String>,
    },
    /// An operator at the server's command line (`alumia admin …`), acting
    /// for `user_id`.
    Cli {
        user_id: Uuid,
    },
}

/// A browser session's identity, for operations only a browser may do.
pub struct BrowserSession {
    pub user_id: Uuid,
    pub session_id: Uuid,
}

impl Actor {
    pub fn user_id(&self) -> Uuid {
        match self {
            Actor::User { user_id, .. } | Actor::ApiKey { user_id, .. } | Actor::Cli { user_id } => *user_id,
        }
    }

    pub fn auth_method(&self) -> &'static str {
        match self {
            Actor::User { .. } => "browser",
            Actor::ApiKey { .. } => "api_key",
            Actor::Cli { .. } => "cli",
        }
    }

    pub fn ip(&self) -> Option<&str> {
        match self {
            Actor::User { ip, .. } | Actor::ApiKey { ip, .. } => ip.as_deref(),
            Actor::Cli { .. } => None,
        }
    }

    pub fn stepped_up_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Actor::User { stepped_up_at, .. } => *stepped_up_at,
            Actor::ApiKey { .. } | Actor::Cli { .. } => None,
        }
    }

    /// Browser-only reads and sign-out: an API key gets 403. Mutations use
    /// `step_up::require_browser_step_up` instead.
    pub fn require_browser(&self) -> DomainResult<BrowserSession> {
        match self {
            Actor::User { user_id, session_id, .. } => {
                Ok(BrowserSession { user_id: *user_id, session_id: *session_id })
            }
            Actor::ApiKey { .. } | Actor::Cli { .. } => {
                Err(AppError::forbidden("This action requires a browser session"))
            }
        }
    }

    /// Routes that enforce a scope answer 403 to keys without it; browser
    /// sessions are not limited by scopes.
    pub fn require_scope(&self, scope: &str) -> DomainResult<()> {
        match self {
            Actor::ApiKey { scopes, .. } if !scopes.iter().any(|s| s == scope) => {
                Err(AppError::forbidden(format!("This API key lacks the {scope} scope")))
            }
            _ => Ok(()),
        }
    }
}

/// Maps database errors once: "no row" is a 404, a unique violation a 409,
/// anything else is logged with detail and answered generically.
impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => AppError::not_found(),
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                AppError::new(ErrorCode::Conflict, "That already exists")
            }
            _ => {
                tracing::error!(error = %err, "database error");
                AppError::internal()
            }
        }
    }
}

pub type DomainResult<T> = Result<T, AppError>;

#[cfg(test)]
mod tests {
    use super::*;

    fn key(scopes: &[&str]) -> Actor {
        Actor::ApiKey {
            key_id: Uuid::new_v4(),
            user_id: Uuid::new_v4(),
            org_id: Uuid::new_v4(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            ip: None,
        }
    }

    #[test]
    fn keys_need_the_scope_a_route_enforces() {
        assert!(key(&["models:read"]).require_scope("models:read").is_ok());
        let refused = key(&["models:read"]).require_scope("terminal").unwrap_err();
        assert_eq!(refused.code, ErrorCode::Forbidden);
        let browser =
            Actor::User { user_id: Uuid::new_v4(), session_id: Uuid::new_v4(), stepped_up_at: None, ip: None };
        assert!(browser.require_scope("terminal").is_ok());
    }

    #[test]
    fn only_browsers_pass_the_browser_gate() {
        let err = key(&[]).require_browser().err().unwrap();
        assert_eq!(err.code, ErrorCode::Forbidden);
        assert_eq!(err.message, "This action requires a browser session");
        assert!(Actor::Cli { user_id: Uuid::new_v4() }.require_browser().is_err());
    }
}
