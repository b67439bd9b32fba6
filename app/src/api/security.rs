//! Account security over server functions: passkeys, TOTP, recovery
//! codes, password, step-up ceremonies, and the sign-in steps that use a
//! second factor. WebAuthn options and answers travel as JSON text (the
//! browser glue in `public/webauthn.js` converts them); ceremony state
//! stays in the session.

use leptos::prelude::*;
use uuid::Uuid;

#[cfg(feature = "ssr")]
use super::support::*;
#[cfg(feature = "ssr")]
use crate::domain;
use crate::model::{AppError, PasskeyView, RecoveryCodes, StepUpMethods, TotpEnrolment};

/// Session keys of ceremonies in progress.
#[cfg(feature = "ssr")]
mod state {
    pub const REGISTRATION: &str = "passkey_registration";
    pub const STEP_UP: &str = "passkey_step_up";
    pub const SIGN_IN: &str = "passkey_sign_in";
    /// A password sign-in waiting for its second factor.
    pub const SECOND_FACTOR: &str = "second_factor";
}

/// A password sign-in that still needs a TOTP or recovery code.
#[cfg(feature = "ssr")]
#[derive(serde::Serialize, serde::Deserialize)]
struct PendingSecondFactor {
    user_id: Uuid,
    expires_at: chrono::DateTime<chrono::Utc>,
}

#[cfg(feature = "ssr")]
const SECOND_FACTOR_LIFETIME: chrono::Duration = chrono::Duration::minutes(5);

#[cfg(feature = "ssr")]
async fn put<T: serde::Serialize>(key: &str, value: &T) -> Result<(), AppError> {
    session().await?.insert(key, value).await.map_err(|_| AppError::internal())
}

/// Takes (removes) a ceremony's state: each start serves one finish.
#[cfg(feature = "ssr")]
async fn take<T: serde::de::DeserializeOwned>(key: &str) -> Result<T, AppError> {
    session()
        .await?
        .remove::<T>(key)
        .await
        .map_err(|_| AppError::internal())?
        .ok_or_else(|| AppError::bad_request("This ceremony expired or was already used. Start again."))
}

#[cfg(feature = "ssr")]
fn parse<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, AppError> {
    serde_json::from_str(json).map_err(|_| AppError::bad_request("credential: not a WebAuthn answer"))
}

#[cfg(feature = "ssr")]
fn to_json<T: serde::Serialize>(value: &T) -> Result<String, AppError> {
    serde_json::to_string(value).map_err(|_| AppError::internal())
}

/// After a ceremony that stepped the session up: a new session id.
#[cfg(feature = "ssr")]
async fn rotate() -> Result<(), AppError> {
    session().await?.cycle_id().await.map_err(|_| AppError::internal())
}

#[server(prefix = "/fn", endpoint = "get_step_up_methods")]
pub async fn get_step_up_methods() -> Result<StepUpMethods, AppError> {
    let actor = require_actor().await?;
    domain::step_up::methods(&ctx()?, &actor).await
}

// Passkeys

#[server(prefix = "/fn", endpoint = "start_passkey_registration")]
pub async fn start_passkey_registration(password: Option<String>) -> Result<String, AppError> {
    let actor = require_actor().await?;
    let (options, state) = domain::security::start_passkey_registration(&ctx()?, &actor, password.as_deref()).await?;
    put(state::REGISTRATION, &state).await?;
    to_json(&options)
}

/// Answers whether the session was stepped up (a first factor).
#[server(prefix = "/fn", endpoint = "finish_passkey_registration")]
pub async fn finish_passkey_registration(name: String, credential: String) -> Result<PasskeyView, AppError> {
    let actor = require_actor().await?;
    let state = take(state::REGISTRATION).await?;
    let credential = parse(&credential)?;
    let (view, stepped_up) =
        domain::security::finish_passkey_registration(&ctx()?, &actor, &name, &state, &credential).await?;
    if stepped_up {
        rotate().await?;
    }
    Ok(view)
}

#[server(prefix = "/fn", endpoint = "rename_passkey")]
pub async fn rename_passkey(passkey_id: Uuid, name: String) -> Result<PasskeyView, AppError> {
    let actor = require_actor().await?;
    domain::security::rename_passkey(&ctx()?, &actor, passkey_id, &name).await
}

#[server(prefix = "/fn", endpoint = "delete_passkey")]
pub async fn delete_passkey(passkey_id: Uuid) -> Result<(), AppError> {
    let actor = require_actor().await?;
    domain::security::delete_passkey(&ctx()?, &actor, passkey_id).await
}

// TOTP and recovery codes

#[server(prefix = "/fn", endpoint = "start_totp_enrolment")]
pub async fn start_totp_enrolment(password: Option<String>) -> Result<TotpEnrolment, AppError> {
    let actor = require_actor().await?;
    domain::security::start_totp_enrolment(&ctx()?, &actor, password.as_deref()).await
}

