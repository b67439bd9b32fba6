//! Schedules' rows and their reads and writes (SPEC §11): create with the
//! package cap, list, get, partial update (which recomputes the next run
//! from now), soft delete, and the preview of an expression's next times.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::cron::{self, CronSchedule};
use crate::db::{exec_on_db, on_db};
use crate::domain::audit::{self, AuditEvent};
use crate::domain::billing::metering::{self, Cap};
use crate::domain::paging::{Cursor, PageRequest};
use crate::domain::{agents, clock, projects, validate, workspaces, Actor, Ctx, DomainResult};
use crate::model::{AppError, OrgSummary, Page, ScheduleLastRun, SchedulePreview, ScheduleView};

const NAME_MAX_CHARS: usize = 120;
const PROMPT_MAX_CHARS: usize = 20_000;
pub const MISSED_RUNS: &[&str] = &["skip", "run_once"];
const DEFAULT_MAX_DURATION: i64 = 900;
/// A run may last a minute to a day.
const MAX_DURATION_RANGE: (i64, i64) = (60, 86_400);
const PREVIEW_MAX: usize = 20;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewSchedule {
    #[schema(min_length = 1, max_length = 120, pattern = r"[^\s\u001c-\u001f\u0085\ufeff]")]
    pub name: String,
    #[schema(min_length = 1, max_length = 200, example = "0 9 * * 1-5")]
    pub cron: String,
    /// IANA time zone; default UTC.
    #[serde(default)]
    #[schema(example = "Europe/Berlin")]
    pub timezone: Option<String>,
    #[schema(min_length = 1, max_length = 20000, pattern = r"[^\s\u001c-\u001f\u0085\ufeff]")]
    pub prompt: String,
    pub agent_id: Uuid,
    pub project_id: Uuid,
    #[serde(default)]
    pub workspace_id: Option<Uuid>,
    #[serde(default)]
    pub enabled: Option<bool>,
    /// `skip` (default) or `run_once`.
    #[serde(default)]
    #[schema(pattern = "^(skip|run_once)$", example = "skip")]
    pub missed_runs: Option<String>,
    /// Default 900.
    #[serde(default, deserialize_with = "crate::model::whole_number")]
    #[schema(minimum = 60, maximum = 86400)]
    pub max_duration_seconds: Option<i64>,
}

