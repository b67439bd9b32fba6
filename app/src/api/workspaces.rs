use leptos::prelude::*;
use uuid::Uuid;

#[cfg(feature = "ssr")]
use super::support::*;
#[cfg(feature = "ssr")]
use crate::domain;
use crate::model::{AppError, Page, WorkspaceView};

#[server(prefix = "/fn", endpoint = "list_workspaces")]
pub async fn list_workspaces(org: String) -> Result<Page<WorkspaceView>, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = member_of(&ctx, &actor, &org).await?;
    let page = domain::paging::PageRequest::parse(Some(domain::paging::MAX_LIMIT), None)?;
    domain::workspaces::list(&ctx, &org, page).await
}

#[server(prefix = "/fn", endpoint = "create_workspace")]
pub async fn create_workspace(
    org: String,
    name: String,
    description: Option<String>,
) -> Result<WorkspaceView, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = domain::orgs::membership(&ctx.db, actor.user_id(), &org).await?;
    domain::workspaces::create(&ctx, &actor, &org, domain::workspaces::NewWorkspace { name, description }).await
}

#[server(prefix = "/fn", endpoint = "delete_workspace")]
pub async fn delete_workspace(org: String, id: Uuid) -> Result<WorkspaceView, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = domain::orgs::membership(&ctx.db, actor.user_id(), &org).await?;
    domain::workspaces::delete(&ctx, &actor, &org, id).await
}
