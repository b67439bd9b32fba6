use leptos::prelude::*;
use uuid::Uuid;

#[cfg(feature = "ssr")]
use super::support::*;
#[cfg(feature = "ssr")]
use crate::domain;
use crate::model::{ApiKeyView, AppError, MintedApiKey};

#[server(prefix = "/fn", endpoint = "list_api_keys")]
pub async fn list_api_keys(org: String) -> Result<Vec<ApiKeyView>, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = member_of(&ctx, &actor, &org).await?;
    domain::api_keys::list(&ctx, &org).await
}

/// Mints a key; `terminal` and `billing` are checkboxes ("on" when
/// ticked); `models:read` is always included.
#[server(prefix = "/fn", endpoint = "mint_api_key")]
pub async fn mint_api_key(
    org: String,
    name: String,
    terminal: Option<String>,
    billing: Option<String>,
) -> Result<MintedApiKey, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = domain::orgs::membership(&ctx.db, actor.user_id(), &org).await?;
    let mut scopes = vec![domain::api_keys::SCOPE_MODELS_READ.to_string()];
    if terminal.is_some() {
        scopes.push(domain::api_keys::SCOPE_TERMINAL.to_string());
    }
    if billing.is_some() {
        scopes.push(domain::api_keys::SCOPE_BILLING_CHARGE.to_string());
    }
    let minted = domain::api_keys::mint(&ctx, &actor, &org, &name, &scopes).await?;
    if posted_without_javascript() {
        let flash =
            MintedFlash { org_id: org.id, minted: minted.clone(), expires_at: ctx.clock.now() + FLASH_LIFETIME };
        session().await?.insert(MINTED_FLASH_KEY, flash).await.map_err(|_| AppError::internal())?;
    }
    Ok(minted)
}

/// Without JavaScript the form's answer is lost in the redirect back to
/// the page, so the new secret waits in the session for that one page
/// load: taken (removed) by the first read, and dropped after a minute if
/// the page never loads.
#[cfg(feature = "ssr")]
const MINTED_FLASH_KEY: &str = "minted_api_key";
#[cfg(feature = "ssr")]
const FLASH_LIFETIME: chrono::Duration = chrono::Duration::seconds(60);

#[cfg(feature = "ssr")]
#[derive(serde::Serialize, serde::Deserialize)]
struct MintedFlash {
    org_id: Uuid,
    minted: MintedApiKey,
    expires_at: chrono::DateTime<chrono::Utc>,
}

/// The key minted by a form posted without JavaScript, once.
#[server(prefix = "/fn", endpoint = "take_minted_api_key")]
pub async fn take_minted_api_key(org: String) -> Result<Option<MintedApiKey>, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = domain::orgs::membership(&ctx.db, actor.user_id(), &org).await?;
    let session = session().await?;
    let flash: Option<MintedFlash> = session.get(MINTED_FLASH_KEY).await.map_err(|_| AppError::internal())?;
    let Some(flash) = flash else { return Ok(None) };
    let fresh = flash.expires_at > ctx.clock.now();
    // Another org's page leaves it for its own page (unless it is stale).
    if flash.org_id != org.id && fresh {
        return Ok(None);
    }
    session.remove_value(MINTED_FLASH_KEY).await.map_err(|_| AppError::internal())?;
    Ok((flash.org_id == org.id && fresh).then_some(flash.minted))
}

#[server(prefix = "/fn", endpoint = "revoke_api_key")]
pub async fn revoke_api_key(org: String, key_id: Uuid) -> Result<ApiKeyView, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = domain::orgs::membership(&ctx.db, actor.user_id(), &org).await?;
    domain::api_keys::revoke(&ctx, &actor, &org, key_id).await
}