/// A partial update: absent fields keep their value; `workspaceId: null`
/// clears it.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SchedulePatch {
    #[schema(min_length = 1, max_length = 120, pattern = r"[^\s\u001c-\u001f\u0085\ufeff]")]
    pub name: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    pub cron: Option<String>,
    pub timezone: Option<String>,
    #[schema(min_length = 1, max_length = 20000, pattern = r"[^\s\u001c-\u001f\u0085\ufeff]")]
    pub prompt: Option<String>,
    pub agent_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    #[serde(default, deserialize_with = "crate::domain::validate::present")]
    #[schema(value_type = Option<Uuid>)]
    pub workspace_id: Option<Option<Uuid>>,
    pub enabled: Option<bool>,
    #[schema(pattern = "^(skip|run_once)$")]
    pub missed_runs: Option<String>,
    #[serde(default, deserialize_with = "crate::model::whole_number")]
    #[schema(minimum = 60, maximum = 86400)]
    pub max_duration_seconds: Option<i64>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ScheduleRow {
    pub id: Uuid,
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub prompt: String,
    pub agent_id: Uuid,
    pub project_id: Uuid,
    pub workspace_id: Option<Uuid>,
    pub enabled: bool,
    pub missed_runs: String,
    pub max_duration_seconds: i64,
    pub next_run_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub(crate) const COLUMNS: &str = "id, name, cron, timezone, prompt, agent_id, project_id, workspace_id, enabled, \
    missed_runs, max_duration_seconds, next_run_at, created_at, updated_at";

impl ScheduleRow {
    fn view(self, last_run: Option<ScheduleLastRun>) -> ScheduleView {
        let parsed = cron::parse(&self.cron, &self.timezone).ok();
        let description = parsed.as_ref().map_or_else(|| self.cron.clone(), |c| c.describe());
        let next_run_local = parsed.zip(self.next_run_at).map(|(c, t)| c.local(t));
        ScheduleView {
            id: self.id,
            name: self.name,
            cron: self.cron,
            timezone: self.timezone,
            description,
            prompt: self.prompt,
            agent_id: self.agent_id,
            project_id: self.project_id,
            workspace_id: self.workspace_id,
            enabled: self.enabled,
            missed_runs: self.missed_runs,
            max_duration_seconds: self.max_duration_seconds,
            next_run_at: self.next_run_at.map(clock::iso),
            next_run_local,
            last_run,
            created_at: clock::iso(self.created_at),
            updated_at: clock::iso(self.updated_at),
        }
    }
}

/// Checked fields of a schedule, as stored.
struct Fields {
    name: String,
    cron: String,
    timezone: String,
    prompt: String,
    agent_id: Uuid,
    project_id: Uuid,
    workspace_id: Option<Uuid>,
    enabled: bool,
    missed_runs: String,
    max_duration_seconds: i64,
}

impl Fields {
    /// The next run from `now`: none when disabled.
    fn next_run(&self, schedule: &CronSchedule, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.enabled.then(|| schedule.next_after(now)).flatten()
    }
}

fn check_missed(value: Option<String>, current: &str) -> DomainResult<String> {
    let value = value.unwrap_or_else(|| current.to_string());
    if !MISSED_RUNS.contains(&value.as_str()) {
        return Err(AppError::validation("missedRuns", "missedRuns: skip or run_once"));
    }
    Ok(value)
}

fn check_duration(value: i64) -> DomainResult<i64> {
    let (low, high) = MAX_DURATION_RANGE;
    if !(low..=high).contains(&value) {
        return Err(AppError::validation(
            "maxDurationSeconds",
            format!("maxDurationSeconds: from {low} to {high} seconds"),
        ));
    }
    Ok(value)
}

/// Every nested id named here is something live of this org, or it is a 404.
async fn check_targets(
    ctx: &Ctx,
    org: &OrgSummary,
    agent: Option<Uuid>,
    project: Option<Uuid>,
    workspace: Option<Uuid>,
) -> DomainResult<()> {
    if let Some(agent) = agent {
        agents::get(ctx, org, agent).await?;
    }
    if let Some(project) = project {
        projects::get(ctx, org, project).await?;
    }
    if let Some(workspace) = workspace {
        workspaces::get(ctx, org, workspace).await?;
    }
    Ok(())
}

pub(crate) async fn find(ctx: &Ctx, org: &OrgSummary, id: Uuid) -> DomainResult<ScheduleRow> {
    let sql = format!("SELECT {COLUMNS} FROM schedules WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL");
    let row: Option<ScheduleRow> =
        on_db!(&ctx.db, |p| sqlx::query_as(&sql).bind(org.id).bind(id).fetch_optional(p).await)?;
    row.ok_or_else(AppError::not_found)
}

/// A firing's schedule, id, status, start and session.
type LastRunRow = (Uuid, Uuid, String, Option<DateTime<Utc>>, Option<Uuid>);

/// The latest firing of each of `ids`, in one query: each schedule's is
/// one seek on the history index, however long its history.
async fn last_runs(ctx: &Ctx, ids: &[Uuid]) -> DomainResult<Vec<(Uuid, ScheduleLastRun)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<LastRunRow> = on_db!(&ctx.db, |p| {
        let mut q = sqlx::QueryBuilder::new(
            "SELECT f.schedule_id, f.id, f.status, f.started_at, f.session_id FROM schedule_runs f WHERE f.id IN \
             (SELECT (SELECT l.id FROM schedule_runs l WHERE l.schedule_id = s.id \
             ORDER BY l.created_at DESC, l.id DESC LIMIT 1) FROM schedules s WHERE s.id IN (",
        );
        let mut list = q.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        q.push("))");
        q.build_query_as().fetch_all(p).await
    })?;
    Ok(rows
        .into_iter()
        .map(|(schedule, id, status, started_at, session_id)| {
            (schedule, ScheduleLastRun { id, status, started_at: started_at.map(clock::iso), session_id })
        })
        .collect())
}

async fn view_of(ctx: &Ctx, row: ScheduleRow) -> DomainResult<ScheduleView> {
    let last = last_runs(ctx, &[row.id]).await?.pop().map(|(_, r)| r);
    Ok(row.view(last))
}

pub async fn get(ctx: &Ctx, org: &OrgSummary, id: Uuid) -> DomainResult<ScheduleView> {
    view_of(ctx, find(ctx, org, id).await?).await
}

