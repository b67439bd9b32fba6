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
    let org = domain::orgs::membership(&ctx.db, actor.user_id(), &org).await?;
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
    domain::api_keys::mint(&ctx, &actor, &org, &name, &scopes).await
}

#[server(prefix = "/fn", endpoint = "revoke_api_key")]
pub async fn revoke_api_key(org: String, key_id: Uuid) -> Result<ApiKeyView, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = domain::orgs::membership(&ctx.db, actor.user_id(), &org).await?;
    domain::api_keys::revoke(&ctx, &actor, &org, key_id).await
}
