//! `/api/v1/projects`: list (paged), create, read, partial update, soft delete.

use axum::extract::{Path, State};
use serde::Deserialize;

use app::domain::paging::PageRequest;
use app::domain::projects::{self, NewProject, ProjectPatch};
use app::domain::Ctx;
use app::model::{Page, ProjectView};

use super::envelope::{ApiError, ApiOk};
use super::extract::{parse_id, ApiJson, ApiQuery};
use crate::auth::ApiCaller;

#[derive(Deserialize)]
pub struct ListParams {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

pub async fn list(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<ApiOk<Page<ProjectView>>, ApiError> {
    let page = PageRequest::parse(params.limit, params.cursor.as_deref())?;
    Ok(ApiOk(projects::list(&ctx, &caller.org, page).await?))
}

pub async fn create(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<NewProject>,
) -> Result<ApiOk<ProjectView>, ApiError> {
    Ok(ApiOk(projects::create(&ctx, &caller.actor, &caller.org, body).await?))
}

pub async fn get(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<ApiOk<ProjectView>, ApiError> {
    Ok(ApiOk(projects::get(&ctx, &caller.org, parse_id(&id)?).await?))
}

pub async fn update(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ProjectPatch>,
) -> Result<ApiOk<ProjectView>, ApiError> {
    Ok(ApiOk(projects::update(&ctx, &caller.actor, &caller.org, parse_id(&id)?, body).await?))
}

pub async fn delete(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<ApiOk<ProjectView>, ApiError> {
    Ok(ApiOk(projects::delete(&ctx, &caller.actor, &caller.org, parse_id(&id)?).await?))
}
