//! `/api/v1/members`: reading the member list is open to keys and
//! sessions alike; managing membership (invites, role changes, removal) is
//! browser-only, with a fresh step-up, like in the dashboard.

use axum::extract::{Path, State};
use serde::Deserialize;

use app::domain::{members, Ctx};
use app::model::{AppError, CreatedInvite, InviteView, MemberView, Page, Role};

use super::envelope::{ApiError, ApiOk};
use super::extract::{parse_id, ApiJson, ApiQuery, ListParams};
use crate::auth::ApiCaller;
use crate::openapi::{Envelope, ErrorEnvelope};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleBody {
    /// Checked by hand so an unknown role is a 422 naming the field.
    #[schema(value_type = Role)]
    pub role: String,
}

fn parse_role(role: &str) -> Result<Role, ApiError> {
    Role::parse(role).ok_or_else(|| ApiError(AppError::validation("role", "role must be owner, admin or member")))
}

#[utoipa::path(get, path = "/members", tag = "members", params(ListParams),
    description = "The org's members, newest first. Any member's key or session may read it.",
    responses((status = 200, description = "A page of members", body = Envelope<Page<MemberView>>)))]
pub async fn list(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<ApiOk<Page<MemberView>>, ApiError> {
    Ok(ApiOk(members::list_page(&ctx, &caller.org, params.page()?).await?))
}

#[utoipa::path(get, path = "/members/invites", tag = "members", params(ListParams),
    description = "Pending invites (not accepted, revoked or expired), newest first; admins and owners only.",
    responses((status = 200, description = "A page of pending invites", body = Envelope<Page<InviteView>>),
        (status = 403, description = "Not an admin or owner", body = ErrorEnvelope)))]
pub async fn invites(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<ApiOk<Page<InviteView>>, ApiError> {
    Ok(ApiOk(members::invites_page(&ctx, &caller.org, params.page()?).await?))
}

#[utoipa::path(post, path = "/members/invites", tag = "members", request_body = RoleBody,
    description = "Browser-only; admins and owners. The link is shown once and works once, for 7 days.",
    responses((status = 200, description = "The invite link", body = Envelope<CreatedInvite>),
        (status = 403, description = "Role too low", body = ErrorEnvelope)))]
pub async fn invite(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<RoleBody>,
) -> Result<ApiOk<CreatedInvite>, ApiError> {
    Ok(ApiOk(members::create_invite(&ctx, &caller.actor, &caller.org.slug, parse_role(&body.role)?).await?))
}

#[utoipa::path(patch, path = "/members/{userId}", tag = "members", params(("userId" = Uuid, Path)), request_body = RoleBody,
    description = "Browser-only. The last owner cannot be demoted (409).",
    responses((status = 200, description = "The member with the new role", body = Envelope<MemberView>),
        (status = 403, description = "Role too low", body = ErrorEnvelope),
        (status = 409, description = "Last owner", body = ErrorEnvelope)))]
pub async fn change_role(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(user_id): Path<String>,
    ApiJson(body): ApiJson<RoleBody>,
) -> Result<ApiOk<MemberView>, ApiError> {
    let user_id = parse_id(&user_id)?;
    let role = parse_role(&body.role)?;
    members::change_role(&ctx, &caller.actor, &caller.org.slug, user_id, role).await?;
    Ok(ApiOk(members::get_member(&ctx, &caller.org, user_id).await?))
}

#[utoipa::path(delete, path = "/members/{userId}", tag = "members", params(("userId" = Uuid, Path)),
    description = "Browser-only. Removes a member (or yourself: leave). The last owner cannot be removed (409).",
    responses((status = 200, description = "Removed", body = Envelope<Removed>),
        (status = 403, description = "Role too low", body = ErrorEnvelope),
        (status = 409, description = "Last owner", body = ErrorEnvelope)))]
pub async fn remove(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(user_id): Path<String>,
) -> Result<ApiOk<Removed>, ApiError> {
    members::remove(&ctx, &caller.actor, &caller.org.slug, parse_id(&user_id)?).await?;
    Ok(ApiOk(Removed { removed: true }))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Removed {
    removed: bool,
}
