//! The schedule runner (SPEC §11): every tick, in every server process,
//! it settles the firings whose run ended (or ran too long), then fires
//! what is due.
//!
//! - The due scan reads `next_run_at <= now` through the partial index
//!   `schedules_due_idx`, so its cost follows the number of schedules due,
//!   not the number of schedules.
//! - A due time is claimed by one conditional update (`next_run_at` moves
//!   from that time to the next one only where it still holds that time),
//!   in the transaction that records the firing: it fires once, whatever
//!   the number of processes on one database.
//! - A firing whose previous one still runs is recorded `skipped`
//!   (`previous_running`); a unique index makes a second running firing
//!   impossible even if two processes raced past the check.
//! - After downtime the due times that passed are recorded as one
//!   `skipped` row with their count (`missed`); `run_once` fires the
//!   latest of them, `skip` fires only a time that is still on time.
//! - A run past `maxDurationSeconds` is asked to stop and its firing ends
//!   `stalled`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::cron;
use super::firings::{self, End, Failure, Target, TARGET_COLUMNS};
use crate::db::on_db;
use crate::domain::sessions;
use crate::domain::sessions::unattended::{record_unattended, Reads, Ready, Record, Refused};
use crate::domain::{Ctx, DomainResult};

/// A due time later than this when the runner gets to it was missed (the
/// server was down): `skip` records it instead of firing it late.
pub const ON_TIME: chrono::Duration = chrono::Duration::seconds(60);
/// Schedules claimed per scan; a tick scans again while it finds a full
/// batch. A minute's worth of 09:00 schedules in one or two transactions.
const BATCH: i64 = 500;
/// Missed times counted at most (a minutely schedule down for months).
const COUNT_MAX: i64 = 100_000;
/// A firing whose run never started (its process stopped in between)
/// ends `interrupted` after this long.
const START_TIMEOUT: chrono::Duration = chrono::Duration::minutes(2);

/// What one tick did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// Due schedules found.
    pub due: usize,
    /// Due times this process claimed.
    pub claimed: usize,
    /// Runs started.
    pub fired: usize,
    /// Firings recorded skipped (overlap, missed).
    pub skipped: usize,
    /// Firings that ended.
    pub settled: usize,
}

/// The shortest pause between passes, should a due time stay due (a
/// claim that keeps failing): the runner never spins.
const PAUSE_MIN: Duration = Duration::from_millis(50);

/// Runs `tick` for as long as the process lives: again at the earliest
/// next run of any schedule, and at least every `every` (which is also
/// how soon it sees a schedule edited to fire sooner, and a run that
/// ended). Waking at the due time rather than on a fixed beat keeps a
/// firing's lag to the pass's own work.
pub fn spawn(ctx: &Ctx, every: Duration) {
    let ctx = ctx.clone();
    tokio::spawn(async move {
        loop {
            if let Err(e) = tick(&ctx).await {
                tracing::warn!(error = %e.message, "a schedule runner pass failed");
            }
            let pause = match earliest_due(&ctx).await {
                Ok(Some(due)) => (due - ctx.clock.now()).to_std().unwrap_or_default().min(every),
                Ok(None) => every,
                Err(e) => {
                    tracing::warn!(error = %e.message, "reading the next due time failed");
                    every
                }
            };
            tokio::time::sleep(pause.max(PAUSE_MIN)).await;
        }
    });
}

/// The earliest next run of any schedule (the due index's first entry).
pub async fn earliest_due(ctx: &Ctx) -> DomainResult<Option<DateTime<Utc>>> {
    Ok(on_db!(&ctx.db, |p| sqlx::query_scalar(
        "SELECT next_run_at FROM schedules WHERE next_run_at IS NOT NULL ORDER BY next_run_at LIMIT 1"
    )
    .fetch_optional(p)
    .await)?)
}

