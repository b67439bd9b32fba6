//! `/api/v1/schedules` (SPEC §11): CRUD with partial PATCH and soft delete,
//! and the preview of an expression's next times for the form.

use axum::extract::{Path, State};
use serde::Deserialize;

use app::domain::schedules::{self, NewSchedule, SchedulePatch};
use app::domain::Ctx;
use app::model::{Page, SchedulePreview, ScheduleRunView, ScheduleView};

use super::envelope::{ApiError, ApiOk};
use super::extract::{parse_id, ApiJson, ApiQuery, ListParams};
use crate::auth::ApiCaller;
use crate::openapi::{Envelope, ErrorEnvelope};

#[utoipa::path(get, path = "/schedules", tag = "schedules", params(ListParams),
    responses((status = 200, description = "Live schedules, newest first", body = Envelope<Page<ScheduleView>>)))]
pub async fn list(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<ApiOk<Page<ScheduleView>>, ApiError> {
    Ok(ApiOk(schedules::list(&ctx, &caller.org, params.page()?).await?))
}

#[utoipa::path(post, path = "/schedules", tag = "schedules", request_body = NewSchedule,
    description = "`cron` is five fields or a macro (`@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`), read in `timezone` (IANA, default UTC). The agent, project and workspace must be this org's (another is a 404). Past the package's `max_schedules`: 402 with `details.reason` `package_blocks`.",
    responses((status = 200, description = "The schedule, with its next run", body = Envelope<ScheduleView>),
        (status = 402, description = "The package allows no more schedules", body = ErrorEnvelope),
        (status = 404, description = "An agent, project or workspace that names nothing of this org", body = ErrorEnvelope),
        (status = 422, description = "A bad expression, zone or value (`details.field` names it)", body = ErrorEnvelope)))]
pub async fn create(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<NewSchedule>,
) -> Result<ApiOk<ScheduleView>, ApiError> {
    Ok(ApiOk(schedules::create(&ctx, &caller.actor, &caller.org, body).await?))
}

#[utoipa::path(get, path = "/schedules/{id}", tag = "schedules", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The schedule", body = Envelope<ScheduleView>)))]
pub async fn get(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<ApiOk<ScheduleView>, ApiError> {
    Ok(ApiOk(schedules::get(&ctx, &caller.org, parse_id(&id)?).await?))
}

#[utoipa::path(patch, path = "/schedules/{id}", tag = "schedules", params(("id" = Uuid, Path)), request_body = SchedulePatch,
    description = "Changes only the fields present; the next run is computed again from now (disabled: none).",
    responses((status = 200, description = "The schedule", body = Envelope<ScheduleView>),
        (status = 404, description = "An agent, project or workspace that names nothing of this org", body = ErrorEnvelope),
        (status = 422, description = "A bad expression, zone or value", body = ErrorEnvelope)))]
pub async fn update(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SchedulePatch>,
) -> Result<ApiOk<ScheduleView>, ApiError> {
    Ok(ApiOk(schedules::update(&ctx, &caller.actor, &caller.org, parse_id(&id)?, body).await?))
}

#[utoipa::path(delete, path = "/schedules/{id}", tag = "schedules", params(("id" = Uuid, Path)),
    description = "Soft delete: it stops firing at once; its history stays.",
    responses((status = 200, description = "The deleted schedule", body = Envelope<ScheduleView>)))]
pub async fn delete(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<ApiOk<ScheduleView>, ApiError> {
    Ok(ApiOk(schedules::delete(&ctx, &caller.actor, &caller.org, parse_id(&id)?).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PreviewParams {
    /// The expression, as in a schedule.
    #[param(min_length = 1, max_length = 200, example = "0 9 * * 1-5")]
    pub cron: String,
    /// IANA time zone; default UTC.
    pub timezone: Option<String>,
    /// How many times; default 5.
    #[param(minimum = 1, maximum = 20)]
    pub count: Option<i64>,
}

#[utoipa::path(get, path = "/schedules/preview", tag = "schedules", params(PreviewParams),
    responses((status = 200, description = "The next times, in UTC and in the zone", body = Envelope<SchedulePreview>),
        (status = 422, description = "A bad expression or zone (`details.field` names it)", body = ErrorEnvelope)))]
pub async fn preview(
    State(ctx): State<Ctx>,
    _caller: ApiCaller,
    ApiQuery(params): ApiQuery<PreviewParams>,
) -> Result<ApiOk<SchedulePreview>, ApiError> {
    Ok(ApiOk(schedules::preview(&ctx, &params.cron, params.timezone.as_deref(), params.count)?))
}

#[utoipa::path(post, path = "/schedules/{id}/run", tag = "schedules", params(("id" = Uuid, Path)),
    description = "Fires the schedule now, enabled or not, in a new session. The firing is answered at once: `running` with its session and run, or `failed` with its `reason` when the run could not start (the org is notified as for a due time).",
    responses((status = 200, description = "The firing", body = Envelope<ScheduleRunView>),
        (status = 409, description = "The previous firing is still going", body = ErrorEnvelope)))]
pub async fn run_now(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<ApiOk<ScheduleRunView>, ApiError> {
    Ok(ApiOk(schedules::run_now(&ctx, &caller.actor, &caller.org, parse_id(&id)?).await?))
}

#[utoipa::path(get, path = "/schedules/{id}/runs", tag = "schedules", params(("id" = Uuid, Path), ListParams),
    description = "Every firing, newest first: fired, skipped (with its reason; missed due times in one row with their count) and run now.",
    responses((status = 200, description = "The schedule's firings", body = Envelope<Page<ScheduleRunView>>)))]
pub async fn history(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<ApiOk<Page<ScheduleRunView>>, ApiError> {
    Ok(ApiOk(schedules::history(&ctx, &caller.org, parse_id(&id)?, params.page()?).await?))
}
