use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::support::*;
#[cfg(feature = "ssr")]
use crate::domain;
use crate::model::{AppError, OrgContext, OrgOverview};

#[server(prefix = "/fn", endpoint = "create_org")]
pub async fn create_org(name: String, slug: String) -> Result<(), AppError> {
    let actor = require_actor().await?;
    let org = domain::orgs::create_org(&ctx()?, &actor, &name, &slug).await?;
    leptos_axum::redirect(&format!("/{}", org.slug));
    Ok(())
}

#[server(prefix = "/fn", endpoint = "get_org_context")]
pub async fn get_org_context(org: String) -> Result<OrgContext, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let viewer = viewer(&ctx, &actor).await?;
    let org = viewer.member_of(&org)?;
    let unread = domain::notifications::inbox::unread_count(&ctx, org.id, actor.user_id()).await?;
    Ok(viewer.context(org, unread))
}

#[server(prefix = "/fn", endpoint = "get_org_overview")]
pub async fn get_org_overview(org: String) -> Result<OrgOverview, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = member_of(&ctx, &actor, &org).await?;
    domain::orgs::overview(&ctx, &org).await
}

/// Whether the visitor is signed in (the create-org page needs a user).
#[server(prefix = "/fn", endpoint = "whoami")]
pub async fn whoami() -> Result<Option<String>, AppError> {
    match current_actor().await? {
        Some(actor) => Ok(Some(viewer(&ctx()?, &actor).await?.email.clone())),
        None => Ok(None),
    }
}
