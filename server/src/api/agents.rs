//! `/api/v1/agents`: CRUD with partial PATCH and soft delete. Keys may
//! create and edit agents; setting `tools`, `peers` or `connectors` is
//! browser-only with a fresh step-up (the domain refuses it otherwise).

use axum::extract::{Path, State};

use app::domain::agents::{self, AgentPatch, NewAgent};
use app::domain::Ctx;
use app::model::{AgentView, Page};

use super::envelope::{ApiError, ApiOk};
use super::extract::{parse_id, ApiJson, ApiQuery, ListParams, AGENT_BODY_LIMIT};
use crate::auth::ApiCaller;
use crate::openapi::{Envelope, ErrorEnvelope};

#[utoipa::path(get, path = "/agents", tag = "agents", params(ListParams),
    responses((status = 200, description = "Live agents, newest first", body = Envelope<Page<AgentView>>)))]
pub async fn list(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<ApiOk<Page<AgentView>>, ApiError> {
    Ok(ApiOk(agents::list(&ctx, &caller.org, params.page()?).await?))
}

#[utoipa::path(post, path = "/agents", tag = "agents", request_body = NewAgent,
    description = "`model` must be one of `GET /api/v1/models` (another is a 404, naming the field). Setting `tools`, `peers` or `connectors` needs a browser session with a fresh step-up (a key gets 403 \"requires a browser session\"). Past the package's `max_agents`: 402 with `details.reason` `package_blocks`. Bodies up to 512 KB (a system prompt may be 32,000 characters).",
    responses((status = 200, description = "The agent", body = Envelope<AgentView>),
        (status = 402, description = "The package allows no more agents", body = ErrorEnvelope),
        (status = 409, description = "Name taken by a live agent", body = ErrorEnvelope),
        (status = 404, description = "A model, peer, connection or skill that names nothing of this org", body = ErrorEnvelope),
        (status = 422, description = "Value out of range", body = ErrorEnvelope)))]
pub async fn create(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<NewAgent, AGENT_BODY_LIMIT>,
) -> Result<ApiOk<AgentView>, ApiError> {
    Ok(ApiOk(agents::create(&ctx, &caller.actor, &caller.org, body).await?))
}

#[utoipa::path(get, path = "/agents/{id}", tag = "agents", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The agent", body = Envelope<AgentView>)))]
pub async fn get(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<ApiOk<AgentView>, ApiError> {
    Ok(ApiOk(agents::get(&ctx, &caller.org, parse_id(&id)?).await?))
}

#[utoipa::path(patch, path = "/agents/{id}", tag = "agents", params(("id" = Uuid, Path)), request_body = AgentPatch,
    description = "Changes only the fields present; bodies up to 512 KB. A body with `tools`, `peers` or `connectors` (even `null`) is a restriction change: browser session with a fresh step-up only.",
    responses((status = 200, description = "The agent", body = Envelope<AgentView>),
        (status = 409, description = "Name taken", body = ErrorEnvelope),
        (status = 422, description = "Value out of range", body = ErrorEnvelope)))]
pub async fn update(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AgentPatch, AGENT_BODY_LIMIT>,
) -> Result<ApiOk<AgentView>, ApiError> {
    Ok(ApiOk(agents::update(&ctx, &caller.actor, &caller.org, parse_id(&id)?, body).await?))
}

#[utoipa::path(delete, path = "/agents/{id}", tag = "agents", params(("id" = Uuid, Path)),
    description = "Soft delete. Deleting again answers the same.",
    responses((status = 200, description = "The deleted agent (deletedAt set)", body = Envelope<AgentView>)))]
pub async fn delete(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<ApiOk<AgentView>, ApiError> {
    Ok(ApiOk(agents::delete(&ctx, &caller.actor, &caller.org, parse_id(&id)?).await?))
}
