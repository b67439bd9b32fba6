//! Account security: second factors (passkeys, TOTP, recovery codes), the
//! ceremonies that step a session up, and the second step of a password
//! sign-in. The factor modules hold the mechanics; this one holds who may
//! do what.

use serde_json::json;
use uuid::Uuid;
use webauthn_rs::prelude::{
    CreationChallengeResponse, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, RequestChallengeResponse,
};

use super::audit::{self, AuditEvent};
use super::step_up::{self, Method};
use super::{accounts, passkeys, recovery_codes, totp, Actor, BrowserSession, Ctx, DomainResult};
use crate::model::{AppError, PasskeyView, SecurityPage, TotpEnrolment};

fn limit_key(user_id: Uuid, actor: &Actor) -> String {
    format!("{user_id}|{}", actor.ip().unwrap_or("-"))
}

/// Adding the first factor needs the account password (a stolen session
/// alone must not mint one); adding another needs a fresh step-up.
async fn authorize_enrolment(ctx: &Ctx, actor: &Actor, password: Option<&str>) -> DomainResult<BrowserSession> {
    let Actor::User { user_id, session_id, .. } = actor else {
        return Err(step_up::browser_only());
    };
    if step_up::has_factor(ctx, *user_id).await? {
        return step_up::require_browser_step_up(ctx, actor);
    }
    let password = password
        .filter(|p| !p.is_empty())
        .ok_or_else(|| AppError::validation("password", "Enter your password to set up your first sign-in factor"))?;
    ctx.limits.check(&ctx.limits.verify, limit_key(*user_id, actor))?;
    if !accounts::check_password(ctx, *user_id, password).await? {
        step_up::record_failure(ctx, *user_id, Method::Enrolment, actor.ip().map(str::to_string)).await?;
        return Err(AppError::validation("password", "That is not your password"));
    }
    Ok(BrowserSession { user_id: *user_id, session_id: *session_id })
}

async fn audit_account(
    ctx: &Ctx,
    actor: &Actor,
    action: &'static str,
    details: Option<serde_json::Value>,
) -> DomainResult<()> {
    audit::record(ctx, actor.into(), AuditEvent { org_id: None, action, target: None, details }).await
}

/// After a first factor is added, the session counts as stepped up: the
/// user just gave their password and proved the new factor.
async fn step_up_after_first_factor(ctx: &Ctx, actor: &Actor, first: bool) -> DomainResult<bool> {
    if first {
        let (user_id, session_id) = browser_ids(actor)?;
        step_up::mark(ctx, user_id, session_id, Method::Enrolment, actor.ip().map(str::to_string)).await?;
    }
    Ok(first)
}

fn browser_ids(actor: &Actor) -> DomainResult<(Uuid, Uuid)> {
    match actor {
        Actor::User { user_id, session_id, .. } => Ok((*user_id, *session_id)),
        _ => Err(step_up::browser_only()),
    }
}

pub async fn page(ctx: &Ctx, actor: &Actor) -> DomainResult<SecurityPage> {
    let (user_id, _) = browser_ids(actor)?;
    let mut page = accounts::security_page(ctx, actor).await?;
    page.passkeys = passkeys::list(ctx, user_id).await?;
    page.totp_enabled = totp::is_enabled(ctx, user_id).await?;
    page.recovery_codes_left = recovery_codes::remaining(ctx, user_id).await?;
    page.step_up = step_up::methods(ctx, actor).await?;
    Ok(page)
}

// Password

pub async fn change_password(ctx: &Ctx, actor: &Actor, new_password: &str) -> DomainResult<()> {
    let session = step_up::require_browser_step_up(ctx, actor)?;
    accounts::set_password(ctx, session.user_id, new_password).await?;
    audit_account(ctx, actor, "account.password_change", None).await
}

// Passkeys

pub async fn start_passkey_registration(
    ctx: &Ctx,
    actor: &Actor,
    password: Option<&str>,
) -> DomainResult<(CreationChallengeResponse, PasskeyRegistration)> {
    let session = authorize_enrolment(ctx, actor, password).await?;
    let email = accounts::email_of(ctx, session.user_id).await?;
    passkeys::start_registration(ctx, session.user_id, &email).await
}

/// `state` comes from the session, where only an authorized start put it.
/// Answers the new passkey and whether the session got stepped up.
pub async fn finish_passkey_registration(
    ctx: &Ctx,
    actor: &Actor,
    name: &str,
    state: &PasskeyRegistration,
    credential: &RegisterPublicKeyCredential,
) -> DomainResult<(PasskeyView, bool)> {
    let (user_id, _) = browser_ids(actor)?;
    let first = !step_up::has_factor(ctx, user_id).await?;
    let view = passkeys::finish_registration(ctx, user_id, name, state, credential).await?;
    audit_account(ctx, actor, "passkey.add", Some(json!({ "passkey": view.id, "name": view.name }))).await?;
    Ok((view, step_up_after_first_factor(ctx, actor, first).await?))
}

pub async fn rename_passkey(ctx: &Ctx, actor: &Actor, id: Uuid, name: &str) -> DomainResult<PasskeyView> {
    let session = step_up::require_browser_step_up(ctx, actor)?;
    let view = passkeys::rename(ctx, session.user_id, id, name).await?;
    audit_account(ctx, actor, "passkey.rename", Some(json!({ "passkey": id, "name": view.name }))).await?;
    Ok(view)
}

