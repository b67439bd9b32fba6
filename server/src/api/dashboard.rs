//! `/api/v1/dashboard/overview`: a snapshot of the caller's org.

use axum::extract::State;
use serde::Serialize;

use app::domain::{api_keys, audit, projects, Ctx};
use app::model::{AuditEntryView, OrgSummary};

use super::envelope::{ApiError, ApiOk};
use crate::auth::ApiCaller;
use crate::openapi::Envelope;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub members: i64,
    pub projects: i64,
    pub active_api_keys: i64,
    pub agents: i64,
    /// Runs started in the last 30 days.
    pub runs_last_30_days: i64,
    /// Runs going on now.
    pub runs_running: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    pub org: OrgSummary,
    pub counts: Counts,
    pub recent_activity: Vec<AuditEntryView>,
}

#[utoipa::path(get, path = "/dashboard/overview", tag = "dashboard",
    responses((status = 200, description = "Counts and recent activity of the caller's org", body = Envelope<Overview>)))]
pub async fn overview(State(ctx): State<Ctx>, caller: ApiCaller) -> Result<ApiOk<Overview>, ApiError> {
    let org = caller.org;
    let figures = app::domain::orgs::counts(&ctx, &org).await?;
    let projects = projects::count(&ctx, &org).await?;
    let active_api_keys = api_keys::count_active(&ctx, &org).await?;
    let recent_activity = audit::recent_for_org(&ctx, org.id, 20).await?;
    let counts = Counts {
        members: figures.members,
        projects,
        active_api_keys,
        agents: figures.agents,
        runs_last_30_days: figures.runs_last_30_days,
        runs_running: figures.runs_running,
    };
    Ok(ApiOk(Overview { org, counts, recent_activity }))
}
