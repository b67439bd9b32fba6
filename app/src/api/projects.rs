use leptos::prelude::*;
use uuid::Uuid;

#[cfg(feature = "ssr")]
use super::support::*;
#[cfg(feature = "ssr")]
use crate::domain;
use crate::model::{AppError, Page, ProjectView};

/// The newest 100 projects (the dashboard shows one page; `/api/v1`
/// pages through all of them).
#[server(prefix = "/fn", endpoint = "list_projects")]
pub async fn list_projects(org: String) -> Result<Page<ProjectView>, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = member_of(&ctx, &actor, &org).await?;
    let page = domain::paging::PageRequest::parse(Some(domain::paging::MAX_LIMIT), None)?;
    Ok(domain::projects::list(&ctx, &org, page).await?.value.clone())
}

#[server(prefix = "/fn", endpoint = "create_project")]
pub async fn create_project(
    org: String,
    name: String,
    slug: Option<String>,
    description: Option<String>,
) -> Result<ProjectView, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = domain::orgs::membership(&ctx.db, actor.user_id(), &org).await?;
    let input = domain::projects::NewProject { name, slug, description, ..Default::default() };
    domain::projects::create(&ctx, &actor, &org, input).await
}

/// Edits name, slug and description (an empty description clears it).
#[server(prefix = "/fn", endpoint = "update_project")]
pub async fn update_project(
    org: String,
    id: Uuid,
    name: String,
    slug: String,
    description: Option<String>,
) -> Result<ProjectView, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = domain::orgs::membership(&ctx.db, actor.user_id(), &org).await?;
    let patch = domain::projects::ProjectPatch {
        name: Some(name),
        slug: Some(slug),
        description: Some(description),
        ..Default::default()
    };
    domain::projects::update(&ctx, &actor, &org, id, patch).await
}

#[server(prefix = "/fn", endpoint = "delete_project")]
pub async fn delete_project(org: String, id: Uuid) -> Result<ProjectView, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = domain::orgs::membership(&ctx.db, actor.user_id(), &org).await?;
    domain::projects::delete(&ctx, &actor, &org, id).await
}
