//! Step-up (SPEC §4): a passkey or TOTP ceremony marks the browser
//! session stepped up for a while (10 minutes by default); browser-only
//! mutations need that mark to be fresh.
//!
//! `require_browser_step_up` is the only gate. The server also runs it
//! before every server function and `/api/v1` mutation that is not listed
//! as open (`server/src/step_up.rs`), so a new mutation is gated unless
//! someone decides otherwise.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use uuid::Uuid;

use super::audit::{self, AuditActor, AuditEvent};
use super::clock::iso;
use super::{Actor, BrowserSession, Ctx, DomainResult};
use crate::db::{exec_on_db, on_db};
use crate::model::{AppError, StepUpMethods};

/// `error.details.stepUp` of the 403 a stale session gets.
pub const STEP_UP_REQUIRED: &str = "required";

/// How a session was stepped up (audit and the session row).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Passkey,
    Totp,
    RecoveryCode,
    /// Enrolling the first factor: the password, then the new factor.
    Enrolment,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Passkey => "passkey",
            Method::Totp => "totp",
            Method::RecoveryCode => "recovery_code",
            Method::Enrolment => "enrolment",
        }
    }
}

pub fn required() -> AppError {
    AppError::forbidden("Confirm it is you: this action needs a recent passkey or authenticator code.")
        .with_details(json!({ "stepUp": STEP_UP_REQUIRED }))
}

pub fn browser_only() -> AppError {
    AppError::forbidden("This action requires a browser session")
}

/// Whether a step-up made at `at` still counts at `now`.
pub fn is_fresh(at: Option<DateTime<Utc>>, now: DateTime<Utc>, window: Duration) -> bool {
    at.is_some_and(|at| at <= now && now - at < window)
}

/// The gate of every browser-only mutation: an API key gets 403 "requires
/// a browser session", a browser session without a fresh step-up 403 with
/// `details.stepUp = "required"`.
pub fn require_browser_step_up(ctx: &Ctx, actor: &Actor) -> DomainResult<BrowserSession> {
    match actor {
        Actor::User { user_id, session_id, stepped_up_at, .. } => {
            if is_fresh(*stepped_up_at, ctx.clock.now(), ctx.settings.step_up_window()) {
                Ok(BrowserSession { user_id: *user_id, session_id: *session_id })
            } else {
                Err(required())
            }
        }
        Actor::ApiKey { .. } | Actor::Cli { .. } => Err(browser_only()),
    }
}

/// Marks the session stepped up now (the caller rotates the session id).
pub async fn mark(ctx: &Ctx, user_id: Uuid, session_id: Uuid, method: Method, ip: Option<String>) -> DomainResult<()> {
    let now = ctx.clock.now();
    exec_on_db!(&ctx.db, |p| sqlx::query(
        "UPDATE user_sessions SET stepped_up_at = $3, step_up_method = $4 WHERE id = $1 AND user_id = $2"
    )
    .bind(session_id)
    .bind(user_id)
    .bind(now)
    .bind(method.as_str())
    .execute(p)
    .await)?;
    ctx.caches.sessions.invalidate(|id| *id == session_id);
    record(ctx, user_id, "step_up.success", Some(now), method, ip).await
}

/// Audits a failed ceremony.
pub async fn record_failure(ctx: &Ctx, user_id: Uuid, method: Method, ip: Option<String>) -> DomainResult<()> {
    record(ctx, user_id, "step_up.failure", None, method, ip).await
}

async fn record(
    ctx: &Ctx,
    user_id: Uuid,
    action: &'static str,
    stepped_up_at: Option<DateTime<Utc>>,
    method: Method,
    ip: Option<String>,
) -> DomainResult<()> {
    let actor = AuditActor { user_id: Some(user_id), auth_method: "browser", stepped_up_at, ip };
    let details = json!({ "method": method.as_str() });
    audit::record(ctx, actor, AuditEvent { org_id: None, action, target: None, details: Some(details) }).await
}

/// Which factors the user has, and until when the session is stepped up.
pub async fn methods(ctx: &Ctx, actor: &Actor) -> DomainResult<StepUpMethods> {
    let Actor::User { user_id, stepped_up_at, .. } = actor else {
        return Err(browser_only());
    };
    let (passkeys, totp) = factor_counts(ctx, *user_id).await?;
    let now = ctx.clock.now();
    let window = ctx.settings.step_up_window();
    Ok(StepUpMethods {
        passkey: passkeys > 0,
        totp,
        window_seconds: ctx.settings.step_up_seconds,
        stepped_up_until: stepped_up_at.filter(|at| is_fresh(Some(*at), now, window)).map(|at| iso(at + window)),
    })
}

/// (number of passkeys, whether TOTP is confirmed).
pub async fn factor_counts(ctx: &Ctx, user_id: Uuid) -> DomainResult<(i64, bool)> {
    let (passkeys, totp): (i64, i64) = on_db!(&ctx.db, |p| sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM passkeys WHERE user_id = $1), \
                (SELECT COUNT(*) FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL)"
    )
    .bind(user_id)
    .fetch_one(p)
    .await)?;
    Ok((passkeys, totp > 0))
}

pub async fn has_factor(ctx: &Ctx, user_id: Uuid) -> DomainResult<bool> {
    let (passkeys, totp) = factor_counts(ctx, user_id).await?;
    Ok(passkeys > 0 || totp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_up_lasts_its_window_and_no_longer() {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let window = Duration::seconds(600);
        assert!(is_fresh(Some(t0), t0, window));
        assert!(is_fresh(Some(t0), t0 + Duration::seconds(599), window));
        assert!(!is_fresh(Some(t0), t0 + Duration::seconds(600), window));
        assert!(!is_fresh(None, t0, window));
        assert!(!is_fresh(Some(t0 + Duration::seconds(5)), t0, window), "a mark from the future is not trusted");
    }
}
