//! `/api/v1/models`: the models the caller's org may run.

use axum::extract::State;

use app::domain::{models, Ctx};
use app::model::{ModelView, Page};

use super::envelope::{ApiError, ApiOk};
use super::extract::{ApiQuery, ListParams};
use crate::auth::ApiCaller;
use crate::openapi::{Envelope, ErrorEnvelope};

#[utoipa::path(get, path = "/models", tag = "models",
    description = "The org's catalogue: the operator's providers (managed models only when the org's package includes them; a discovered Ollama server's models at 0 credits). Keys need the `models:read` scope.",
    params(ListParams),
    responses((status = 200, description = "Models, grouped by provider", body = Envelope<Page<ModelView>>),
        (status = 403, description = "The key lacks models:read", body = ErrorEnvelope)))]
pub async fn list(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<ApiOk<Page<ModelView>>, ApiError> {
    Ok(ApiOk(models::list(&ctx, &caller.actor, &caller.org, params.page()?).await?))
}
