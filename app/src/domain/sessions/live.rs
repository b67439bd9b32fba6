//! Live runs and their events (SPEC §10).
//!
//! A run's events are numbered per session (`seq`) as they happen and kept
//! in memory until the write after the one that stored them (and until
//! they are shown), where listeners in
//! this process read them — every text delta as the model sends it (one
//! that falls behind reads the rows). They reach the database in batches:
//! every 200 ms a writer takes what is new and stores it in one
//! transaction (on SQLite through `db::writer`), with consecutive text
//! deltas coalesced into one row (its `first_seq`, last `seq`, and each
//! part's length), so a long answer costs a handful of rows and writes,
//! not one per token. A replay reads
//! the rows; one that resumes inside a coalesced row skips exactly the
//! parts it saw. Listeners in another process (or after this run ended)
//! read the rows, woken by the `run_events` signal each batch sends
//! (`events`: LISTEN/NOTIFY on PostgreSQL), while the run's row says
//! `running`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::types::Json;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::db::on_db;
use crate::domain::events::Topic;
use crate::domain::{Ctx, DomainResult};

/// How often new events are written, and a follower in another process
/// looks for them.
pub const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// How often a run's owner says it is alive; a run whose heartbeat is
/// older than [`STALE_AFTER`] belongs to a process that stopped.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
pub const STALE_AFTER: Duration = Duration::from_secs(20);
/// How often the owner reads the run row for a cancel asked through
/// another process, in case its signal was missed.
const CANCEL_CHECK_EVERY: Duration = Duration::from_millis(400);
/// How often a follower in another process reads the rows without a
/// signal.
const FOLLOW_FALLBACK: Duration = Duration::from_secs(1);

pub const DELTA: &str = "message.delta";
pub const FINISHED: &str = "run.finished";

/// One event of a run, as streamed and stored.
#[derive(Clone, Debug, PartialEq)]
pub struct RunEvent {
    pub seq: i64,
    pub run_id: Uuid,
    pub kind: String,
    /// The event's own fields (`{"text": …}`), without `seq` and `runId`.
    pub data: Value,
}

impl RunEvent {
    /// The SSE `data:` text, `{"seq":…,"runId":"…",…fields}`, written
    /// straight rather than through a merged `Value` (this runs for every
    /// delta to every listener).
    pub fn payload_json(&self) -> String {
        let fields = self.data.to_string();
        let mut out = String::with_capacity(fields.len() + 64);
        out.push_str("{\"seq\":");
        out.push_str(&self.seq.to_string());
        out.push_str(",\"runId\":\"");
        out.push_str(&self.run_id.to_string());
        out.push('"');
        match fields.strip_prefix('{') {
            Some(rest) if rest != "}" && self.data.is_object() => {
                out.push(',');
                out.push_str(rest);
            }
            _ => out.push('}'),
        }
        out
    }

    /// The SSE `data:` object: `{"seq", "runId", …fields}` (what
    /// `payload_json` writes, as a value, for its test).
    #[cfg(test)]
    fn payload(&self) -> Value {
        let mut out = json!({ "seq": self.seq, "runId": self.run_id });
        if let (Some(out), Some(fields)) = (out.as_object_mut(), self.data.as_object()) {
            for (k, v) in fields {
                out.insert(k.clone(), v.clone());
            }
        }
        out
    }
}

struct LiveState {
    /// The run's events not yet both stored and shown: what is stored
    /// and visible is dropped after each write, so a long answer does not
    /// stay in memory (a listener that falls behind reads the rows).
    /// Shared with listeners: handing them out costs a count, not a copy.
    log: Vec<Arc<RunEvent>>,
    /// `log[..visible]` is what listeners may read: a run's closing
    /// events are held back until its end is recorded (`emit_held`).
    visible: usize,
    /// `log[saved..]` is not in the database yet.
    saved: usize,
    /// Events before this seq were stored by a write before the last one:
    /// what may leave memory at the next write.
    stored_before: i64,
    next_seq: i64,
    finished: bool,
}

