//! The lab canvas's server functions (SPEC §15): the canvas, adding,
//! changing and deleting blocks, and sharing; the same domain calls as
//! `/api/v1/projects/{id}/blocks` and `/share`.

// A block's edit form posts its place as four fields beside the ids and
// content; the macro's generated client fn takes them all.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;
use uuid::Uuid;

#[cfg(feature = "ssr")]
use super::support::*;
#[cfg(feature = "ssr")]
use crate::domain;
use crate::model::{AppError, BlockView, CanvasView, Page, ShareLinkMinted, ShareLinkView};

#[server(prefix = "/fn", endpoint = "get_canvas")]
pub async fn get_canvas(org: String, project: String) -> Result<CanvasView, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = member_of(&ctx, &actor, &org).await?;
    domain::canvas::lab_view(&ctx, &org, &project).await
}

#[server(prefix = "/fn", endpoint = "add_block")]
pub async fn add_block(org: String, project: Uuid, kind: String, content: String) -> Result<BlockView, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = domain::orgs::membership(&ctx.db, actor.user_id(), &org).await?;
    let input = domain::canvas::NewBlock { kind, content, position: None };
    domain::canvas::create(&ctx, domain::canvas::member(&actor), &org, project, input).await
}

/// Saves a block's content and place, as the edit form sends them.
#[server(prefix = "/fn", endpoint = "update_block")]
pub async fn update_block(
    org: String,
    project: Uuid,
    id: Uuid,
    content: Option<String>,
    x: i64,
    y: i64,
    w: i64,
    h: i64,
) -> Result<BlockView, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = domain::orgs::membership(&ctx.db, actor.user_id(), &org).await?;
    let patch = domain::canvas::BlockPatch { content, position: Some(crate::model::BlockPosition { x, y, w, h }) };
    domain::canvas::update(&ctx, &org, project, id, patch).await
}

#[server(prefix = "/fn", endpoint = "delete_block")]
pub async fn delete_block(org: String, project: Uuid, id: Uuid) -> Result<BlockView, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = domain::orgs::membership(&ctx.db, actor.user_id(), &org).await?;
    domain::canvas::delete(&ctx, &org, project, id).await
}

#[server(prefix = "/fn", endpoint = "share_canvas")]
pub async fn share_canvas(
    org: String,
    project: Uuid,
    expires_in_days: Option<String>,
) -> Result<ShareLinkMinted, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = domain::orgs::membership(&ctx.db, actor.user_id(), &org).await?;
    let days = match expires_in_days.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        None => None,
        Some(d) => Some(d.parse::<i64>().map_err(|_| {
            AppError::validation("expiresInDays", "expiresInDays: a whole number of days, or empty for none")
        })?),
    };
    domain::canvas::share::enable(
        &ctx,
        &actor,
        &org,
        project,
        domain::canvas::share::EnableShare { expires_in_days: days },
    )
    .await
}

#[server(prefix = "/fn", endpoint = "stop_sharing")]
pub async fn stop_sharing(org: String, project: Uuid) -> Result<ShareLinkView, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = domain::orgs::membership(&ctx.db, actor.user_id(), &org).await?;
    domain::canvas::share::disable(&ctx, &actor, &org, project).await
}

/// The org's live share links (the projects page's list), newest first.
#[server(prefix = "/fn", endpoint = "list_share_links")]
pub async fn list_share_links(org: String) -> Result<Page<ShareLinkView>, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = domain::orgs::membership(&ctx.db, actor.user_id(), &org).await?;
    let page = domain::paging::PageRequest::parse(Some(domain::paging::MAX_LIMIT), None)?;
    domain::canvas::share::list(&ctx, &org, page).await
}

/// Revokes one of the org's links from that list (step-up, as sharing).
#[server(prefix = "/fn", endpoint = "revoke_share_link")]
pub async fn revoke_share_link(org: String, id: Uuid) -> Result<ShareLinkView, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = domain::orgs::membership(&ctx.db, actor.user_id(), &org).await?;
    domain::canvas::share::revoke_by_id(&ctx, &actor, &org, id).await
}
