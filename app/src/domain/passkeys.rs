//! Passkeys (WebAuthn, through webauthn-rs): register several, name them,
//! sign in with one (discoverable credentials), step up with one.
//!
//! Each ceremony has a start, whose state the caller keeps server-side (in
//! the browser session, never trusted from the client), and a finish that
//! consumes it. Stored per passkey: webauthn-rs's `Passkey` as JSON (public
//! key and signature counter, nothing secret).

use chrono::{DateTime, Utc};
use uuid::Uuid;
use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse, Url, Webauthn, WebauthnBuilder,
};
use webauthn_rs_proto::ResidentKeyRequirement;

use super::clock::iso;
use super::{validate, Ctx, DomainResult};
use crate::db::{exec_on_db, is_unique_violation, on_db};
use crate::model::{AppError, ErrorCode, PasskeyView};

/// The relying party: id and origin from the public URL.
pub fn relying_party(public_url: &str) -> anyhow::Result<Webauthn> {
    let origin = Url::parse(public_url)?;
    let rp_id = origin.host_str().ok_or_else(|| anyhow::anyhow!("ALUMIA_PUBLIC_URL has no host"))?.to_string();
    Ok(WebauthnBuilder::new(&rp_id, &origin)?.rp_name("Alumia").build()?)
}

fn ceremony_failed() -> AppError {
    AppError::new(ErrorCode::Unauthorized, "The passkey could not be verified. Try again.")
}

/// The credential id, base64url: unique across all users.
fn credential_key(passkey: &Passkey) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(passkey.cred_id().as_slice())
}

#[derive(sqlx::FromRow)]
struct PasskeyRow {
    id: Uuid,
    name: String,
    credential: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
}

impl PasskeyRow {
    fn passkey(&self) -> DomainResult<Passkey> {
        serde_json::from_str(&self.credential).map_err(|e| {
            tracing::error!(error = %e, passkey = %self.id, "stored passkey does not parse");
            AppError::internal()
        })
    }

    fn view(&self) -> PasskeyView {
        PasskeyView {
            id: self.id,
            name: self.name.clone(),
            created_at: iso(self.created_at),
            last_used_at: self.last_used_at.map(iso),
        }
    }
}

async fn rows(ctx: &Ctx, user_id: Uuid) -> DomainResult<Vec<PasskeyRow>> {
    Ok(on_db!(&ctx.db, |p| {
        sqlx::query_as(
        "SELECT id, name, credential, created_at, last_used_at FROM passkeys WHERE user_id = $1 ORDER BY created_at, id"
    )
    .bind(user_id)
    .fetch_all(p)
    .await
    })?)
}

pub async fn list(ctx: &Ctx, user_id: Uuid) -> DomainResult<Vec<PasskeyView>> {
    Ok(rows(ctx, user_id).await?.iter().map(PasskeyRow::view).collect())
}

fn check_name(name: &str) -> DomainResult<String> {
    validate::text("name", name, 60)
}

/// Starts registering a passkey; the same authenticator cannot be
/// registered twice.
pub async fn start_registration(
    ctx: &Ctx,
    user_id: Uuid,
    email: &str,
) -> DomainResult<(CreationChallengeResponse, PasskeyRegistration)> {
    let existing = rows(ctx, user_id).await?;
    let exclude =
        existing.iter().map(|r| r.passkey().map(|p| p.cred_id().clone())).collect::<DomainResult<Vec<_>>>()?;
    let (mut options, state) =
        ctx.webauthn.start_passkey_registration(user_id, email, email, Some(exclude)).map_err(|e| {
            tracing::error!(error = %e, "passkey registration could not start");
            AppError::internal()
        })?;
    // "Sign in with a passkey" finds the account from the authenticator,
    // so ask for a discoverable credential (kept on the authenticator).
    // Browsers treat "preferred" as "required" where they can; an
    // authenticator that cannot still registers a passkey for step-ups.
    if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
        selection.resident_key = Some(ResidentKeyRequirement::Preferred);
    }
    Ok((options, state))
}