/// A run going on in this process.
pub struct LiveRun {
    pub run_id: Uuid,
    pub session_id: Uuid,
    /// The seq of its first event: earlier ones are earlier runs'.
    pub first_seq: i64,
    pub cancel: CancellationToken,
    state: Mutex<LiveState>,
    /// Bumped on every event and when the run ends.
    changed: watch::Sender<u64>,
    /// Held while a batch is written: a flush waits for the one in flight,
    /// so once `flush` returns, everything emitted before it is stored.
    writing: tokio::sync::Mutex<()>,
}

impl LiveRun {
    fn new(run_id: Uuid, session_id: Uuid, first_seq: i64) -> LiveRun {
        LiveRun {
            run_id,
            session_id,
            first_seq,
            cancel: CancellationToken::new(),
            state: Mutex::new(LiveState {
                log: Vec::new(),
                visible: 0,
                saved: 0,
                stored_before: first_seq,
                next_seq: first_seq,
                finished: false,
            }),
            changed: watch::Sender::new(0),
            writing: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LiveState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an event and wakes the listeners.
    pub fn emit(&self, kind: &str, data: Value) {
        self.push(kind, data, true);
        self.changed.send_modify(|n| *n += 1);
    }

    /// Records an event listeners do not see until [`LiveRun::finish`]:
    /// the closing `session.status` and `run.finished`, which must not
    /// reach a client before the session is free in the database (a
    /// client that posts again on `run.finished` would get 409 "busy").
    /// They are stored with the others.
    pub fn emit_held(&self, kind: &str, data: Value) {
        self.push(kind, data, false);
    }

    fn push(&self, kind: &str, data: Value, visible: bool) {
        let mut state = self.lock();
        let event = RunEvent { seq: state.next_seq, run_id: self.run_id, kind: kind.to_string(), data };
        state.next_seq += 1;
        state.log.push(Arc::new(event));
        if visible {
            state.visible = state.log.len();
        }
    }

    /// After its end is recorded: listeners get the held events, and stop
    /// once they have read it all.
    pub fn finish(&self) {
        {
            let mut state = self.lock();
            state.finished = true;
            state.visible = state.log.len();
        }
        self.changed.send_modify(|n| *n += 1);
    }

    pub fn is_finished(&self) -> bool {
        self.lock().finished
    }

    /// The events after `seq` listeners may read, whether the run has
    /// ended, and the seq memory starts at: events before it (and after
    /// `seq`) are stored, to be read there. The log is in seq order, so
    /// this finds its place by bisection.
    pub fn events_after(&self, seq: i64) -> (Vec<Arc<RunEvent>>, bool, i64) {
        let state = self.lock();
        let kept_from = state.log.first().map_or(state.next_seq, |e| e.seq);
        let shown = &state.log[..state.visible];
        let from = shown.partition_point(|e| e.seq <= seq);
        (shown[from..].to_vec(), state.finished, kept_from)
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Waits until the run has ended.
    pub async fn wait_finished(&self) {
        let mut rx = self.subscribe();
        while !self.is_finished() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    fn take_unsaved(&self) -> Vec<Arc<RunEvent>> {
        let mut state = self.lock();
        let out = state.log[state.saved..].to_vec();
        state.saved = state.log.len();
        out
    }

    /// After a write: drops what is both stored and shown by the write
    /// before it. The last write's events stay one more period, so a
    /// listener a little behind (a paced stream waiting out its frame gap,
    /// or one reading after the run's end) finds them here rather than in
    /// the rows.
    fn forget_stored(&self) {
        let mut state = self.lock();
        let boundary = state.stored_before;
        let gone = state.log[..state.saved.min(state.visible)].partition_point(|e| e.seq < boundary);
        state.log.drain(..gone);
        state.saved -= gone;
        state.visible -= gone;
        state.stored_before = state.log.get(state.saved).map_or(state.next_seq, |e| e.seq);
    }

    /// Puts back events whose write failed, to be tried again.
    fn unsave(&self, count: usize) {
        let mut state = self.lock();
        state.saved = state.saved.saturating_sub(count);
    }
}

/// The runs of this process, by session (a session runs one at a time).
pub struct Hub {
    /// This process, as the `owner` of its runs.
    pub instance: String,
    runs: Mutex<HashMap<Uuid, Arc<LiveRun>>>,
}

impl Default for Hub {
    fn default() -> Hub {
        Hub { instance: Uuid::new_v4().simple().to_string(), runs: Mutex::default() }
    }
}

impl Hub {
    fn runs(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Arc<LiveRun>>> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, session_id: Uuid) -> Option<Arc<LiveRun>> {
        self.runs().get(&session_id).cloned()
    }

    pub fn by_run(&self, run_id: Uuid) -> Option<Arc<LiveRun>> {
        self.runs().values().find(|r| r.run_id == run_id).cloned()
    }

    pub(super) fn insert(&self, run_id: Uuid, session_id: Uuid, first_seq: i64) -> Arc<LiveRun> {
        let live = Arc::new(LiveRun::new(run_id, session_id, first_seq));
        self.runs().insert(session_id, live.clone());
        live
    }

    pub(super) fn remove(&self, live: &LiveRun) {
        let mut runs = self.runs();
        if runs.get(&live.session_id).is_some_and(|r| r.run_id == live.run_id) {
            runs.remove(&live.session_id);
        }
    }

    /// How many runs this process has going (for shutdown and metrics).
    pub fn running(&self) -> usize {
        self.runs().len()
    }

    /// Cancels every run of this process (shutdown).
    pub fn cancel_all(&self) {
        for run in self.runs().values() {
            run.cancel.cancel();
        }
    }
}

/// A stored row: one event, or coalesced deltas.
#[derive(sqlx::FromRow)]
struct EventRow {
    seq: i64,
    first_seq: i64,
    run_id: Uuid,
    kind: String,
    data: Json<Value>,
    parts: Option<Json<Vec<usize>>>,
}

impl EventRow {
    /// The event as a listener that has seen up to `after` should get it:
    /// a coalesced row resumed inside loses the parts already seen.
    fn resume(self, after: i64) -> Option<RunEvent> {
        let mut data = self.data.0;
        if let (Some(parts), true) = (&self.parts, self.first_seq <= after) {
            let seen = usize::try_from(after - self.first_seq + 1).ok()?;
            let skip: usize = parts.0.iter().take(seen).sum();
            let text = data.get("text").and_then(Value::as_str).unwrap_or_default();
            let rest: String = text.chars().skip(skip).collect();
            if rest.is_empty() {
                return None;
            }
            data = json!({ "text": rest });
        }
        Some(RunEvent { seq: self.seq, run_id: self.run_id, kind: self.kind, data })
    }
}

/// Rows to write for `events`: consecutive deltas become one.
fn coalesce(events: Vec<Arc<RunEvent>>) -> Vec<(RunEvent, i64, Option<Vec<usize>>)> {
    let mut rows: Vec<(RunEvent, i64, Option<Vec<usize>>)> = Vec::new();
    for event in events {
        let event = Arc::unwrap_or_clone(event);
        if event.kind == DELTA {
            if let Some((last, _, Some(parts))) = rows.last_mut() {
                if last.kind == DELTA && last.seq + 1 == event.seq {
                    let piece = event.data.get("text").and_then(Value::as_str).unwrap_or_default();
                    parts.push(piece.chars().count());
                    // Appended in place: a batch of a fast answer holds
                    // thousands of pieces.
                    match last.data.get_mut("text") {
                        Some(Value::String(text)) => text.push_str(piece),
                        _ => last.data = json!({ "text": piece }),
                    }
                    last.seq = event.seq;
                    continue;
                }
            }
            let len = event.data.get("text").and_then(Value::as_str).unwrap_or_default().chars().count();
            let first = event.seq;
            rows.push((event, first, Some(vec![len])));
        } else {
            let first = event.seq;
            rows.push((event, first, None));
        }
    }
    rows
}

/// A batch as a listener is sent it: consecutive text deltas of a run as
/// one, with the last one's seq — what a replay of the stored rows sends
/// too, so a client resuming after that seq misses nothing. A model
/// streaming faster than the listener reads then costs it one event per
/// batch, not one per token.
pub fn merge_deltas(events: Vec<Arc<RunEvent>>) -> Vec<Arc<RunEvent>> {
    fn mergeable(a: &RunEvent, b: &RunEvent) -> bool {
        a.kind == DELTA && b.kind == DELTA && a.run_id == b.run_id
    }
    fn close(deltas: &mut Vec<Arc<RunEvent>>, out: &mut Vec<Arc<RunEvent>>) {
        match deltas.len() {
            0 => {}
            1 => out.append(deltas),
            _ => {
                let text: String = deltas.iter().filter_map(|e| e.data.get("text").and_then(Value::as_str)).collect();
                let last = &deltas[deltas.len() - 1];
                let merged =
                    RunEvent { seq: last.seq, run_id: last.run_id, kind: DELTA.into(), data: json!({ "text": text }) };
                out.push(Arc::new(merged));
                deltas.clear();
            }
        }
    }
    if !events.windows(2).any(|pair| mergeable(&pair[0], &pair[1])) {
        return events;
    }
    let mut out = Vec::with_capacity(events.len());
    let mut deltas: Vec<Arc<RunEvent>> = Vec::new();
    for event in events {
        if deltas.last().is_some_and(|last| !mergeable(last, &event)) {
            close(&mut deltas, &mut out);
        }
        if event.kind == DELTA {
            deltas.push(event);
        } else {
            out.push(event);
        }
    }
    close(&mut deltas, &mut out);
    out
}

/// How a run ended, recorded with its last events.
#[derive(Clone)]
pub(super) struct RunEnd {
    pub run_id: Uuid,
    pub status: &'static str,
    pub stop_reason: &'static str,
    pub error: Option<String>,
    pub session_status: &'static str,
    pub totals: super::agent_loop::Totals,
}

/// Writes what `live` has not written yet, in one transaction.
pub(super) async fn flush(ctx: &Ctx, live: &LiveRun) -> DomainResult<()> {
    flush_with(ctx, live, None).await
}

/// [`flush`], and with `end` the run's end and its session's status after
/// it in the same transaction: a follower in another process that sees
/// the run ended finds all its events stored.
pub(super) async fn flush_with(ctx: &Ctx, live: &LiveRun, end: Option<RunEnd>) -> DomainResult<()> {
    let _writing = live.writing.lock().await;
    let events = live.take_unsaved();
    if events.is_empty() && end.is_none() {
        return Ok(());
    }
    let count = events.len();
    let rows = coalesce(events);
    let now = ctx.clock.now();
    let session_id = live.session_id;
    let written = match &ctx.db {
        crate::db::Db::Sqlite(pool) => super::sqlite_writes::flush(pool, session_id, rows, end, now).await,
        crate::db::Db::Postgres(pool) => postgres_flush(pool, session_id, rows, end, now).await,
    };
    if let Err(e) = written {
        live.unsave(count);
        return Err(e.into());
    }
    live.forget_stored();
    // Followers in other processes read the rows when told.
    if count > 0 {
        ctx.events.publish(&ctx.db, Topic::RunEvents, live.session_id).await;
    }
    Ok(())
}

/// [`flush_with`]'s transaction on PostgreSQL, statement by statement.
async fn postgres_flush(
    pool: &sqlx::PgPool,
    session_id: Uuid,
    rows: Vec<(RunEvent, i64, Option<Vec<usize>>)>,
    end: Option<RunEnd>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    for (event, first_seq, parts) in &rows {
        sqlx::query(
            "INSERT INTO run_events (session_id, seq, first_seq, run_id, kind, data, parts, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(session_id)
        .bind(event.seq)
        .bind(first_seq)
        .bind(event.run_id)
        .bind(&event.kind)
        .bind(Json(&event.data))
        .bind(parts.as_ref().map(Json))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    if let Some(end) = &end {
        let t = end.totals;
        sqlx::query(
            "UPDATE runs SET status = $2, stop_reason = $3, error = $4, finished_at = $5, steps = $6, \
             input_tokens = $7, output_tokens = $8, credit_microunits = $9, omitted_messages = $10, \
             omitted_tokens = $11 WHERE id = $1",
        )
        .bind(end.run_id)
        .bind(end.status)
        .bind(end.stop_reason)
        .bind(&end.error)
        .bind(now)
        .bind(t.steps)
        .bind(t.input_tokens)
        .bind(t.output_tokens)
        .bind(t.credit_microunits)
        .bind(t.omitted_messages)
        .bind(t.omitted_tokens)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE chat_sessions SET status = $3, updated_at = $4 WHERE id = $1 AND last_run_id = $2")
            .bind(session_id)
            .bind(end.run_id)
            .bind(end.session_status)
            .bind(now)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

/// While `live` runs: writes its events every [`FLUSH_EVERY`], keeps its
/// heartbeat, and turns a cancel asked through another process (the run
/// row's `cancel_requested_at`) into the run's cancellation.
pub(super) async fn keep(ctx: Ctx, live: Arc<LiveRun>) {
    // The first write after FLUSH_EVERY, not at once: a short run's events
    // all go with its end, in one write.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + FLUSH_EVERY, FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_beat = tokio::time::Instant::now();
    let mut last_cancel_check = tokio::time::Instant::now();
    let mut cancel_asked = ctx.events.subscribe(Topic::RunCancel, live.run_id);
    // On SQLite this is the only process: a cancel always arrives as the
    // in-process signal, and no other process judges the run by its
    // heartbeat, so neither is read nor written each tick.
    let shared = !matches!(ctx.db, crate::db::Db::Sqlite(_));
    while !live.is_finished() {
        // A cancel sent to another process arrives as a signal at once;
        // the run row is still read now and then in case one was missed.
        tokio::select! {
            _ = tick.tick() => {}
            () = cancel_asked.changed() => {
                live.cancel.cancel();
                continue;
            }
        }
        if let Err(e) = flush(&ctx, &live).await {
            tracing::warn!(run = %live.run_id, error = %e, "writing a run's events failed; trying again");
        }
        if shared && last_cancel_check.elapsed() >= CANCEL_CHECK_EVERY && !live.cancel.is_cancelled() {
            last_cancel_check = tokio::time::Instant::now();
            let asked: Result<Option<Option<DateTime<Utc>>>, sqlx::Error> =
                on_db!(&ctx.db, |p| sqlx::query_scalar("SELECT cancel_requested_at FROM runs WHERE id = $1")
                    .bind(live.run_id)
                    .fetch_optional(p)
                    .await);
            if matches!(asked, Ok(Some(Some(_)))) {
                live.cancel.cancel();
            }
        }
        if shared && last_beat.elapsed() >= HEARTBEAT_EVERY {
            last_beat = tokio::time::Instant::now();
            let _ = crate::db::exec_on_db!(&ctx.db, |p| sqlx::query(
                "UPDATE runs SET heartbeat_at = $2 WHERE id = $1 AND status = 'running'"
            )
            .bind(live.run_id)
            .bind(ctx.clock.now())
            .execute(p)
            .await);
        }
    }
}

/// Stored events of `session_id` after `after`, before `before` (when
/// given), in order.
async fn stored(ctx: &Ctx, session_id: Uuid, after: i64, before: Option<i64>) -> DomainResult<Vec<Arc<RunEvent>>> {
    let rows: Vec<EventRow> = on_db!(&ctx.db, |p| sqlx::query_as(
        "SELECT seq, first_seq, run_id, kind, data, parts FROM run_events \
         WHERE session_id = $1 AND seq > $2 AND first_seq < $3 ORDER BY seq"
    )
    .bind(session_id)
    .bind(after)
    .bind(before.unwrap_or(i64::MAX))
    .fetch_all(p)
    .await)?;
    Ok(rows.into_iter().filter_map(|r| r.resume(after)).map(Arc::new).collect())
}

/// Whether the session's last run is still going in some process.
async fn running_elsewhere(ctx: &Ctx, session_id: Uuid) -> DomainResult<bool> {
    let status: Option<String> = on_db!(&ctx.db, |p| sqlx::query_scalar(
        "SELECT r.status FROM chat_sessions s JOIN runs r ON r.id = s.last_run_id WHERE s.id = $1"
    )
    .bind(session_id)
    .fetch_optional(p)
    .await)?;
    Ok(status.as_deref() == Some("running"))
}

/// The session's events after `after`: stored ones, then the live run's as
/// they happen, until it ends (nothing running: just the stored ones).
/// `until_run` stops after that run's `run.finished` (a POST's stream).
///
/// Read by the stream's own consumer (the SSE answer, in its connection's
/// task): no task of its own between the run and the socket, so an event
/// costs one wake on its way out, and whatever the run emitted while the
/// consumer was busy comes as one batch.
pub fn follow(ctx: &Ctx, session_id: Uuid, after: i64, until_run: Option<Uuid>) -> Follower {
    Follower {
        ctx: ctx.clone(),
        session_id,
        cursor: after,
        until_run,
        // Subscribed before the first read, so no signal falls between
        // the read and the wait.
        stored_more: ctx.events.subscribe(Topic::RunEvents, session_id),
        live: None,
        done: false,
    }
}

/// A listener's place in a session's events (see [`follow`]).
pub struct Follower {
    ctx: Ctx,
    session_id: Uuid,
    /// The last seq handed out.
    cursor: i64,
    until_run: Option<Uuid>,
    stored_more: crate::domain::events::Subscription,
    /// The run going on in this process being followed, once found.
    live: Option<(Arc<LiveRun>, watch::Receiver<u64>)>,
    done: bool,
}

impl Follower {
    /// The next events, at least one, in order; `None` once there are no
    /// more (the run ended, the awaited run finished). Cancel-safe: its
    /// place moves only when events are handed out.
    pub async fn next_batch(&mut self) -> DomainResult<Option<Vec<Arc<RunEvent>>>> {
        loop {
            if self.done {
                return Ok(None);
            }
            let found = self.live.as_ref().map(|(live, _)| live.events_after(self.cursor));
            if let Some((events, finished, kept_from)) = found {
                if self.cursor + 1 < kept_from {
                    // Fallen behind what memory keeps: the rows have it
                    // (a write stores whole batches, so no row straddles
                    // `kept_from`).
                    let behind = stored(&self.ctx, self.session_id, self.cursor, Some(kept_from)).await?;
                    let batch = self.hand_out(behind);
                    self.cursor = self.cursor.max(kept_from - 1);
                    if batch.is_some() {
                        return Ok(batch);
                    }
                    continue;
                }
                if let Some(batch) = self.hand_out(events) {
                    return Ok(Some(batch));
                }
                if finished {
                    self.done = true;
                } else if let Some((_, changed)) = &mut self.live {
                    if changed.changed().await.is_err() {
                        self.done = true;
                    }
                }
                continue;
            }
            if let Some(live) = self.ctx.hub.get(self.session_id) {
                // What came before this run is stored (a POST's own stream
                // starts at the run's first event: nothing to read).
                let before = if self.cursor + 1 < live.first_seq {
                    stored(&self.ctx, self.session_id, self.cursor, Some(live.first_seq)).await?
                } else {
                    Vec::new()
                };
                let changed = live.subscribe();
                self.live = Some((live, changed));
                if let Some(batch) = self.hand_out(before) {
                    return Ok(Some(batch));
                }
                continue;
            }
            let rows = stored(&self.ctx, self.session_id, self.cursor, None).await?;
            if let Some(batch) = self.hand_out(rows) {
                return Ok(Some(batch));
            }
            if !running_elsewhere(&self.ctx, self.session_id).await? {
                // One last look: the run may have ended between the two
                // reads.
                let rows = stored(&self.ctx, self.session_id, self.cursor, None).await?;
                self.done = true;
                return Ok(self.hand_out(rows));
            }
            // The owner's process signals each stored batch; without a
            // signal (a dropped LISTEN connection) the rows are read every
            // second.
            self.stored_more.wait(FOLLOW_FALLBACK).await;
        }
    }

    /// Whether everything has been handed out: the next batch is `None`.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// `events` as the next batch (none: `None`), up to the awaited run's
    /// end, moving the cursor past them.
    fn hand_out(&mut self, mut events: Vec<Arc<RunEvent>>) -> Option<Vec<Arc<RunEvent>>> {
        if let Some(until) = self.until_run {
            if let Some(end) = events.iter().position(|e| e.kind == FINISHED && e.run_id == until) {
                events.truncate(end + 1);
                self.done = true;
            }
        }
        self.cursor = events.last()?.seq;
        Some(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(seq: i64, text: &str) -> RunEvent {
        RunEvent { seq, run_id: Uuid::nil(), kind: DELTA.into(), data: json!({ "text": text }) }
    }

    #[test]
    fn the_payload_text_is_the_payload_object() {
        let with = delta(7, "a \"quoted\" word");
        let without = RunEvent { seq: 8, run_id: Uuid::new_v4(), kind: "x".into(), data: json!({}) };
        for event in [with, without] {
            let parsed: Value = serde_json::from_str(&event.payload_json()).unwrap();
            assert_eq!(parsed, event.payload());
        }
    }

    #[test]
    fn a_batch_sends_consecutive_deltas_as_one_with_the_last_seq() {
        let other = RunEvent { seq: 4, run_id: Uuid::nil(), kind: "tool_call.started".into(), data: json!({}) };
        let next_run = RunEvent { seq: 6, run_id: Uuid::new_v4(), kind: DELTA.into(), data: json!({ "text": "?" }) };
        let events =
            vec![delta(1, "Hel"), delta(2, "lo"), delta(3, "!"), other.clone(), delta(5, "x"), next_run.clone()];
        let merged = merge_deltas(events.into_iter().map(Arc::new).collect());
        let seen: Vec<(i64, &str, Value)> = merged.iter().map(|e| (e.seq, e.kind.as_str(), e.data.clone())).collect();
        assert_eq!(
            seen,
            vec![
                (3, DELTA, json!({ "text": "Hello!" })),
                (4, "tool_call.started", json!({})),
                (5, DELTA, json!({ "text": "x" })),
                (6, DELTA, json!({ "text": "?" })),
            ],
            "a run's deltas merge; another run's do not"
        );
        let alone = vec![Arc::new(delta(1, "a")), Arc::new(other)];
        assert_eq!(merge_deltas(alone.clone()), alone, "nothing to merge: the batch as it was");
    }

    #[test]
    fn consecutive_deltas_become_one_row_that_resumes_mid_way() {
        let other = RunEvent { seq: 4, run_id: Uuid::nil(), kind: "tool_call.started".into(), data: json!({}) };
        let events = vec![delta(1, "Hel"), delta(2, "lo, "), delta(3, "wörld"), other, delta(5, "!")];
        let rows = coalesce(events.into_iter().map(Arc::new).collect());
        assert_eq!(rows.len(), 3);
        let (merged, first, parts) = &rows[0];
        assert_eq!((merged.seq, *first), (3, 1));
        assert_eq!(merged.data["text"], "Hello, wörld");
        assert_eq!(parts.as_deref(), Some(&[3, 4, 5][..]));
        let row = |after| {
            EventRow {
                seq: 3,
                first_seq: 1,
                run_id: Uuid::nil(),
                kind: DELTA.into(),
                data: Json(merged.data.clone()),
                parts: Some(Json(vec![3, 4, 5])),
            }
            .resume(after)
        };
        assert_eq!(row(0).unwrap().data["text"], "Hello, wörld");
        assert_eq!(row(1).unwrap().data["text"], "lo, wörld");
        assert_eq!(row(2).unwrap().data["text"], "wörld");
        assert_eq!(row(3), None, "all of it seen");
    }
}
