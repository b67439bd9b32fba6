//! `/api/v1/projects`: list (paged), create, read, partial update, soft delete.

use app::domain::projects::{self, NewProject, ProjectPatch};
use app::domain::Ctx;
use app::model::{Page, ProjectView};
use axum::extract::{Path, State};

use super::envelope::{ApiError, ApiOk, ApiOkShared};
use super::extract::{parse_id, ApiJson, ApiQuery, ListParams};
use crate::auth::ApiCaller;

use crate::openapi::{Envelope, ErrorEnvelope};

#[utoipa::path(get, path = "/projects", tag = "projects",
    params(ListParams),
    responses((status = 200, description = "Live projects, newest first", body = Envelope<Page<ProjectView>>)))]
pub async fn list(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<ApiOkShared<Page<ProjectView>>, ApiError> {
    Ok(ApiOkShared(projects::list(&ctx, &caller.org, params.page()?).await?))
}

#[utoipa::path(post, path = "/projects", tag = "projects", request_body = NewProject,
    description = "slug defaults to one derived from name; metadata ≤ 32 KB and depth ≤ 12; settings ≤ 8 KB.",
    responses((status = 200, description = "The project", body = Envelope<ProjectView>),
        (status = 409, description = "Slug taken by a live project", body = ErrorEnvelope),
        (status = 422, description = "Value out of range", body = ErrorEnvelope)))]
pub async fn create(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<NewProject>,
) -> Result<ApiOk<ProjectView>, ApiError> {
    Ok(ApiOk(projects::create(&ctx, &caller.actor, &caller.org, body).await?))
}

#[utoipa::path(get, path = "/projects/{id}", tag = "projects", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The project", body = Envelope<ProjectView>)))]
pub async fn get(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<ApiOk<ProjectView>, ApiError> {
    Ok(ApiOk(projects::get(&ctx, &caller.org, parse_id(&id)?).await?))
}

#[utoipa::path(patch, path = "/projects/{id}", tag = "projects", params(("id" = Uuid, Path)), request_body = ProjectPatch,
    description = "Changes only the fields present; description: null clears it.",
    responses((status = 200, description = "The project", body = Envelope<ProjectView>),
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
    responses((status = 200, description = "The deleted project (deletedAt set)", body = Envelope<ProjectView>)))]
pub async fn delete(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<ApiOk<ProjectView>, ApiError> {
    Ok(ApiOk(projects::delete(&ctx, &caller.actor, &caller.org, parse_id(&id)?).await?))
}
