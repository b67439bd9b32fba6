//! A schedule's firings (SPEC §11): the rows the runner and "run now"
//! write, how a firing starts its run, how it ends (once, whichever
//! process sees it end), and the history.
//!
//! A firing is `running` from the moment its due time is claimed; the
//! unique index `schedule_runs_running_key` allows one running firing per
//! schedule, so no two firings overlap whatever the number of processes.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::store;
use crate::db::{exec_on_db, is_unique_violation, on_db};
use crate::domain::audit::{self, AuditEvent};
use crate::domain::notifications::{self, notify_in_tx};
use crate::domain::paging::{Cursor, PageRequest};
use crate::domain::sessions::unattended::{self, Refused, Unattended};
use crate::domain::{billing, clock, Actor, Ctx, DomainResult};
use crate::model::{AppError, ErrorCode, OrgSummary, Page, ScheduleRunView};

pub(crate) const FIRING_COLUMNS: &str = "id, schedule_id, scheduled_for, started_at, finished_at, status, reason, \
    error, fired_by, missed_count, session_id, run_id, credit_microunits, created_at";

#[derive(sqlx::FromRow)]
pub(crate) struct FiringRow {
    id: Uuid,
    schedule_id: Uuid,
    scheduled_for: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    status: String,
    reason: Option<String>,
    error: Option<String>,
    fired_by: String,
    missed_count: i64,
    session_id: Option<Uuid>,
    run_id: Option<Uuid>,
    credit_microunits: i64,
    created_at: DateTime<Utc>,
}

impl FiringRow {
    fn view(self) -> ScheduleRunView {
        ScheduleRunView {
            id: self.id,
            schedule_id: self.schedule_id,
            scheduled_for: clock::iso(self.scheduled_for),
            started_at: self.started_at.map(clock::iso),
            finished_at: self.finished_at.map(clock::iso),
            status: self.status,
            reason: self.reason,
            error: self.error,
            fired_by: self.fired_by,
            missed_count: self.missed_count,
            session_id: self.session_id,
            run_id: self.run_id,
            credits: billing::credits(self.credit_microunits).credits,
            credit_microunits: self.credit_microunits,
        }
    }
}

/// What a firing needs to know of its schedule to start the run.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct Target {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub prompt: String,
    pub agent_id: Uuid,
    pub project_id: Uuid,
    pub workspace_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    pub org_slug: String,
    pub org_name: String,
}

pub(crate) const TARGET_COLUMNS: &str = "s.id, s.org_id, s.name, s.prompt, s.agent_id, s.project_id, \
    s.workspace_id, s.created_by, o.slug AS org_slug, o.name AS org_name";

impl Target {
    /// The run a firing due `when` starts.
    pub(crate) fn unattended(&self, when: DateTime<Utc>) -> Unattended {
        Unattended {
            project_id: self.project_id,
            agent_id: self.agent_id,
            workspace_id: self.workspace_id,
            title: format!("{} · {}", self.name, when.format("%Y-%m-%d %H:%M UTC")),
            prompt: self.prompt.clone(),
            created_by: self.created_by,
        }
    }

    pub(crate) fn org(&self) -> OrgSummary {
        // The runner acts for the org itself: the role only matters to
        // checks of a person's rights, which a firing does not make.
        OrgSummary {
            id: self.org_id,
            slug: self.org_slug.clone(),
            name: self.org_name.clone(),
            role: crate::model::Role::Owner,
        }
    }
}

/// Why a firing failed, for its row and its `schedule.failed` notification.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub reason: String,
    pub error: String,
    /// `payment_required`: the billing reason (`no_credits`…).
    pub billing_reason: Option<String>,
    /// `run_failed`: the run's stop reason.
    pub stop_reason: Option<String>,
    /// Whether the org hears of it (a person's own cancel: no).
    pub notify: bool,
}

impl Failure {
    pub fn new(reason: &str, error: impl Into<String>) -> Failure {
        Failure { reason: reason.into(), error: error.into(), billing_reason: None, stop_reason: None, notify: true }
    }

    fn refused(refused: &Refused) -> Failure {
        let mut failure = Failure::new(refused.reason(), refused.message());
        if let Refused::PaymentRequired { reason, .. } = refused {
            failure.billing_reason = Some(reason.clone());
        }
        failure
    }
}