#[server(prefix = "/fn", endpoint = "confirm_totp_enrolment")]
pub async fn confirm_totp_enrolment(code: String) -> Result<RecoveryCodes, AppError> {
    let actor = require_actor().await?;
    let (codes, stepped_up) = domain::security::confirm_totp_enrolment(&ctx()?, &actor, &code).await?;
    if stepped_up {
        rotate().await?;
    }
    Ok(RecoveryCodes { codes })
}

#[server(prefix = "/fn", endpoint = "disable_totp")]
pub async fn disable_totp() -> Result<(), AppError> {
    let actor = require_actor().await?;
    domain::security::disable_totp(&ctx()?, &actor).await
}

#[server(prefix = "/fn", endpoint = "regenerate_recovery_codes")]
pub async fn regenerate_recovery_codes() -> Result<RecoveryCodes, AppError> {
    let actor = require_actor().await?;
    Ok(RecoveryCodes { codes: domain::security::regenerate_recovery_codes(&ctx()?, &actor).await? })
}

#[server(prefix = "/fn", endpoint = "change_password")]
pub async fn change_password(new_password: String) -> Result<(), AppError> {
    let actor = require_actor().await?;
    domain::security::change_password(&ctx()?, &actor, &new_password).await
}

// Step-up

#[server(prefix = "/fn", endpoint = "step_up_with_code")]
pub async fn step_up_with_code(code: String, next: Option<String>) -> Result<(), AppError> {
    let actor = require_actor().await?;
    domain::security::step_up_with_code(&ctx()?, &actor, &code).await?;
    rotate().await?;
    // The no-JavaScript step-up page goes back to the form it came from.
    if let Some(next) = safe_next(next) {
        leptos_axum::redirect(&next);
    }
    Ok(())
}

#[server(prefix = "/fn", endpoint = "start_passkey_step_up")]
pub async fn start_passkey_step_up() -> Result<String, AppError> {
    let actor = require_actor().await?;
    let (options, state) = domain::security::start_passkey_step_up(&ctx()?, &actor).await?;
    put(state::STEP_UP, &state).await?;
    to_json(&options)
}

#[server(prefix = "/fn", endpoint = "finish_passkey_step_up")]
pub async fn finish_passkey_step_up(credential: String) -> Result<(), AppError> {
    let actor = require_actor().await?;
    let state = take(state::STEP_UP).await?;
    domain::security::finish_passkey_step_up(&ctx()?, &actor, &state, &parse(&credential)?).await?;
    rotate().await
}

// Signing in with a second factor or a passkey

/// Called by `sign_in` when TOTP is on: remembers who passed the password.
#[cfg(feature = "ssr")]
pub(crate) async fn await_second_factor(ctx: &domain::Ctx, user_id: Uuid) -> Result<(), AppError> {
    let pending = PendingSecondFactor { user_id, expires_at: ctx.clock.now() + SECOND_FACTOR_LIFETIME };
    put(state::SECOND_FACTOR, &pending).await
}

#[server(prefix = "/fn", endpoint = "verify_sign_in")]
pub async fn verify_sign_in(code: String, next: Option<String>) -> Result<(), AppError> {
    let ctx = ctx()?;
    let session = session().await?;
    let pending: Option<PendingSecondFactor> =
        session.get(state::SECOND_FACTOR).await.map_err(|_| AppError::internal())?;
    let pending = pending
        .filter(|p| p.expires_at > ctx.clock.now())
        .ok_or_else(|| AppError::unauthorized().with_details(serde_json::json!({ "restart": true })))?;
    let client = client_info().await;
    let method = domain::security::verify_code(&ctx, pending.user_id, &code, client.ip.as_deref()).await?;
    session.remove_value(state::SECOND_FACTOR).await.map_err(|_| AppError::internal())?;
    let auth = if method == domain::step_up::Method::RecoveryCode { "recovery_code" } else { "totp" };
    let signed = domain::accounts::complete_sign_in(&ctx, &client, pending.user_id, auth, Some(method)).await?;
    begin_session(signed.session_id).await?;
    leptos_axum::redirect(&super::accounts::landing(&ctx, signed.user_id, next).await?);
    Ok(())
}

#[server(prefix = "/fn", endpoint = "start_passkey_sign_in")]
pub async fn start_passkey_sign_in() -> Result<String, AppError> {
    let (options, state) = domain::passkeys::start_sign_in(&ctx()?)?;
    put(state::SIGN_IN, &state).await?;
    to_json(&options)
}

/// Answers where to go next.
#[server(prefix = "/fn", endpoint = "finish_passkey_sign_in")]
pub async fn finish_passkey_sign_in(credential: String, next: Option<String>) -> Result<String, AppError> {
    let ctx = ctx()?;
    let client = client_info().await;
    ctx.limits.check(&ctx.limits.sign_in, format!("passkey|{}", client.ip.as_deref().unwrap_or("-")))?;
    let state = take(state::SIGN_IN).await?;
    let user_id = domain::passkeys::finish_sign_in(&ctx, state, &parse(&credential)?).await?;
    let method = domain::step_up::Method::Passkey;
    let signed = domain::accounts::complete_sign_in(&ctx, &client, user_id, "passkey", Some(method)).await?;
    begin_session(signed.session_id).await?;
    super::accounts::landing(&ctx, signed.user_id, next).await
}
