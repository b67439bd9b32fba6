//! The agents page's model-provider section: the org's own providers
//! (BYOK). Adding and removing need owner or admin and a fresh step-up
//! (the step-up gate and the domain both check).

use leptos::prelude::*;
use uuid::Uuid;

#[cfg(feature = "ssr")]
use super::support::*;
#[cfg(feature = "ssr")]
use crate::domain;
use crate::model::{AppError, ByokProviderView};

#[server(prefix = "/fn", endpoint = "list_byok_providers")]
pub async fn list_byok_providers(org: String) -> Result<Vec<ByokProviderView>, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = member_of(&ctx, &actor, &org).await?;
    domain::byok::list(&ctx, &org).await
}

/// `models`: ids separated by commas, spaces or lines; empty to read them
/// from the provider.
#[server(prefix = "/fn", endpoint = "add_byok_provider")]
pub async fn add_byok_provider(
    org: String,
    id: String,
    kind: String,
    base_url: String,
    api_key: String,
    models: Option<String>,
) -> Result<ByokProviderView, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let models = models
        .unwrap_or_default()
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect();
    let input = domain::byok::NewProvider { id, kind, base_url, api_key, models };
    domain::byok::add(&ctx, &actor, &org, input).await
}

#[server(prefix = "/fn", endpoint = "remove_byok_provider")]
pub async fn remove_byok_provider(org: String, id: Uuid) -> Result<(), AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    domain::byok::remove(&ctx, &actor, &org, id).await
}
