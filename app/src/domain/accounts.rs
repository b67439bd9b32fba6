//! Accounts: sign-up, sign-in, browser sessions and their revocation.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::audit::{self, AuditActor, AuditEvent};
use super::{Actor, BrowserSession, Ctx, DomainResult};
use crate::db::{exec_on_db, is_unique_violation, on_db};
use crate::model::{AppError, BrowserSessionView, ErrorCode, SecurityPage};

pub const MIN_PASSWORD_LEN: usize = 10;
pub const MAX_PASSWORD_LEN: usize = 256;

/// Lower-cased and trimmed: `Ada@Example.COM ` and `ada@example.com` are
/// one account.
pub fn normalize_email(raw: &str) -> DomainResult<String> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        })
        && !email.chars().any(char::is_whitespace)
        && email.matches('@').count() == 1;
    if valid {
        Ok(email)
    } else {
        Err(AppError::validation("email", "Enter a valid email address"))
    }
}

fn check_password_rules(password: &str) -> DomainResult<()> {
    let len = password.chars().count();
    if len < MIN_PASSWORD_LEN {
        return Err(AppError::validation(
            "password",
            format!("Use at least {MIN_PASSWORD_LEN} characters for your password"),
        ));
    }
    if len > MAX_PASSWORD_LEN {
        return Err(AppError::validation(
            "password",
            format!("Use at most {MAX_PASSWORD_LEN} characters for your password"),
        ));
    }
    Ok(())
}

/// argon2id is deliberately slow; it runs off the async workers.
pub async fn hash_password(password: String) -> DomainResult<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string())
    })
    .await
    .map_err(|_| AppError::internal())?
    .map_err(|_| AppError::internal())
}

async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// A hash of a random password: sign-in for an unknown email spends the
/// same time as for a known one, so timing does not reveal accounts.
static DUMMY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn dummy_hash() -> String {
    DUMMY_HASH
        .get_or_init(|| {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(Uuid::new_v4().to_string().as_bytes(), &salt)
                .map(|h| h.to_string())
                .unwrap_or_default()
        })
        .clone()
}

/// Where a request came from, recorded on sessions and audit rows.
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The outcome of a successful sign-up or sign-in: the caller stores
/// `session_id` in the (rotated) browser session.
#[derive(Clone, Debug)]
pub struct SignedIn {
    pub user_id: Uuid,
    pub session_id: Uuid,
}

pub async fn sign_up(ctx: &Ctx, client: &ClientInfo, email: &str, password: &str) -> DomainResult<SignedIn> {
    let email = normalize_email(email)?;
    ctx.limits.check(&ctx.limits.sign_up, format!("{}|{}", email, client.ip.as_deref().unwrap_or("-")))?;
    let user_id = create_user(ctx, &email, password).await?;
    let session_id = start_session(ctx, user_id, client).await?;
    let actor =
        AuditActor { user_id: Some(user_id), auth_method: "password", stepped_up_at: None, ip: client.ip.clone() };
    audit::record(
        ctx,
        actor,
        AuditEvent { org_id: None, action: "account.sign_up", target: Some(email), details: None },
    )
    .await?;
    Ok(SignedIn { user_id, session_id })
}

/// Creates an account (sign-up, and `alumia admin create-user`).
pub async fn create_user(ctx: &Ctx, email: &str, password: &str) -> DomainResult<Uuid> {
    let email = normalize_email(email)?;
    check_password_rules(password)?;
    let hash = hash_password(password.to_string()).await?;
    let user_id = Uuid::new_v4();
    let inserted = exec_on_db!(&ctx.db, |p| sqlx::query(
        "INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)"
    )
    .bind(user_id)
    .bind(&email)
    .bind(&hash)
    .bind(ctx.clock.now())
    .execute(p)
    .await);
    match inserted {
        Err(err) if is_unique_violation(&err, "email") => {
            Err(AppError::new(ErrorCode::Conflict, "An account with this email already exists. Sign in instead.")
                .with_details(serde_json::json!({ "field": "email" })))
        }
        other => other.map(|_| user_id).map_err(Into::into),
    }
}

/// The account with `email`, if any.
pub async fn find_user(ctx: &Ctx, email: &str) -> DomainResult<Option<Uuid>> {
    let email = normalize_email(email)?;
    Ok(on_db!(&ctx.db, |p| sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(&email)
        .fetch_optional(p)
        .await)?)
}

#[derive(sqlx::FromRow)]
struct Credentials {
    id: Uuid,
    password_hash: String,
}

/// What a correct password leads to.
#[derive(Clone, Debug)]
pub enum SignInStep {
    SignedIn(SignedIn),
    /// TOTP is on: a code (or a recovery code) must follow.
    SecondFactor {
        user_id: Uuid,
    },
}