pub async fn delete_passkey(ctx: &Ctx, actor: &Actor, id: Uuid) -> DomainResult<()> {
    let session = step_up::require_browser_step_up(ctx, actor)?;
    passkeys::delete(ctx, session.user_id, id).await?;
    forget_codes_without_factor(ctx, session.user_id).await?;
    audit_account(ctx, actor, "passkey.delete", Some(json!({ "passkey": id }))).await
}

// TOTP and recovery codes

pub async fn start_totp_enrolment(ctx: &Ctx, actor: &Actor, password: Option<&str>) -> DomainResult<TotpEnrolment> {
    let session = authorize_enrolment(ctx, actor, password).await?;
    let email = accounts::email_of(ctx, session.user_id).await?;
    totp::start_enrolment(ctx, session.user_id, &email).await
}

/// Turns TOTP on after a correct first code; answers the recovery codes
/// (shown once) and whether the session got stepped up.
pub async fn confirm_totp_enrolment(ctx: &Ctx, actor: &Actor, code: &str) -> DomainResult<(Vec<String>, bool)> {
    let (user_id, _) = browser_ids(actor)?;
    ctx.limits.check(&ctx.limits.verify, limit_key(user_id, actor))?;
    let email = accounts::email_of(ctx, user_id).await?;
    if !totp::check_code(ctx, user_id, &email, code, totp::Stage::Pending).await? {
        return Err(AppError::validation(
            "code",
            "That code is not right. Type the 6 digits the app shows now (check the phone's clock if it keeps failing).",
        ));
    }
    let first = !step_up::has_factor(ctx, user_id).await?;
    totp::confirm(ctx, user_id).await?;
    let codes = recovery_codes::regenerate(ctx, user_id).await?;
    audit_account(ctx, actor, "totp.enable", None).await?;
    Ok((codes, step_up_after_first_factor(ctx, actor, first).await?))
}

pub async fn disable_totp(ctx: &Ctx, actor: &Actor) -> DomainResult<()> {
    let session = step_up::require_browser_step_up(ctx, actor)?;
    if !totp::remove(ctx, session.user_id).await? {
        return Err(AppError::not_found());
    }
    forget_codes_without_factor(ctx, session.user_id).await?;
    audit_account(ctx, actor, "totp.disable", None).await
}

pub async fn regenerate_recovery_codes(ctx: &Ctx, actor: &Actor) -> DomainResult<Vec<String>> {
    let session = step_up::require_browser_step_up(ctx, actor)?;
    let codes = recovery_codes::regenerate(ctx, session.user_id).await?;
    audit_account(ctx, actor, "recovery_codes.regenerate", None).await?;
    Ok(codes)
}

/// Recovery codes stand in for a factor; with none left they go too.
async fn forget_codes_without_factor(ctx: &Ctx, user_id: Uuid) -> DomainResult<()> {
    if !step_up::has_factor(ctx, user_id).await? {
        recovery_codes::delete_all(ctx, user_id).await?;
    }
    Ok(())
}

/// A TOTP code, or a recovery code, of `user_id` (rate limited).
pub async fn verify_code(ctx: &Ctx, user_id: Uuid, code: &str, ip: Option<&str>) -> DomainResult<Method> {
    ctx.limits.check(&ctx.limits.verify, format!("{user_id}|{}", ip.unwrap_or("-")))?;
    let method = if recovery_codes::looks_like_one(code) {
        recovery_codes::consume(ctx, user_id, code).await?.then_some(Method::RecoveryCode)
    } else {
        let email = accounts::email_of(ctx, user_id).await?;
        totp::check_code(ctx, user_id, &email, code, totp::Stage::Enabled).await?.then_some(Method::Totp)
    };
    match method {
        Some(method) => Ok(method),
        None => {
            let tried = if recovery_codes::looks_like_one(code) { Method::RecoveryCode } else { Method::Totp };
            step_up::record_failure(ctx, user_id, tried, ip.map(str::to_string)).await?;
            Err(AppError::validation("code", "That code is not right, or was already used"))
        }
    }
}

// Step-up ceremonies

pub async fn step_up_with_code(ctx: &Ctx, actor: &Actor, code: &str) -> DomainResult<()> {
    let (user_id, session_id) = browser_ids(actor)?;
    let method = verify_code(ctx, user_id, code, actor.ip()).await?;
    step_up::mark(ctx, user_id, session_id, method, actor.ip().map(str::to_string)).await
}

pub async fn start_passkey_step_up(
    ctx: &Ctx,
    actor: &Actor,
) -> DomainResult<(RequestChallengeResponse, PasskeyAuthentication)> {
    let (user_id, _) = browser_ids(actor)?;
    passkeys::start_authentication(ctx, user_id)
        .await?
        .ok_or_else(|| AppError::conflict("You have no passkey yet: add one on the Security page"))
}

pub async fn finish_passkey_step_up(
    ctx: &Ctx,
    actor: &Actor,
    state: &PasskeyAuthentication,
    credential: &PublicKeyCredential,
) -> DomainResult<()> {
    let (user_id, session_id) = browser_ids(actor)?;
    let ip = actor.ip().map(str::to_string);
    ctx.limits.check(&ctx.limits.verify, limit_key(user_id, actor))?;
    if let Err(e) = passkeys::finish_authentication(ctx, user_id, state, credential).await {
        step_up::record_failure(ctx, user_id, Method::Passkey, ip).await?;
        return Err(e);
    }
    step_up::mark(ctx, user_id, session_id, Method::Passkey, ip).await
}