pub async fn finish_registration(
    ctx: &Ctx,
    user_id: Uuid,
    name: &str,
    state: &PasskeyRegistration,
    credential: &RegisterPublicKeyCredential,
) -> DomainResult<PasskeyView> {
    let name = check_name(name)?;
    let passkey = ctx.webauthn.finish_passkey_registration(credential, state).map_err(|e| {
        tracing::info!(error = %e, "passkey registration refused");
        ceremony_failed()
    })?;
    let row = PasskeyRow {
        id: Uuid::new_v4(),
        name,
        credential: serde_json::to_string(&passkey).map_err(|_| AppError::internal())?,
        created_at: ctx.clock.now(),
        last_used_at: None,
    };
    let inserted = exec_on_db!(&ctx.db, |p| {
        sqlx::query(
        "INSERT INTO passkeys (id, user_id, name, credential_id, credential, created_at) VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(row.id)
    .bind(user_id)
    .bind(&row.name)
    .bind(credential_key(&passkey))
    .bind(&row.credential)
    .bind(row.created_at)
    .execute(p)
    .await
    });
    match inserted {
        Err(e) if is_unique_violation(&e, "credential_id") => {
            Err(AppError::conflict("This passkey is already registered"))
        }
        other => other.map(|_| row.view()).map_err(Into::into),
    }
}

/// Starts a step-up with one of the user's passkeys (`None`: they have none).
pub async fn start_authentication(
    ctx: &Ctx,
    user_id: Uuid,
) -> DomainResult<Option<(RequestChallengeResponse, PasskeyAuthentication)>> {
    let passkeys = rows(ctx, user_id).await?.iter().map(PasskeyRow::passkey).collect::<DomainResult<Vec<_>>>()?;
    if passkeys.is_empty() {
        return Ok(None);
    }
    ctx.webauthn.start_passkey_authentication(&passkeys).map(Some).map_err(|e| {
        tracing::error!(error = %e, "passkey authentication could not start");
        AppError::internal()
    })
}

/// Verifies a step-up assertion by one of `user_id`'s passkeys.
pub async fn finish_authentication(
    ctx: &Ctx,
    user_id: Uuid,
    state: &PasskeyAuthentication,
    credential: &PublicKeyCredential,
) -> DomainResult<()> {
    let result = ctx.webauthn.finish_passkey_authentication(credential, state).map_err(|e| {
        tracing::info!(error = %e, "passkey assertion refused");
        ceremony_failed()
    })?;
    record_use(ctx, user_id, &result).await
}

/// Starts "Sign in with a passkey": no user yet, the authenticator offers
/// its discoverable credentials.
pub fn start_sign_in(ctx: &Ctx) -> DomainResult<(RequestChallengeResponse, DiscoverableAuthentication)> {
    ctx.webauthn.start_discoverable_authentication().map_err(|e| {
        tracing::error!(error = %e, "discoverable authentication could not start");
        AppError::internal()
    })
}

/// Finishes a passkey sign-in: the user whose passkey signed.
pub async fn finish_sign_in(
    ctx: &Ctx,
    state: DiscoverableAuthentication,
    credential: &PublicKeyCredential,
) -> DomainResult<Uuid> {
    let (user_id, cred_id) =
        ctx.webauthn.identify_discoverable_authentication(credential).map_err(|_| ceremony_failed())?;
    let mut passkey = None;
    for row in rows(ctx, user_id).await? {
        let candidate = row.passkey()?;
        if candidate.cred_id().as_slice() == cred_id {
            passkey = Some(candidate);
        }
    }
    let passkey = passkey.ok_or_else(ceremony_failed)?;
    let result = ctx.webauthn.finish_discoverable_authentication_v2(credential, state, &passkey).map_err(|e| {
        tracing::info!(error = %e, "passkey sign-in refused");
        ceremony_failed()
    })?;
    record_use(ctx, user_id, &result).await?;
    Ok(user_id)
}

/// Stores the new signature counter and the time of use.
async fn record_use(ctx: &Ctx, user_id: Uuid, result: &webauthn_rs::prelude::AuthenticationResult) -> DomainResult<()> {
    for row in rows(ctx, user_id).await? {
        let mut passkey = row.passkey()?;
        if passkey.update_credential(result).is_none() {
            continue;
        }
        exec_on_db!(&ctx.db, |p| sqlx::query("UPDATE passkeys SET credential = $2, last_used_at = $3 WHERE id = $1")
            .bind(row.id)
            .bind(serde_json::to_string(&passkey).map_err(|_| AppError::internal())?)
            .bind(ctx.clock.now())
            .execute(p)
            .await)?;
        return Ok(());
    }
    // The assertion verified against a key this user no longer has.
    Err(ceremony_failed())
}

pub async fn rename(ctx: &Ctx, user_id: Uuid, id: Uuid, name: &str) -> DomainResult<PasskeyView> {
    let name = check_name(name)?;
    let n = exec_on_db!(&ctx.db, |p| sqlx::query("UPDATE passkeys SET name = $3 WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .bind(&name)
        .execute(p)
        .await)?;
    if n == 0 {
        return Err(AppError::not_found());
    }
    rows(ctx, user_id).await?.iter().find(|r| r.id == id).map(PasskeyRow::view).ok_or_else(AppError::not_found)
}

pub async fn delete(ctx: &Ctx, user_id: Uuid, id: Uuid) -> DomainResult<()> {
    let n = exec_on_db!(&ctx.db, |p| sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(p)
        .await)?;
    if n == 0 {
        return Err(AppError::not_found());
    }
    Ok(())
}
