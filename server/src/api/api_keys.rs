//! `/api/v1/api-keys`: list for keys and sessions; minting and revoking are
//! browser-only (the domain refuses API keys).

use axum::extract::{Path, State};
use serde::Deserialize;

use app::domain::{api_keys, Ctx};
use app::model::{ApiKeyView, MintedApiKey};

use super::envelope::{ApiError, ApiOk};
use super::extract::{parse_id, ApiJson};
use crate::auth::ApiCaller;

pub async fn list(State(ctx): State<Ctx>, caller: ApiCaller) -> Result<ApiOk<Vec<ApiKeyView>>, ApiError> {
    Ok(ApiOk(api_keys::list(&ctx, &caller.org).await?))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MintBody {
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<String>,
}

pub async fn mint(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<MintBody>,
) -> Result<ApiOk<MintedApiKey>, ApiError> {
    Ok(ApiOk(api_keys::mint(&ctx, &caller.actor, &caller.org, &body.name, &body.scopes).await?))
}

pub async fn revoke(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<ApiOk<ApiKeyView>, ApiError> {
    Ok(ApiOk(api_keys::revoke(&ctx, &caller.actor, &caller.org, parse_id(&id)?).await?))
}
