//! The schedules page's server functions; the same domain calls as
//! `/api/v1/schedules`. Checkboxes arrive as `Some("on")` when ticked.

// A server function's arguments are its form's fields.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;
use uuid::Uuid;

#[cfg(feature = "ssr")]
use super::support::*;
#[cfg(feature = "ssr")]
use crate::domain;
use crate::model::{AppError, Page, PickerLists, SchedulePreview, ScheduleRunView, ScheduleView};

/// The newest 100 schedules.
#[server(prefix = "/fn", endpoint = "list_schedules")]
pub async fn list_schedules(org: String) -> Result<Page<ScheduleView>, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = member_of(&ctx, &actor, &org).await?;
    domain::schedules::list(&ctx, &org, domain::paging::PageRequest::parse(Some(domain::paging::MAX_LIMIT), None)?)
        .await
}

/// The agents, projects and workspaces the forms pick from (the newest
/// 100 of each).
#[server(prefix = "/fn", endpoint = "schedule_pickers")]
pub async fn schedule_pickers(org: String) -> Result<PickerLists, AppError> {
    use crate::model::PickerItem;
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = member_of(&ctx, &actor, &org).await?;
    let page = || domain::paging::PageRequest::parse(Some(domain::paging::MAX_LIMIT), None);
    let agents = domain::agents::list(&ctx, &org, page()?).await?;
    let projects = domain::projects::list(&ctx, &org, page()?).await?.value.clone();
    let workspaces = domain::workspaces::list(&ctx, &org, page()?).await?;
    Ok(PickerLists {
        agents: agents.items.into_iter().map(|a| PickerItem { id: a.id, name: a.name, slug: None }).collect(),
        projects: projects
            .items
            .into_iter()
            .map(|p| PickerItem { id: p.id, name: p.name, slug: Some(p.slug) })
            .collect(),
        workspaces: workspaces.items.into_iter().map(|w| PickerItem { id: w.id, name: w.name, slug: None }).collect(),
    })
}

/// The newest 50 firings of a schedule.
#[server(prefix = "/fn", endpoint = "schedule_history")]
pub async fn schedule_history(org: String, id: Uuid) -> Result<Page<ScheduleRunView>, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = member_of(&ctx, &actor, &org).await?;
    domain::schedules::history(&ctx, &org, id, domain::paging::PageRequest::parse(Some(50), None)?).await
}

/// The next five times of what the form holds.
#[server(prefix = "/fn", endpoint = "preview_schedule")]
pub async fn preview_schedule(org: String, cron: String, timezone: String) -> Result<SchedulePreview, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    member_of(&ctx, &actor, &org).await?;
    let timezone = Some(timezone.trim()).filter(|t| !t.is_empty());
    domain::schedules::preview(&ctx, &cron, timezone, Some(5))
}

#[cfg(feature = "ssr")]
fn duration(text: &str) -> Result<i64, AppError> {
    text.trim().parse().map_err(|_| {
        AppError::validation("maxDurationSeconds", "maxDurationSeconds: a whole number of seconds, 60 to 86400")
    })
}

#[cfg(feature = "ssr")]
fn workspace(value: Option<String>) -> Result<Option<Uuid>, AppError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(id) => id.parse().map(Some).map_err(|_| AppError::validation("workspaceId", "workspaceId: pick one")),
    }
}

#[server(prefix = "/fn", endpoint = "create_schedule")]
pub async fn create_schedule(
    org: String,
    name: String,
    cron: String,
    timezone: String,
    prompt: String,
    agent_id: Uuid,
    project_id: Uuid,
    workspace_id: Option<String>,
    missed_runs: String,
    max_duration_seconds: String,
    enabled: Option<String>,
) -> Result<ScheduleView, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = member_of(&ctx, &actor, &org).await?;
    let input = domain::schedules::NewSchedule {
        name,
        cron,
        timezone: Some(timezone.trim().to_string()).filter(|t| !t.is_empty()),
        prompt,
        agent_id,
        project_id,
        workspace_id: workspace(workspace_id)?,
        enabled: Some(enabled.is_some()),
        missed_runs: Some(missed_runs),
        max_duration_seconds: Some(duration(&max_duration_seconds)?),
    };
    domain::schedules::create(&ctx, &actor, &org, input).await
}

/// The edit form: every field as it is sent.
#[server(prefix = "/fn", endpoint = "update_schedule")]
pub async fn update_schedule(
    org: String,
    id: Uuid,
    name: String,
    cron: String,
    timezone: String,
    prompt: String,
    agent_id: Uuid,
    project_id: Uuid,
    workspace_id: Option<String>,
    missed_runs: String,
    max_duration_seconds: String,
) -> Result<ScheduleView, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = member_of(&ctx, &actor, &org).await?;
    let patch = domain::schedules::SchedulePatch {
        name: Some(name),
        cron: Some(cron),
        timezone: Some(Some(timezone.trim().to_string()).filter(|t| !t.is_empty()).unwrap_or_else(|| "UTC".into())),
        prompt: Some(prompt),
        agent_id: Some(agent_id),
        project_id: Some(project_id),
        workspace_id: Some(workspace(workspace_id)?),
        enabled: None,
        missed_runs: Some(missed_runs),
        max_duration_seconds: Some(duration(&max_duration_seconds)?),
    };
    domain::schedules::update(&ctx, &actor, &org, id, patch).await
}

#[server(prefix = "/fn", endpoint = "set_schedule_enabled")]
pub async fn set_schedule_enabled(org: String, id: Uuid, enabled: bool) -> Result<ScheduleView, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = member_of(&ctx, &actor, &org).await?;
    let patch = domain::schedules::SchedulePatch { enabled: Some(enabled), ..Default::default() };
    domain::schedules::update(&ctx, &actor, &org, id, patch).await
}

#[server(prefix = "/fn", endpoint = "run_schedule_now")]
pub async fn run_schedule_now(org: String, id: Uuid) -> Result<ScheduleRunView, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = member_of(&ctx, &actor, &org).await?;
    domain::schedules::run_now(&ctx, &actor, &org, id).await
}

#[server(prefix = "/fn", endpoint = "delete_schedule")]
pub async fn delete_schedule(org: String, id: Uuid) -> Result<ScheduleView, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = member_of(&ctx, &actor, &org).await?;
    domain::schedules::delete(&ctx, &actor, &org, id).await
}