/// How a firing ended.
pub(crate) enum End {
    Succeeded,
    Failed(Failure),
}

/// Ends a running firing, once: the status, the run's cost and, for a
/// failure, the org's notification, in one transaction. `false` when it
/// had already ended (another process settled it).
pub(crate) async fn settle(
    ctx: &Ctx,
    target: (&Uuid, &str),
    firing_id: Uuid,
    org_id: Uuid,
    ids: (Option<Uuid>, Option<Uuid>),
    credit_microunits: i64,
    end: End,
) -> DomainResult<bool> {
    let (schedule_id, schedule_name) = (*target.0, target.1.to_string());
    let (session_id, run_id) = ids;
    let now = ctx.clock.now();
    let (status, failure) = match end {
        End::Succeeded => ("succeeded", None),
        End::Failed(f) => ("failed", Some(f)),
    };
    let payload = failure
        .as_ref()
        .filter(|f| f.notify)
        .map(|f| failed_payload(schedule_id, &schedule_name, firing_id, f, session_id, run_id));
    let payload_written = payload.is_some();
    let reason_label = failure.as_ref().map(|f| f.reason.clone());
    let (reason, error) = match &failure {
        Some(f) => (Some(f.reason.clone()), Some(f.error.clone())),
        None => (None, None),
    };
    let settled = crate::db::writer::write(&ctx.db, move |db| async move {
        on_db!(&db, |p| async {
            let mut tx = p.begin().await?;
            let changed = sqlx::query(
                "UPDATE schedule_runs SET status = $2, reason = $3, error = $4, finished_at = $5, \
                 credit_microunits = $6, session_id = COALESCE(session_id, $7), run_id = COALESCE(run_id, $8) \
                 WHERE id = $1 AND status = 'running'",
            )
            .bind(firing_id)
            .bind(status)
            .bind(&reason)
            .bind(&error)
            .bind(now)
            .bind(credit_microunits)
            .bind(session_id)
            .bind(run_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 0 {
                return Ok(false);
            }
            if let Some(payload) = &payload {
                notify_in_tx!(tx, org_id, None::<Uuid>, notifications::SCHEDULE_FAILED, payload, now).await?;
            }
            tx.commit().await?;
            Ok(true)
        }
        .await)
    })
    .await?;
    if settled {
        crate::domain::metrics::schedule_firing_ended(status, reason_label.as_deref().unwrap_or("none"));
    }
    if settled && payload_written {
        // Other processes hear of it from the row's trigger (PostgreSQL).
        notifications::written(ctx, org_id);
    }
    Ok(settled)
}

/// The `schedule.failed` payload: why, and what it links to.
fn failed_payload(
    schedule_id: Uuid,
    name: &str,
    firing_id: Uuid,
    failure: &Failure,
    session_id: Option<Uuid>,
    run_id: Option<Uuid>,
) -> Value {
    let mut payload = json!({
        "scheduleId": schedule_id,
        "scheduleName": name,
        "scheduleRunId": firing_id,
        "reason": failure.reason,
        "error": failure.error,
        "sessionId": session_id,
        "runId": run_id,
    });
    if let Some(billing) = &failure.billing_reason {
        payload["billingReason"] = json!(billing);
    }
    if let Some(stop) = &failure.stop_reason {
        payload["stopReason"] = json!(stop);
    }
    payload
}

/// Starts the run of a claimed firing; a refusal ends the firing failed
/// (and notifies) at once.
pub(crate) async fn start(ctx: &Ctx, target: &Target, firing_id: Uuid, when: DateTime<Utc>) -> DomainResult<()> {
    match unattended::start(ctx, &target.org(), target.unattended(when)).await {
        Ok(started) => {
            exec_on_db!(&ctx.db, |p| sqlx::query(
                "UPDATE schedule_runs SET session_id = $2, run_id = $3 WHERE id = $1"
            )
            .bind(firing_id)
            .bind(started.session_id)
            .bind(started.run_id)
            .execute(p)
            .await)?;
            Ok(())
        }
        Err(refused) => refuse(ctx, target, firing_id, &refused).await,
    }
}

/// Ends a firing whose run could not start: failed, with its notification.
pub(crate) async fn refuse(ctx: &Ctx, target: &Target, firing_id: Uuid, refused: &Refused) -> DomainResult<()> {
    if let Refused::Failed(e) = refused {
        tracing::warn!(schedule = %target.id, error = %e.message, "a schedule's run could not start");
    }
    let end = End::Failed(Failure::refused(refused));
    settle(ctx, (&target.id, &target.name), firing_id, target.org_id, (None, None), 0, end).await?;
    Ok(())
}

/// One firing's row.
async fn find(ctx: &Ctx, org: &OrgSummary, firing_id: Uuid) -> DomainResult<ScheduleRunView> {
    let sql = format!("SELECT {FIRING_COLUMNS} FROM schedule_runs WHERE org_id = $1 AND id = $2");
    let row: Option<FiringRow> =
        on_db!(&ctx.db, |p| sqlx::query_as(&sql).bind(org.id).bind(firing_id).fetch_optional(p).await)?;
    row.map(FiringRow::view).ok_or_else(AppError::not_found)
}

/// The schedule's firings, newest first.
pub async fn history(
    ctx: &Ctx,
    org: &OrgSummary,
    schedule_id: Uuid,
    page: PageRequest,
) -> DomainResult<Page<ScheduleRunView>> {
    store::find(ctx, org, schedule_id).await?;
    let (before_at, before_id) = page.bounds();
    let sql = format!(
        "SELECT {FIRING_COLUMNS} FROM schedule_runs WHERE schedule_id = $1 \
         AND (created_at < $2 OR (created_at = $2 AND id < $3)) ORDER BY created_at DESC, id DESC LIMIT $4"
    );
    let rows: Vec<FiringRow> = on_db!(&ctx.db, |p| sqlx::query_as(&sql)
        .bind(schedule_id)
        .bind(before_at)
        .bind(before_id)
        .bind(page.fetch_limit())
        .fetch_all(p)
        .await)?;
    Ok(page.finish(rows, |r| Cursor { created_at: r.created_at, id: r.id }, FiringRow::view))
}

/// The schedule's target, for a firing.
pub(crate) async fn target(ctx: &Ctx, schedule_id: Uuid) -> DomainResult<Option<Target>> {
    let sql = format!(
        "SELECT {TARGET_COLUMNS} FROM schedules s JOIN orgs o ON o.id = s.org_id \
         WHERE s.id = $1 AND s.deleted_at IS NULL"
    );
    Ok(on_db!(&ctx.db, |p| sqlx::query_as(&sql).bind(schedule_id).fetch_optional(p).await)?)
}

/// "Run now": fires the schedule at once, enabled or not (to try it
/// before turning it on). A firing still going is a 409. Answers the
/// firing, failed already when its run could not start.
pub async fn run_now(ctx: &Ctx, actor: &Actor, org: &OrgSummary, schedule_id: Uuid) -> DomainResult<ScheduleRunView> {
    store::find(ctx, org, schedule_id).await?;
    let target = target(ctx, schedule_id).await?.ok_or_else(AppError::not_found)?;
    let firing_id = Uuid::new_v4();
    let now = ctx.clock.now();
    let org_id = org.id;
    let inserted = crate::db::writer::write(&ctx.db, move |db| async move {
        exec_on_db!(&db, |p| sqlx::query(
            "INSERT INTO schedule_runs (id, schedule_id, org_id, scheduled_for, started_at, status, fired_by, created_at) \
             VALUES ($1, $2, $3, $4, $4, 'running', 'manual', $4)"
        )
        .bind(firing_id)
        .bind(schedule_id)
        .bind(org_id)
        .bind(now)
        .execute(p)
        .await)
    })
    .await;
    match inserted {
        Err(e) if is_unique_violation(&e, "schedule_runs") => {
            return Err(AppError::new(
                ErrorCode::Conflict,
                "The schedule's previous run is still going: wait for it or cancel its session",
            ));
        }
        other => other?,
    };
    let event = AuditEvent {
        org_id: Some(org.id),
        action: "schedule.run",
        target: Some(schedule_id.to_string()),
        details: Some(json!({ "scheduleRunId": firing_id })),
    };
    audit::record(ctx, actor.into(), event).await?;
    start(ctx, &target, firing_id, now).await?;
    find(ctx, org, firing_id).await
}
