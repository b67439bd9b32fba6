//! The domain: one async fn per operation, taking `&Ctx`, the `Actor` and
//! the input. Authorization, validation and audit live here, so the
//! dashboard (server functions) and `/api/v1` cannot disagree.

pub mod accounts;
pub mod audit;
pub mod clock;
pub mod members;
pub mod orgs;
pub mod rate_limit;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::Db;
use crate::model::{AppError, ErrorCode};
pub use clock::Clock;
pub use rate_limit::RateLimits;

/// Everything a domain operation may touch, built once by `launch`.
#[derive(Clone)]
pub struct Ctx {
    pub db: Db,
    pub clock: Clock,
    pub settings: Arc<DomainSettings>,
    pub limits: Arc<RateLimits>,
}

/// The part of the server configuration the domain needs.
#[derive(Clone, Debug)]
pub struct DomainSettings {
    /// `http://localhost:3000`, no trailing slash: links we hand out.
    pub public_url: String,
    pub production: bool,
}

/// Who is asking. Browser sessions only for now; API keys arrive with
/// `/api/v1` keys.
#[derive(Clone, Debug)]
pub enum Actor {
    User { user_id: Uuid, session_id: Uuid, stepped_up_at: Option<DateTime<Utc>>, ip: Option<String> },
}

impl Actor {
    pub fn user_id(&self) -> Uuid {
        match self {
            Actor::User { user_id, .. } => *user_id,
        }
    }

    pub fn auth_method(&self) -> &'static str {
        match self {
            Actor::User { .. } => "browser",
        }
    }

    pub fn ip(&self) -> Option<&str> {
        match self {
            Actor::User { ip, .. } => ip.as_deref(),
        }
    }

    pub fn stepped_up_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Actor::User { stepped_up_at, .. } => *stepped_up_at,
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