pub async fn list(ctx: &Ctx, org: &OrgSummary, page: PageRequest) -> DomainResult<Page<ScheduleView>> {
    let rows: Vec<ScheduleRow> =
        crate::domain::paging::fetch_live(&ctx.db, "schedules", COLUMNS, org.id, &page).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let last: std::collections::HashMap<Uuid, ScheduleLastRun> = last_runs(ctx, &ids).await?.into_iter().collect();
    Ok(page.finish(
        rows,
        |r| Cursor { created_at: r.created_at, id: r.id },
        |r| {
            let mine = last.get(&r.id).cloned();
            r.view(mine)
        },
    ))
}

pub async fn create(ctx: &Ctx, actor: &Actor, org: &OrgSummary, input: NewSchedule) -> DomainResult<ScheduleView> {
    let timezone = input.timezone.unwrap_or_else(|| "UTC".into());
    let schedule = cron::parse(&input.cron, &timezone)?;
    let fields = Fields {
        name: validate::text("name", &input.name, NAME_MAX_CHARS)?,
        cron: input.cron.trim().to_string(),
        timezone: schedule.zone_name().to_string(),
        prompt: validate::text("prompt", &input.prompt, PROMPT_MAX_CHARS)?,
        agent_id: input.agent_id,
        project_id: input.project_id,
        workspace_id: input.workspace_id,
        enabled: input.enabled.unwrap_or(true),
        missed_runs: check_missed(input.missed_runs, "skip")?,
        max_duration_seconds: check_duration(input.max_duration_seconds.unwrap_or(DEFAULT_MAX_DURATION))?,
    };
    check_targets(ctx, org, Some(fields.agent_id), Some(fields.project_id), fields.workspace_id).await?;
    let id = Uuid::new_v4();
    let now = ctx.clock.now();
    let next = fields.next_run(&schedule, now);
    let f = &fields;
    let result: DomainResult<()> = on_db!(&ctx.db, |p| {
        async {
            let mut tx = p.begin().await?;
            // The org row first: two creates at once count one after the other.
            sqlx::query("UPDATE orgs SET name = name WHERE id = $1").bind(org.id).execute(&mut *tx).await?;
            let live: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM schedules WHERE org_id = $1 AND deleted_at IS NULL")
                    .bind(org.id)
                    .fetch_one(&mut *tx)
                    .await?;
            metering::require_within_cap(ctx, org.id, Cap::Schedules, live).await?;
            sqlx::query(
                "INSERT INTO schedules (id, org_id, name, cron, timezone, prompt, agent_id, project_id, workspace_id, \
                 enabled, missed_runs, max_duration_seconds, next_run_at, created_by, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)",
            )
            .bind(id)
            .bind(org.id)
            .bind(&f.name)
            .bind(&f.cron)
            .bind(&f.timezone)
            .bind(&f.prompt)
            .bind(f.agent_id)
            .bind(f.project_id)
            .bind(f.workspace_id)
            .bind(f.enabled)
            .bind(&f.missed_runs)
            .bind(f.max_duration_seconds)
            .bind(next)
            .bind(actor.user_id())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let event = AuditEvent {
                org_id: Some(org.id),
                action: "schedule.create",
                target: Some(id.to_string()),
                details: Some(json!({ "name": f.name, "cron": f.cron, "timezone": f.timezone })),
            };
            audit::audit_in_tx!(ctx, &mut *tx, actor.into(), event)?;
            tx.commit().await?;
            Ok(())
        }
        .await
    });
    result?;
    get(ctx, org, id).await
}