pub async fn sign_in(ctx: &Ctx, client: &ClientInfo, email: &str, password: &str) -> DomainResult<SignInStep> {
    let invalid = || AppError::new(ErrorCode::Unauthorized, "Invalid email or password");
    // A malformed email cannot belong to an account; answer like any miss.
    let email = normalize_email(email).map_err(|_| invalid())?;
    ctx.limits.check(&ctx.limits.sign_in, format!("{}|{}", email, client.ip.as_deref().unwrap_or("-")))?;
    let found: Option<Credentials> =
        on_db!(&ctx.db, |p| sqlx::query_as("SELECT id, password_hash FROM users WHERE email = $1")
            .bind(&email)
            .fetch_optional(p)
            .await)?;
    let (user_id, hash) = match found {
        Some(c) => (Some(c.id), c.password_hash),
        None => (None, dummy_hash()),
    };
    let ok = verify_password(password.to_string(), hash).await;
    match (user_id, ok) {
        (Some(user_id), true) if super::totp::is_enabled(ctx, user_id).await? => {
            Ok(SignInStep::SecondFactor { user_id })
        }
        (Some(user_id), true) => {
            Ok(SignInStep::SignedIn(complete_sign_in(ctx, client, user_id, "password", None).await?))
        }
        _ => {
            let audit_actor =
                AuditActor { user_id, auth_method: "password", stepped_up_at: None, ip: client.ip.clone() };
            audit::record(
                ctx,
                audit_actor,
                AuditEvent { org_id: None, action: "account.sign_in_failed", target: Some(email), details: None },
            )
            .await?;
            Err(invalid())
        }
    }
}

/// Opens the session of a user who proved who they are. A passkey or a
/// second factor also steps the new session up: that ceremony just
/// happened.
pub async fn complete_sign_in(
    ctx: &Ctx,
    client: &ClientInfo,
    user_id: Uuid,
    method: &'static str,
    step_up: Option<super::step_up::Method>,
) -> DomainResult<SignedIn> {
    let session_id = start_session(ctx, user_id, client).await?;
    if let Some(step_up) = step_up {
        super::step_up::mark(ctx, user_id, session_id, step_up, client.ip.clone()).await?;
    }
    let email = email_of(ctx, user_id).await?;
    let audit_actor =
        AuditActor { user_id: Some(user_id), auth_method: method, stepped_up_at: None, ip: client.ip.clone() };
    audit::record(
        ctx,
        audit_actor,
        AuditEvent {
            org_id: None,
            action: "account.sign_in",
            target: Some(email),
            details: Some(serde_json::json!({ "method": method })),
        },
    )
    .await?;
    Ok(SignedIn { user_id, session_id })
}

async fn start_session(ctx: &Ctx, user_id: Uuid, client: &ClientInfo) -> DomainResult<Uuid> {
    let id = Uuid::new_v4();
    let now = ctx.clock.now();
    exec_on_db!(&ctx.db, |p| {
        sqlx::query(
        "INSERT INTO user_sessions (id, user_id, created_at, last_seen_at, ip, user_agent) VALUES ($1, $2, $3, $3, $4, $5)"
    )
    .bind(id)
    .bind(user_id)
    .bind(now)
    .bind(client.ip.clone())
    .bind(client.user_agent.as_ref().map(|ua| ua.chars().take(300).collect::<String>()))
    .execute(p)
    .await
    })?;
    Ok(id)
}

#[derive(sqlx::FromRow, Clone, Debug)]
pub struct LiveSession {
    pub user_id: Uuid,
    last_seen_at: DateTime<Utc>,
    /// When a passkey or TOTP ceremony last stepped this session up.
    pub stepped_up_at: Option<DateTime<Utc>>,
}

async fn live_session(ctx: &Ctx, session_id: Uuid) -> DomainResult<Option<LiveSession>> {
    const SQL: &str =
        "SELECT user_id, last_seen_at, stepped_up_at FROM user_sessions WHERE id = $1 AND revoked_at IS NULL";
    Ok(on_db!(&ctx.db, |p| sqlx::query_as(SQL).bind(session_id).fetch_optional(p).await)?)
}

/// Resolves a browser session to its user, or `None` when it was signed
/// out (here or by "sign out other sessions"). Remembered for a few
/// seconds (`cache::TTL_SECONDS`); signing out and stepping up in this
/// process drop it at once.
pub async fn resolve_session(ctx: &Ctx, session_id: Uuid) -> DomainResult<Option<LiveSession>> {
    let now = ctx.clock.now();
    let cache = &ctx.caches.sessions;
    let live = match cache.get(&session_id, now) {
        Some(live) => live,
        None => {
            let ticket = cache.ticket();
            let Some(row) = live_session(ctx, session_id).await? else { return Ok(None) };
            cache.put(ticket, session_id, row.clone(), now);
            row
        }
    };
    // Written at most once a minute, not on every request.
    if now - live.last_seen_at > Duration::seconds(60) {
        exec_on_db!(&ctx.db, |p| sqlx::query("UPDATE user_sessions SET last_seen_at = $2 WHERE id = $1")
            .bind(session_id)
            .bind(now)
            .execute(p)
            .await)?;
        cache.update(&session_id, |cached| cached.last_seen_at = now);
    }
    Ok(Some(live))
}

