//! `/api/v1/members`: membership management over the API, browser-only
//! like in the dashboard (an API key gets 403).

use axum::extract::{Path, State};
use serde::Deserialize;

use app::domain::{members, Ctx};
use app::model::{AppError, CreatedInvite, MembersPage, Role};

use super::envelope::{ApiError, ApiOk};
use super::extract::{parse_id, ApiJson};
use crate::auth::ApiCaller;
use crate::openapi::{Envelope, ErrorEnvelope};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    /// owner, admin or member
    pub role: String,
}

fn parse_role(role: &str) -> Result<Role, ApiError> {
    Role::parse(role).ok_or_else(|| ApiError(AppError::validation("role", "role must be owner, admin or member")))
}

#[utoipa::path(get, path = "/members", tag = "members", description = "Browser-only.",
    responses((status = 200, description = "Members and (for admins) pending invites", body = Envelope<MembersPage>),
        (status = 403, description = "Browser only", body = ErrorEnvelope)))]
pub async fn list(State(ctx): State<Ctx>, caller: ApiCaller) -> Result<ApiOk<MembersPage>, ApiError> {
    caller.actor.require_browser()?;
    Ok(ApiOk(members::list(&ctx, &caller.actor, &caller.org.slug).await?))
}

#[utoipa::path(post, path = "/members/invites", tag = "members", request_body = RoleBody,
    description = "Browser-only; admins and owners. The link is shown once and works once, for 7 days.",
    responses((status = 200, description = "The invite link", body = Envelope<CreatedInvite>),
        (status = 403, description = "Browser only, or role too low", body = ErrorEnvelope)))]
pub async fn invite(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<RoleBody>,
) -> Result<ApiOk<CreatedInvite>, ApiError> {
    let role = parse_role(&body.role)?;
    Ok(ApiOk(members::create_invite(&ctx, &caller.actor, &caller.org.slug, role).await?))
}

#[utoipa::path(patch, path = "/members/{userId}", tag = "members", params(("userId" = Uuid, Path)), request_body = RoleBody,
    description = "Browser-only. The last owner cannot be demoted (409).",
    responses((status = 200, description = "Role changed", body = Envelope<MembersPage>),
        (status = 403, description = "Browser only, or role too low", body = ErrorEnvelope),
        (status = 409, description = "Last owner", body = ErrorEnvelope)))]
pub async fn change_role(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(user_id): Path<String>,
    ApiJson(body): ApiJson<RoleBody>,
) -> Result<ApiOk<MembersPage>, ApiError> {
    let role = parse_role(&body.role)?;
    members::change_role(&ctx, &caller.actor, &caller.org.slug, parse_id(&user_id)?, role).await?;
    Ok(ApiOk(members::list(&ctx, &caller.actor, &caller.org.slug).await?))
}

#[utoipa::path(delete, path = "/members/{userId}", tag = "members", params(("userId" = Uuid, Path)),
    description = "Browser-only. Removes a member (or yourself: leave). The last owner cannot be removed (409).",
    responses((status = 200, description = "Removed", body = Envelope<bool>),
        (status = 403, description = "Browser only, or role too low", body = ErrorEnvelope),
        (status = 409, description = "Last owner", body = ErrorEnvelope)))]
pub async fn remove(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(user_id): Path<String>,
) -> Result<ApiOk<bool>, ApiError> {
    members::remove(&ctx, &caller.actor, &caller.org.slug, parse_id(&user_id)?).await?;
    Ok(ApiOk(true))
}