/// One pass: settle what ended, then fire what is due.
pub async fn tick(ctx: &Ctx) -> DomainResult<Tick> {
    let mut report = Tick { settled: settle_ended(ctx).await?, ..Tick::default() };
    loop {
        let now = ctx.clock.now();
        let due = scan(ctx, now).await?;
        let full = due.len() as i64 == BATCH;
        report.due += due.len();
        fire_batch(ctx, due, now, &mut report).await?;
        if !full {
            return Ok(report);
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct DueRow {
    #[sqlx(flatten)]
    target: Target,
    cron: String,
    timezone: String,
    missed_runs: String,
    next_run_at: DateTime<Utc>,
}

async fn scan(ctx: &Ctx, now: DateTime<Utc>) -> DomainResult<Vec<DueRow>> {
    let sql = format!(
        "SELECT {TARGET_COLUMNS}, s.cron, s.timezone, s.missed_runs, s.next_run_at FROM schedules s \
         JOIN orgs o ON o.id = s.org_id \
         WHERE s.next_run_at IS NOT NULL AND s.next_run_at <= $1 ORDER BY s.next_run_at, s.id LIMIT $2"
    );
    Ok(on_db!(&ctx.db, |p| sqlx::query_as(&sql).bind(now).bind(BATCH).fetch_all(p).await)?)
}

/// What a claim decides for the due times that passed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    /// The due time to fire.
    pub fire: Option<DateTime<Utc>>,
    /// The first missed time and how many were missed.
    pub missed: Option<(DateTime<Utc>, i64)>,
    /// The next due time (after now).
    pub next: Option<DateTime<Utc>>,
}

/// Sorts the due times from `first` up to `now` into fired and missed.
pub(crate) fn decide(
    schedule: &cron::CronSchedule,
    first: DateTime<Utc>,
    now: DateTime<Utc>,
    missed_runs: &str,
) -> Decision {
    // Every due time in [first, now]: the latest, and how many.
    let (mut latest, mut count) = (first, 1_i64);
    while count < COUNT_MAX {
        match schedule.next_after(latest) {
            Some(t) if t <= now => {
                latest = t;
                count += 1;
            }
            _ => break,
        }
    }
    let on_time = now - latest <= ON_TIME;
    let fire = (on_time || missed_runs == "run_once").then_some(latest);
    let missed_count = if fire.is_some() { count - 1 } else { count };
    Decision { fire, missed: (missed_count > 0).then_some((first, missed_count)), next: schedule.next_after(now) }
}

/// What a claim will write for one due row, decided before the
/// transaction (reading the expression needs no database).
struct Planned {
    schedule_id: Uuid,
    org_id: Uuid,
    due: DateTime<Utc>,
    fire_id: Uuid,
    decision: Decision,
}

fn plan(row: &DueRow, now: DateTime<Utc>) -> Planned {
    let decision = match cron::parse(&row.cron, &row.timezone) {
        Ok(schedule) => decide(&schedule, row.next_run_at, now, &row.missed_runs),
        Err(e) => {
            // Stored expressions were checked; one that no longer reads
            // (a zone gone from the database) stops instead of looping.
            tracing::warn!(schedule = %row.target.id, error = %e.message, "a schedule's expression no longer reads");
            Decision { fire: None, missed: None, next: None }
        }
    };
    Planned {
        schedule_id: row.target.id,
        org_id: row.target.org_id,
        due: row.next_run_at,
        fire_id: Uuid::new_v4(),
        decision,
    }
}

fn missed_text(count: i64) -> String {
    if count >= COUNT_MAX {
        format!("At least {count} due times passed while the server was not running")
    } else if count == 1 {
        "The due time passed while the server was not running".to_string()
    } else {
        format!("{count} due times passed while the server was not running")
    }
}

/// What the claim transaction did with one plan.
#[derive(Default)]
struct Written {
    claimed: bool,
    missed: bool,
    overlapped: bool,
    /// A firing was recorded `running` (with its run, when it was ready).
    fired: bool,
}

/// Fires a scan's due rows. What their runs need is read first, once per
/// distinct agent, project and org (`unattended::Reads`); then one
/// transaction claims the due times and records, for each that fires,
/// the firing with its session, run and first message (one commit for
/// a minute's worth of due times); then the runs start. A row another
/// process claimed first is left out (what was read for it is dropped).
/// The rows come in the scan's order (due time, then id), the same in
/// every process, so concurrent batches lock schedules in one order and
/// never deadlock.
async fn fire_batch(ctx: &Ctx, rows: Vec<DueRow>, now: DateTime<Utc>, report: &mut Tick) -> DomainResult<()> {
    let plans: Vec<Planned> = rows.iter().map(|r| plan(r, now)).collect();
    let mut reads = Reads::new(ctx);
    let mut prepared: Vec<Option<Result<Ready, Refused>>> = Vec::with_capacity(rows.len());
    for (row, plan) in rows.iter().zip(&plans) {
        prepared.push(match plan.decision.fire {
            Some(when) => Some(reads.prepare(&row.target.org(), row.target.unattended(when)).await),
            None => None,
        });
    }
    let fires: Vec<(Uuid, Option<DateTime<Utc>>)> = plans.iter().map(|p| (p.fire_id, p.decision.fire)).collect();
    let records: Vec<Option<Record>> =
        prepared.iter().map(|p| p.as_ref().and_then(|r| r.as_ref().ok()).map(|r| r.record(ctx))).collect();
    let written: Vec<Written> = crate::db::writer::write(&ctx.db, move |db| async move {
        on_db!(&db, |p| async {
            let mut tx = p.begin().await?;
            // Each due time claimed by its own conditional update (cheap:
            // one row by its key); the rest in one statement per table.
            let mut out: Vec<Written> = Vec::with_capacity(plans.len());
            for plan in &plans {
                let claimed = sqlx::query(
                    "UPDATE schedules SET next_run_at = $3 WHERE id = $1 AND next_run_at = $2 AND deleted_at IS NULL",
                )
                .bind(plan.schedule_id)
                .bind(plan.due)
                .bind(plan.decision.next)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                out.push(Written {
                    claimed: claimed > 0,
                    missed: claimed > 0 && plan.decision.missed.is_some(),
                    ..Written::default()
                });
            }
            // Which of the claimed ones that fire still have a firing going.
            let firing: Vec<Uuid> = plans
                .iter()
                .zip(&out)
                .filter(|(p, w)| w.claimed && p.decision.fire.is_some())
                .map(|(p, _)| p.schedule_id)
                .collect();
            let mut running: std::collections::HashSet<Uuid> = std::collections::HashSet::new();
            if !firing.is_empty() {
                let mut q = sqlx::QueryBuilder::new(
                    "SELECT schedule_id FROM schedule_runs WHERE status = 'running' AND schedule_id IN (",
                );
                let mut list = q.separated(", ");
                for id in &firing {
                    list.push_bind(*id);
                }
                q.push(")");
                let ids: Vec<(Uuid,)> = q.build_query_as().fetch_all(&mut *tx).await?;
                running.extend(ids.into_iter().map(|(id,)| id));
            }
            for (plan, written) in plans.iter().zip(out.iter_mut()) {
                if written.claimed && plan.decision.fire.is_some() {
                    written.overlapped = running.contains(&plan.schedule_id);
                    written.fired = !written.overlapped;
                }
            }
            let missed: Vec<(&Planned, (DateTime<Utc>, i64))> = plans
                .iter()
                .zip(&out)
                .filter(|(_, w)| w.missed)
                .filter_map(|(p, _)| p.decision.missed.map(|m| (p, m)))
                .collect();
            if !missed.is_empty() {
                sqlx::QueryBuilder::new(
                    "INSERT INTO schedule_runs (id, schedule_id, org_id, scheduled_for, finished_at, status, reason, \
                     error, missed_count, created_at) ",
                )
                .push_values(&missed, |mut row, (plan, (first, count))| {
                    row.push_bind(Uuid::new_v4())
                        .push_bind(plan.schedule_id)
                        .push_bind(plan.org_id)
                        .push_bind(*first)
                        .push_bind(now)
                        .push("'skipped'")
                        .push("'missed'")
                        .push_bind(missed_text(*count))
                        .push_bind(*count)
                        .push_bind(now);
                })
                .build()
                .execute(&mut *tx)
                .await?;
            }
            // The runs' rows first: the firings name them.
            let started: Vec<&Record> =
                records.iter().zip(&out).filter(|(_, w)| w.fired).filter_map(|(r, _)| r.as_ref()).collect();
            record_unattended!(tx, &started, now).await?;
            let firings: Vec<(&Planned, &Option<Record>, bool)> = plans
                .iter()
                .zip(&records)
                .zip(&out)
                .filter(|(_, w)| w.fired || w.overlapped)
                .map(|((p, r), w)| (p, r, w.overlapped))
                .collect();
            if !firings.is_empty() {
                sqlx::QueryBuilder::new(
                    "INSERT INTO schedule_runs (id, schedule_id, org_id, scheduled_for, started_at, finished_at, \
                     status, reason, error, session_id, run_id, created_at) ",
                )
                .push_values(&firings, |mut row, (plan, record, overlapped)| {
                    let record = record.as_ref().filter(|_| !*overlapped);
                    let (status, reason, error) = match overlapped {
                        true => ("skipped", Some("previous_running"), Some("The previous run was still going")),
                        false => ("running", None, None),
                    };
                    row.push_bind(plan.fire_id)
                        .push_bind(plan.schedule_id)
                        .push_bind(plan.org_id)
                        .push_bind(plan.decision.fire)
                        .push_bind(now)
                        .push_bind(overlapped.then_some(now))
                        .push_bind(status)
                        .push_bind(reason)
                        .push_bind(error)
                        .push_bind(record.map(|r| r.session_id))
                        .push_bind(record.map(|r| r.run_id))
                        .push_bind(now);
                })
                .build()
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(out)
        }
        .await)
    })
    .await?;
    for (((row, (fire_id, when)), prepared), written) in rows.iter().zip(fires).zip(prepared).zip(written) {
        if !written.claimed {
            continue;
        }
        report.claimed += 1;
        if written.missed {
            report.skipped += 1;
            crate::domain::metrics::schedule_firing_ended("skipped", "missed");
        }
        if written.overlapped {
            report.skipped += 1;
            crate::domain::metrics::schedule_firing_ended("skipped", "previous_running");
        }
        let (Some(when), Some(prepared), true) = (when, prepared, written.fired) else { continue };
        report.fired += 1;
        crate::domain::metrics::schedule_fired((now - when).num_microseconds().unwrap_or(0) as f64 / 1e6);
        match prepared {
            Ok(ready) => {
                ready.go(ctx).await;
            }
            Err(refused) => {
                if let Err(e) = firings::refuse(ctx, &row.target, fire_id, &refused).await {
                    tracing::warn!(schedule = %row.target.id, error = %e.message, "recording a refused firing failed");
                }
            }
        }
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct RunningRow {
    id: Uuid,
    schedule_id: Uuid,
    org_id: Uuid,
    started_at: Option<DateTime<Utc>>,
    session_id: Option<Uuid>,
    run_id: Option<Uuid>,
    name: String,
    max_duration_seconds: i64,
    run_status: Option<String>,
    stop_reason: Option<String>,
    run_error: Option<String>,
    credit_microunits: Option<i64>,
}

/// Ends the firings whose run ended, ran too long, or never started.
async fn settle_ended(ctx: &Ctx) -> DomainResult<usize> {
    let rows: Vec<RunningRow> = on_db!(&ctx.db, |p| {
        sqlx::query_as(
        "SELECT f.id, f.schedule_id, f.org_id, f.started_at, f.session_id, f.run_id, s.name, s.max_duration_seconds, \
         r.status AS run_status, r.stop_reason, r.error AS run_error, r.credit_microunits \
         FROM schedule_runs f JOIN schedules s ON s.id = f.schedule_id LEFT JOIN runs r ON r.id = f.run_id \
         WHERE f.status = 'running'"
    )
    .fetch_all(p)
    .await
    })?;
    let now = ctx.clock.now();
    let mut settled = 0;
    for row in rows {
        let started = row.started_at.unwrap_or(now);
        let end = match (row.run_id, row.run_status.as_deref()) {
            (Some(_), Some("completed")) => End::Succeeded,
            (Some(run_id), Some("running")) => {
                if now - started <= chrono::Duration::seconds(row.max_duration_seconds) {
                    continue;
                }
                sessions::request_stop(ctx, run_id).await?;
                End::Failed(Failure::new(
                    "stalled",
                    format!("The run went past its {} s limit and was stopped", row.max_duration_seconds),
                ))
            }
            (Some(_), Some("cancelled")) => {
                End::Failed(Failure { notify: false, ..Failure::new("cancelled", "The run was stopped by a person") })
            }
            (Some(_), Some(_)) => {
                let stop = row.stop_reason.clone().unwrap_or_else(|| "error".into());
                let error = row.run_error.clone().unwrap_or_else(|| format!("The run ended: {stop}"));
                End::Failed(Failure { stop_reason: Some(stop), ..Failure::new("run_failed", error) })
            }
            // Starting (another task or process is on it), unless for long.
            (None, _) if now - started <= START_TIMEOUT => continue,
            (None, _) | (Some(_), None) => {
                End::Failed(Failure::new("interrupted", "The server stopped before the run started"))
            }
        };
        let ids = (row.session_id, row.run_id);
        let credits = row.credit_microunits.unwrap_or(0);
        if firings::settle(ctx, (&row.schedule_id, &row.name), row.id, row.org_id, ids, credits, end).await? {
            settled += 1;
        }
    }
    Ok(settled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn an_on_time_due_time_fires_whatever_the_policy() {
        let hourly = cron::parse("0 * * * *", "UTC").unwrap();
        for policy in ["skip", "run_once"] {
            let d = decide(&hourly, at("2027-01-01T10:00:00Z"), at("2027-01-01T10:00:02Z"), policy);
            assert_eq!(d.fire, Some(at("2027-01-01T10:00:00Z")));
            assert_eq!(d.missed, None);
            assert_eq!(d.next, Some(at("2027-01-01T11:00:00Z")));
        }
    }

    #[test]
    fn after_downtime_skip_records_all_and_run_once_fires_the_latest() {
        let hourly = cron::parse("0 * * * *", "UTC").unwrap();
        let (first, now) = (at("2027-01-01T10:00:00Z"), at("2027-01-01T13:30:00Z"));
        let skip = decide(&hourly, first, now, "skip");
        assert_eq!(skip.fire, None);
        assert_eq!(skip.missed, Some((first, 4)));
        let once = decide(&hourly, first, now, "run_once");
        assert_eq!(once.fire, Some(at("2027-01-01T13:00:00Z")));
        assert_eq!(once.missed, Some((first, 3)));
        assert_eq!(once.next, Some(at("2027-01-01T14:00:00Z")));
    }

    #[test]
    fn a_late_tick_with_the_latest_time_on_time_fires_it_and_counts_the_rest() {
        let minutely = cron::parse("* * * * *", "UTC").unwrap();
        let d = decide(&minutely, at("2027-01-01T10:00:00Z"), at("2027-01-01T10:02:10Z"), "skip");
        assert_eq!(d.fire, Some(at("2027-01-01T10:02:00Z")));
        assert_eq!(d.missed, Some((at("2027-01-01T10:00:00Z"), 2)));
    }
}
