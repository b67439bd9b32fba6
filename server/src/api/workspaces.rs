//! `/api/v1/workspaces`: listing for keys and sessions; creating and
//! deleting are browser-only.

use axum::extract::{Path, State};

use app::domain::workspaces::{self, NewWorkspace};
use app::domain::Ctx;
use app::model::{Page, WorkspaceView};

use super::envelope::{ApiError, ApiOk};
use super::extract::{parse_id, ApiJson, ApiQuery, ListParams};
use crate::auth::ApiCaller;
use crate::openapi::{Envelope, ErrorEnvelope};

#[utoipa::path(get, path = "/workspaces", tag = "workspaces",
    params(ListParams),
    responses((status = 200, description = "Live workspaces, newest first", body = Envelope<Page<WorkspaceView>>)))]
pub async fn list(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<ApiOk<Page<WorkspaceView>>, ApiError> {
    Ok(ApiOk(workspaces::list(&ctx, &caller.org, params.page()?).await?))
}

#[utoipa::path(post, path = "/workspaces", tag = "workspaces", request_body = NewWorkspace,
    description = "Browser-only: an API key gets 403 \"requires a browser session\".",
    responses((status = 200, description = "The workspace", body = Envelope<WorkspaceView>),
        (status = 409, description = "Name taken", body = ErrorEnvelope),
        (status = 422, description = "Bad name", body = ErrorEnvelope)))]
pub async fn create(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<NewWorkspace>,
) -> Result<ApiOk<WorkspaceView>, ApiError> {
    Ok(ApiOk(workspaces::create(&ctx, &caller.actor, &caller.org, body).await?))
}

#[utoipa::path(delete, path = "/workspaces/{id}", tag = "workspaces", params(("id" = Uuid, Path)),
    description = "Browser-only. Soft delete; deleting again answers the same.",
    responses((status = 200, description = "The deleted workspace", body = Envelope<WorkspaceView>)))]
pub async fn delete(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<ApiOk<WorkspaceView>, ApiError> {
    Ok(ApiOk(workspaces::delete(&ctx, &caller.actor, &caller.org, parse_id(&id)?).await?))
}
