//! TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps), the authenticator-app
//! factor. The secret is generated here, sealed at rest, and activated only
//! after a correct code. A code is accepted one step early or late, and
//! only once: the step of the last accepted code is stored and a code of
//! that step or an earlier one is refused.

use totp_rs::{Algorithm, Builder, Secret, Totp};
use uuid::Uuid;

use super::{Ctx, DomainResult};
use crate::db::{exec_on_db, on_db};
use crate::model::{AppError, TotpEnrolment};

const ISSUER: &str = "Alumia";
const STEP_SECONDS: u64 = 30;
const SEAL_PURPOSE: &str = "totp-secret";

/// One step of skew either way.
fn totp(secret: Secret, email: &str) -> DomainResult<Totp> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(STEP_SECONDS)
        .with_secret(secret)
        .with_account_name(email)
        .with_issuer(Some(ISSUER))
        .build()
        .map_err(|e| {
            tracing::error!(error = %e, "could not build a TOTP");
            AppError::internal()
        })
}

fn qr_svg(uri: &str) -> DomainResult<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|_| AppError::internal())?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .dark_color(qrcode::render::svg::Color("#0f172a"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build())
}

/// Starts (or restarts) enrolment: a new secret waits for its first code.
/// The caller has already checked the password or a step-up.
pub async fn start_enrolment(ctx: &Ctx, user_id: Uuid, email: &str) -> DomainResult<TotpEnrolment> {
    if is_enabled(ctx, user_id).await? {
        return Err(AppError::conflict("An authenticator app is already set up. Turn it off first to replace it."));
    }
    let secret = Secret::generate();
    let sealed = ctx.sealer.seal(SEAL_PURPOSE, secret.as_bytes());
    let secret_base32 = secret.to_base32();
    let totp = totp(secret, email)?;
    let now = ctx.clock.now();
    let done: DomainResult<()> = on_db!(&ctx.db, |p| async {
        let mut tx = p.begin().await?;
        sqlx::query("DELETE FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NULL")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO totp_factors (user_id, secret_sealed, created_at) VALUES ($1, $2, $3)")
            .bind(user_id)
            .bind(&sealed)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
    .await);
    done?;
    let uri = totp.to_url().map_err(|_| AppError::internal())?;
    Ok(TotpEnrolment { secret: secret_base32, qr_svg: qr_svg(&uri)?, otpauth_uri: uri })
}

pub async fn is_enabled(ctx: &Ctx, user_id: Uuid) -> DomainResult<bool> {
    let n: i64 = on_db!(&ctx.db, |p| sqlx::query_scalar(
        "SELECT COUNT(*) FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL"
    )
    .bind(user_id)
    .fetch_one(p)
    .await)?;
    Ok(n > 0)
}

#[derive(sqlx::FromRow)]
struct Factor {
    secret_sealed: String,
    last_step: Option<i64>,
}

/// Which stored state a check runs against.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Waiting for the first code of an enrolment.
    Pending,
    /// Turned on.
    Enabled,
}

/// Checks `code` and uses it up. `false` for a wrong, stale or replayed
/// code (the caller rate-limits attempts).
pub async fn check_code(ctx: &Ctx, user_id: Uuid, email: &str, code: &str, stage: Stage) -> DomainResult<bool> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return Ok(false);
    }
    let sql = match stage {
        Stage::Pending => {
            "SELECT secret_sealed, last_step FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NULL"
        }
        Stage::Enabled => {
            "SELECT secret_sealed, last_step FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL"
        }
    };
    let factor: Option<Factor> = on_db!(&ctx.db, |p| sqlx::query_as(sql).bind(user_id).fetch_optional(p).await)?;
    let Some(factor) = factor else { return Ok(false) };
    let totp = totp(Secret::from(ctx.sealer.open(SEAL_PURPOSE, &factor.secret_sealed)?), email)?;
    let Some(step) = totp.check(&code, ctx.clock.now().timestamp().max(0) as u64) else {
        return Ok(false);
    };
    let step = step as i64;
    if factor.last_step.is_some_and(|last| step <= last) {
        return Ok(false);
    }
    // The condition makes the use atomic: of two requests with one code,
    // one wins.
    let claimed = exec_on_db!(&ctx.db, |p| sqlx::query(
        "UPDATE totp_factors SET last_step = $2 WHERE user_id = $1 AND (last_step IS NULL OR last_step < $2)"
    )
    .bind(user_id)
    .bind(step)
    .execute(p)
    .await)?;
    Ok(claimed == 1)
}

/// Turns on a pending enrolment (after `check_code(…, Pending)` passed).
pub async fn confirm(ctx: &Ctx, user_id: Uuid) -> DomainResult<()> {
    exec_on_db!(&ctx.db, |p| sqlx::query(
        "UPDATE totp_factors SET confirmed_at = $2 WHERE user_id = $1 AND confirmed_at IS NULL"
    )
    .bind(user_id)
    .bind(ctx.clock.now())
    .execute(p)
    .await)?;
    Ok(())
}

pub async fn remove(ctx: &Ctx, user_id: Uuid) -> DomainResult<bool> {
    let n = exec_on_db!(&ctx.db, |p| sqlx::query("DELETE FROM totp_factors WHERE user_id = $1")
        .bind(user_id)
        .execute(p)
        .await)?;
    Ok(n > 0)
}
