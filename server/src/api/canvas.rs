//! `/api/v1/projects/{id}/blocks` (SPEC §15): a project's canvas, for keys
//! and sessions; `/api/v1/projects/{id}/share` and `/api/v1/share-links`:
//! its share link, browser-only with step-up (the list is a read).

use axum::extract::{Path, State};

use app::domain::canvas::share::{self, EnableShare};
use app::domain::canvas::{self, BlockPatch, NewBlock};
use app::domain::Ctx;
use app::model::{BlockView, Page, ShareLinkMinted, ShareLinkView};

use super::envelope::{ApiError, ApiOk};
use super::extract::{parse_id, ApiJson, ApiQuery, ListParams};
use crate::auth::ApiCaller;
use crate::openapi::{Envelope, ErrorEnvelope};

#[utoipa::path(get, path = "/projects/{id}/blocks", tag = "canvas", params(("id" = Uuid, Path), ListParams),
    responses((status = 200, description = "The canvas's blocks, newest first", body = Envelope<Page<BlockView>>)))]
pub async fn list(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<ApiOk<Page<BlockView>>, ApiError> {
    Ok(ApiOk(canvas::list(&ctx, &caller.org, parse_id(&id)?, params.page()?).await?))
}

#[utoipa::path(post, path = "/projects/{id}/blocks", tag = "canvas", params(("id" = Uuid, Path)), request_body = NewBlock,
    description = "`file` and `session` blocks hold the id of one of the project's files or sessions. A canvas holds at most 500 blocks.",
    responses((status = 200, description = "The block", body = Envelope<BlockView>),
        (status = 409, description = "The canvas is full", body = ErrorEnvelope),
        (status = 422, description = "A bad kind, content or position (`details.field` names it)", body = ErrorEnvelope)))]
pub async fn create(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewBlock>,
) -> Result<ApiOk<BlockView>, ApiError> {
    let writer = canvas::member(&caller.actor);
    Ok(ApiOk(canvas::create(&ctx, writer, &caller.org, parse_id(&id)?, body).await?))
}

#[utoipa::path(get, path = "/projects/{id}/blocks/{blockId}", tag = "canvas",
    params(("id" = Uuid, Path), ("blockId" = Uuid, Path)),
    responses((status = 200, description = "The block", body = Envelope<BlockView>)))]
pub async fn get(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path((id, block_id)): Path<(String, String)>,
) -> Result<ApiOk<BlockView>, ApiError> {
    Ok(ApiOk(canvas::get(&ctx, &caller.org, parse_id(&id)?, parse_id(&block_id)?).await?))
}

#[utoipa::path(patch, path = "/projects/{id}/blocks/{blockId}", tag = "canvas",
    params(("id" = Uuid, Path), ("blockId" = Uuid, Path)), request_body = BlockPatch,
    description = "Changes the content or the position (what is present); the kind stays.",
    responses((status = 200, description = "The block", body = Envelope<BlockView>),
        (status = 422, description = "A bad content or position (`details.field` names it)", body = ErrorEnvelope)))]
pub async fn update(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path((id, block_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<BlockPatch>,
) -> Result<ApiOk<BlockView>, ApiError> {
    Ok(ApiOk(canvas::update(&ctx, &caller.org, parse_id(&id)?, parse_id(&block_id)?, body).await?))
}

#[utoipa::path(delete, path = "/projects/{id}/blocks/{blockId}", tag = "canvas",
    params(("id" = Uuid, Path), ("blockId" = Uuid, Path)),
    responses((status = 200, description = "The block, as it was", body = Envelope<BlockView>)))]
pub async fn delete(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path((id, block_id)): Path<(String, String)>,
) -> Result<ApiOk<BlockView>, ApiError> {
    Ok(ApiOk(canvas::delete(&ctx, &caller.org, parse_id(&id)?, parse_id(&block_id)?).await?))
}

#[utoipa::path(post, path = "/projects/{id}/share", tag = "canvas", params(("id" = Uuid, Path)), request_body = EnableShare,
    description = "Browser-only with step-up. Mints a new link to the canvas, read-only without sign-in; the link the project had stops working. The answer is the only one that holds the token.",
    responses((status = 200, description = "The link and its URL", body = Envelope<ShareLinkMinted>),
        (status = 422, description = "A bad expiry", body = ErrorEnvelope)))]
pub async fn enable_share(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<EnableShare>,
) -> Result<ApiOk<ShareLinkMinted>, ApiError> {
    Ok(ApiOk(share::enable(&ctx, &caller.actor, &caller.org, parse_id(&id)?, body).await?))
}

#[utoipa::path(delete, path = "/projects/{id}/share", tag = "canvas", params(("id" = Uuid, Path)),
    description = "Browser-only with step-up. The link stops working at once; enabling again mints another.",
    responses((status = 200, description = "The link that was disabled", body = Envelope<ShareLinkView>)))]
pub async fn disable_share(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<ApiOk<ShareLinkView>, ApiError> {
    Ok(ApiOk(share::disable(&ctx, &caller.actor, &caller.org, parse_id(&id)?).await?))
}

#[utoipa::path(get, path = "/share-links", tag = "canvas", params(ListParams),
    responses((status = 200, description = "The org's live share links, newest first (never their tokens)", body = Envelope<Page<ShareLinkView>>)))]
pub async fn list_links(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<ApiOk<Page<ShareLinkView>>, ApiError> {
    Ok(ApiOk(share::list(&ctx, &caller.org, params.page()?).await?))
}

#[utoipa::path(delete, path = "/share-links/{id}", tag = "canvas", params(("id" = Uuid, Path)),
    description = "Browser-only with step-up: revokes the link.",
    responses((status = 200, description = "The link that was revoked", body = Envelope<ShareLinkView>)))]
pub async fn revoke_link(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<ApiOk<ShareLinkView>, ApiError> {
    Ok(ApiOk(share::revoke_by_id(&ctx, &caller.actor, &caller.org, parse_id(&id)?).await?))
}
