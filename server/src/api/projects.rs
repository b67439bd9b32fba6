//! `/api/v1/projects`: list (paged), create, read, partial update, soft delete.

use axum::extract::{Path, State};
use serde::Deserialize;

use app::domain::paging::PageRequest;
use app::domain::projects::{self, NewProject, ProjectPatch};
use app::domain::Ctx;
use app::model::{Page, ProjectView};

use super::envelope::{ApiError, ApiOk, ApiOkShared};
use super::extract::{parse_id, ApiJson, ApiQuery};
use crate::auth::ApiCaller;

use crate::openapi::{Envelope, ErrorEnvelope};

#[derive(Deserialize)]
pub struct ListParams {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/projects", tag = "projects",
    params(("limit" = Option<i64>, Query, description = "1–100, default 20"), ("cursor" = Option<String>, Query, description = "nextCursor of the previous page")),
    responses((status = 200, description = "Live projects, newest first", body = Envelope<Page<ProjectView>>),
        (status = 400, description = "Bad cursor", body = ErrorEnvelope), (status = 422, description = "limit out of range", body = ErrorEnvelope), (status = 401, description = "Missing, malformed, unknown or revoked key", body = ErrorEnvelope)))]
pub async fn list(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<ApiOkShared<Page<ProjectView>>, ApiError> {
    let page = PageRequest::parse(params.limit, params.cursor.as_deref())?;
    Ok(ApiOkShared(projects::list(&ctx, &caller.org, page).await?))
}

#[utoipa::path(post, path = "/projects", tag = "projects", request_body = NewProject,
    description = "slug defaults to one derived from name; metadata ≤ 32 KB and depth ≤ 12; settings ≤ 8 KB.",
    responses((status = 200, description = "The project", body = Envelope<ProjectView>),
        (status = 400, description = "Malformed JSON or wrong types", body = ErrorEnvelope),
        (status = 409, description = "Slug taken by a live project", body = ErrorEnvelope),
        (status = 413, description = "Body over 128 KB", body = ErrorEnvelope),
        (status = 422, description = "Value out of range", body = ErrorEnvelope)))]
pub async fn create(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<NewProject>,
) -> Result<ApiOk<ProjectView>, ApiError> {
    Ok(ApiOk(projects::create(&ctx, &caller.actor, &caller.org, body).await?))
}

#[utoipa::path(get, path = "/projects/{id}", tag = "projects", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The project", body = Envelope<ProjectView>), (status = 404, description = "No such live project in this org", body = ErrorEnvelope)))]
pub async fn get(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<ApiOk<ProjectView>, ApiError> {
    Ok(ApiOk(projects::get(&ctx, &caller.org, parse_id(&id)?).await?))
}

#[utoipa::path(patch, path = "/projects/{id}", tag = "projects", params(("id" = Uuid, Path)), request_body = ProjectPatch,
    description = "Changes only the fields present; description: null clears it.",
    responses((status = 200, description = "The project", body = Envelope<ProjectView>), (status = 404, description = "No such live project", body = ErrorEnvelope),
        (status = 409, description = "Slug taken", body = ErrorEnvelope), (status = 422, description = "Value out of range", body = ErrorEnvelope)))]
pub async fn update(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ProjectPatch>,
) -> Result<ApiOk<ProjectView>, ApiError> {
    Ok(ApiOk(projects::update(&ctx, &caller.actor, &caller.org, parse_id(&id)?, body).await?))
}

#[utoipa::path(delete, path = "/projects/{id}", tag = "projects", params(("id" = Uuid, Path)),
    description = "Soft delete. Deleting again answers the same.",
    responses((status = 200, description = "The deleted project (deletedAt set)", body = Envelope<ProjectView>), (status = 404, description = "No such project in this org", body = ErrorEnvelope)))]
pub async fn delete(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<ApiOk<ProjectView>, ApiError> {
    Ok(ApiOk(projects::delete(&ctx, &caller.actor, &caller.org, parse_id(&id)?).await?))
}
