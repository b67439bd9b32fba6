//! `/api/v1/api-keys`: list for keys and sessions; minting and revoking are
//! browser-only (the domain refuses API keys).

use axum::extract::{Path, State};
use serde::Deserialize;

use app::domain::{api_keys, Ctx};
use app::model::{ApiKeyView, MintedApiKey, Page};

use super::envelope::{ApiError, ApiOk};
use super::extract::{parse_id, ApiJson, ApiQuery, ListParams};
use crate::auth::ApiCaller;

use crate::openapi::{Envelope, ErrorEnvelope};

#[utoipa::path(get, path = "/api-keys", tag = "api-keys", params(ListParams),
    responses((status = 200, description = "The org's keys, newest first, revoked ones too; never their secrets", body = Envelope<Page<ApiKeyView>>)))]
pub async fn list(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<ApiOk<Page<ApiKeyView>>, ApiError> {
    Ok(ApiOk(api_keys::list_page(&ctx, &caller.org, params.page()?).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MintBody {
    #[schema(min_length = 1, max_length = 80, pattern = r"[^\s\u001c-\u001f\u0085\ufeff]")]
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<String>,
}

#[utoipa::path(post, path = "/api-keys", tag = "api-keys", request_body = MintBody,
    description = "Browser-only: an API key gets 403 \"requires a browser session\". Scopes default to models:read; billing:machine:charge needs owner or admin. Rate limited per user and IP (429).",
    responses((status = 200, description = "The new key; `secret` is shown this once", body = Envelope<MintedApiKey>),
        (status = 403, description = "A scope the role may not grant", body = ErrorEnvelope),
        (status = 422, description = "Bad name or unknown scope", body = ErrorEnvelope),
        (status = 429, description = "Too many keys minted; see Retry-After", body = ErrorEnvelope)))]
pub async fn mint(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<MintBody>,
) -> Result<ApiOk<MintedApiKey>, ApiError> {
    Ok(ApiOk(api_keys::mint(&ctx, &caller.actor, &caller.org, &body.name, &body.scopes).await?))
}

#[utoipa::path(post, path = "/api-keys/{id}/revoke", tag = "api-keys",
    params(("id" = Uuid, Path, description = "Key id")),
    description = "Browser-only. Members revoke their own keys, admins any.",
    responses((status = 200, description = "The revoked key", body = Envelope<ApiKeyView>),
        (status = 403, description = "A member revoking another's key", body = ErrorEnvelope),
        (status = 409, description = "Already revoked", body = ErrorEnvelope)))]
pub async fn revoke(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<ApiOk<ApiKeyView>, ApiError> {
    Ok(ApiOk(api_keys::revoke(&ctx, &caller.actor, &caller.org, parse_id(&id)?).await?))
}
