use leptos::prelude::*;
use uuid::Uuid;

#[cfg(feature = "ssr")]
use super::support::*;
use crate::model::{AppError, CreatedInvite, InvitePreview, MembersPage};
#[cfg(feature = "ssr")]
use crate::{domain, model::Role};

#[cfg(feature = "ssr")]
fn parse_role(role: &str) -> Result<Role, AppError> {
    Role::parse(role).ok_or_else(|| AppError::validation("role", "Choose owner, admin or member"))
}

#[server(prefix = "/fn", endpoint = "get_members_page")]
pub async fn get_members_page(org: String) -> Result<MembersPage, AppError> {
    let actor = require_actor().await?;
    domain::members::list(&ctx()?, &actor, &org).await
}

#[server(prefix = "/fn", endpoint = "create_invite")]
pub async fn create_invite(org: String, role: String) -> Result<CreatedInvite, AppError> {
    let actor = require_actor().await?;
    let role = parse_role(&role)?;
    domain::members::create_invite(&ctx()?, &actor, &org, role).await
}

#[server(prefix = "/fn", endpoint = "revoke_invite")]
pub async fn revoke_invite(org: String, invite_id: Uuid) -> Result<(), AppError> {
    let actor = require_actor().await?;
    domain::members::revoke_invite(&ctx()?, &actor, &org, invite_id).await
}

#[server(prefix = "/fn", endpoint = "change_member_role")]
pub async fn change_member_role(org: String, user_id: Uuid, role: String) -> Result<(), AppError> {
    let actor = require_actor().await?;
    let role = parse_role(&role)?;
    domain::members::change_role(&ctx()?, &actor, &org, user_id, role).await
}

#[server(prefix = "/fn", endpoint = "remove_member")]
pub async fn remove_member(org: String, user_id: Uuid) -> Result<(), AppError> {
    let actor = require_actor().await?;
    let leaving = actor.user_id() == user_id;
    domain::members::remove(&ctx()?, &actor, &org, user_id).await?;
    if leaving {
        leptos_axum::redirect("/");
    }
    Ok(())
}

#[server(prefix = "/fn", endpoint = "get_invite_preview")]
pub async fn get_invite_preview(token: String) -> Result<InvitePreview, AppError> {
    let viewer = current_actor().await?;
    domain::members::preview_invite(&ctx()?, &token, viewer.as_ref()).await
}

#[server(prefix = "/fn", endpoint = "accept_invite")]
pub async fn accept_invite(token: String) -> Result<(), AppError> {
    let actor = require_actor().await?;
    let slug = domain::members::accept_invite(&ctx()?, &actor, &token).await?;
    leptos_axum::redirect(&format!("/{slug}"));
    Ok(())
}