/// Applies `patch`; the next run is computed again from now (an edit never
/// keeps a time computed for the old expression, nor fires a missed one).
pub async fn update(
    ctx: &Ctx,
    actor: &Actor,
    org: &OrgSummary,
    id: Uuid,
    patch: SchedulePatch,
) -> DomainResult<ScheduleView> {
    let current = find(ctx, org, id).await?;
    let cron_text = patch.cron.unwrap_or(current.cron);
    let timezone = patch.timezone.unwrap_or(current.timezone);
    let schedule = cron::parse(&cron_text, &timezone)?;
    let fields = Fields {
        name: match patch.name {
            Some(n) => validate::text("name", &n, NAME_MAX_CHARS)?,
            None => current.name,
        },
        cron: cron_text.trim().to_string(),
        timezone: schedule.zone_name().to_string(),
        prompt: match patch.prompt {
            Some(p) => validate::text("prompt", &p, PROMPT_MAX_CHARS)?,
            None => current.prompt,
        },
        agent_id: patch.agent_id.unwrap_or(current.agent_id),
        project_id: patch.project_id.unwrap_or(current.project_id),
        workspace_id: patch.workspace_id.unwrap_or(current.workspace_id),
        enabled: patch.enabled.unwrap_or(current.enabled),
        missed_runs: check_missed(patch.missed_runs, &current.missed_runs)?,
        max_duration_seconds: check_duration(patch.max_duration_seconds.unwrap_or(current.max_duration_seconds))?,
    };
    // Only the ids this edit changes are checked: renaming a schedule whose
    // agent was deleted must still work (the runner reports that agent).
    let changed = |new: Option<Uuid>, old: Option<Uuid>| new.filter(|n| Some(*n) != old);
    check_targets(
        ctx,
        org,
        changed(Some(fields.agent_id), Some(current.agent_id)),
        changed(Some(fields.project_id), Some(current.project_id)),
        changed(fields.workspace_id, current.workspace_id),
    )
    .await?;
    let now = ctx.clock.now();
    let next = fields.next_run(&schedule, now);
    let f = &fields;
    exec_on_db!(&ctx.db, |p| sqlx::query(
        "UPDATE schedules SET name = $3, cron = $4, timezone = $5, prompt = $6, agent_id = $7, project_id = $8, \
         workspace_id = $9, enabled = $10, missed_runs = $11, max_duration_seconds = $12, next_run_at = $13, \
         updated_at = $14 WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL"
    )
    .bind(org.id)
    .bind(id)
    .bind(&f.name)
    .bind(&f.cron)
    .bind(&f.timezone)
    .bind(&f.prompt)
    .bind(f.agent_id)
    .bind(f.project_id)
    .bind(f.workspace_id)
    .bind(f.enabled)
    .bind(&f.missed_runs)
    .bind(f.max_duration_seconds)
    .bind(next)
    .bind(now)
    .execute(p)
    .await)?;
    let event = AuditEvent {
        org_id: Some(org.id),
        action: "schedule.update",
        target: Some(id.to_string()),
        details: Some(json!({ "cron": f.cron, "timezone": f.timezone, "enabled": f.enabled })),
    };
    audit::record(ctx, actor.into(), event).await?;
    get(ctx, org, id).await
}

/// Soft delete: the schedule stops firing at once; its history stays.
pub async fn delete(ctx: &Ctx, actor: &Actor, org: &OrgSummary, id: Uuid) -> DomainResult<ScheduleView> {
    let row = find(ctx, org, id).await?;
    let now = ctx.clock.now();
    exec_on_db!(&ctx.db, |p| sqlx::query(
        "UPDATE schedules SET deleted_at = $3, next_run_at = NULL, updated_at = $3 WHERE org_id = $1 AND id = $2"
    )
    .bind(org.id)
    .bind(id)
    .bind(now)
    .execute(p)
    .await)?;
    let event = AuditEvent {
        org_id: Some(org.id),
        action: "schedule.delete",
        target: Some(id.to_string()),
        details: Some(json!({ "name": row.name })),
    };
    audit::record(ctx, actor.into(), event).await?;
    let mut view = view_of(ctx, row).await?;
    view.next_run_at = None;
    view.next_run_local = None;
    Ok(view)
}

/// The next `count` (1–20) times of an expression, for the form.
pub fn preview(
    ctx: &Ctx,
    cron_text: &str,
    timezone: Option<&str>,
    count: Option<i64>,
) -> DomainResult<SchedulePreview> {
    let count = count.unwrap_or(5);
    if !(1..=PREVIEW_MAX as i64).contains(&count) {
        return Err(AppError::validation("count", format!("count: from 1 to {PREVIEW_MAX}")));
    }
    let schedule = cron::parse(cron_text, timezone.unwrap_or("UTC"))?;
    let times = schedule.upcoming(ctx.clock.now(), count as usize);
    Ok(SchedulePreview {
        description: schedule.describe(),
        local_times: times.iter().map(|t| schedule.local(*t)).collect(),
        times: times.into_iter().map(clock::iso).collect(),
    })
}