pub async fn sign_out(ctx: &Ctx, actor: &Actor) -> DomainResult<()> {
    let BrowserSession { session_id, .. } = actor.require_browser()?;
    exec_on_db!(&ctx.db, |p| sqlx::query(
        "UPDATE user_sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL"
    )
    .bind(session_id)
    .bind(ctx.clock.now())
    .execute(p)
    .await)?;
    ctx.caches.sessions.invalidate(|id| *id == session_id);
    audit::record(
        ctx,
        actor.into(),
        AuditEvent { org_id: None, action: "account.sign_out", target: None, details: None },
    )
    .await
}

/// Signs out every other browser session of the user; returns how many.
pub async fn sign_out_other_sessions(ctx: &Ctx, actor: &Actor) -> DomainResult<u64> {
    let BrowserSession { user_id, session_id } = super::step_up::require_browser_step_up(ctx, actor)?;
    let done = exec_on_db!(&ctx.db, |p| sqlx::query(
        "UPDATE user_sessions SET revoked_at = $3 WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL"
    )
    .bind(user_id)
    .bind(session_id)
    .bind(ctx.clock.now())
    .execute(p)
    .await)?;
    ctx.caches.sessions.invalidate_entries(|id, live| live.user_id == user_id && *id != session_id);
    audit::record(
        ctx,
        actor.into(),
        AuditEvent {
            org_id: None,
            action: "account.sign_out_other_sessions",
            target: None,
            details: Some(serde_json::json!({ "sessions": done })),
        },
    )
    .await?;
    Ok(done)
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: Uuid,
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    ip: Option<String>,
    user_agent: Option<String>,
}

pub async fn email_of(ctx: &Ctx, user_id: Uuid) -> DomainResult<String> {
    Ok(on_db!(&ctx.db, |p| sqlx::query_scalar::<_, String>("SELECT email FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(p)
        .await)?)
}

pub async fn security_page(ctx: &Ctx, actor: &Actor) -> DomainResult<SecurityPage> {
    let Actor::User { user_id, session_id, .. } = *actor else {
        return Err(super::step_up::browser_only());
    };
    let email = email_of(ctx, user_id).await?;
    let rows: Vec<SessionRow> = on_db!(&ctx.db, |p| sqlx::query_as(
        "SELECT id, created_at, last_seen_at, ip, user_agent FROM user_sessions \
         WHERE user_id = $1 AND revoked_at IS NULL ORDER BY last_seen_at DESC, id"
    )
    .bind(user_id)
    .fetch_all(p)
    .await)?;
    Ok(SecurityPage {
        email,
        sessions: rows
            .into_iter()
            .map(|r| BrowserSessionView {
                current: r.id == session_id,
                id: r.id,
                created_at: super::clock::iso(r.created_at),
                last_seen_at: super::clock::iso(r.last_seen_at),
                ip: r.ip,
                user_agent: r.user_agent,
            })
            .collect(),
        passkeys: Vec::new(),
        totp_enabled: false,
        recovery_codes_left: 0,
        step_up: Default::default(),
    })
}

/// Whether `password` is the account's password.
pub async fn check_password(ctx: &Ctx, user_id: Uuid, password: &str) -> DomainResult<bool> {
    let hash: String = on_db!(&ctx.db, |p| sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(p)
        .await)?;
    Ok(verify_password(password.to_string(), hash).await)
}

pub async fn set_password(ctx: &Ctx, user_id: Uuid, password: &str) -> DomainResult<()> {
    check_password_rules(password)?;
    let hash = hash_password(password.to_string()).await?;
    exec_on_db!(&ctx.db, |p| sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
        .bind(user_id)
        .bind(&hash)
        .execute(p)
        .await)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised() {
        assert_eq!(normalize_email("  Ada@Example.COM ").unwrap(), "ada@example.com");
        assert!(normalize_email("not-an-email").is_err());
        assert!(normalize_email("a@b").is_err());
        assert!(normalize_email("a b@c.io").is_err());
        assert!(normalize_email("a@@c.io").is_err());
    }

    #[test]
    fn passwords_have_a_minimum_length() {
        assert!(check_password_rules("short").is_err());
        assert!(check_password_rules("long enough pass").is_ok());
    }
}
