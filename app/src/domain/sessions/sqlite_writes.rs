//! A run's start and end on SQLite, each one job of the writer's thread
//! (`db::writer::sqlite_transaction`): the same rows as the
//! statement-by-statement transactions PostgreSQL runs in `begin_run` and
//! `live::flush_with`, written as one batch whose later statements are
//! guarded by the earlier ones' effect instead of by Rust in between.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::SqlitePool;
use uuid::Uuid;

use super::live::{RunEnd, RunEvent};
use crate::db::writer::{Batch, Lane};

/// What a run's claim writes: see `begin_run`.
pub(super) struct Claim {
    pub session_id: Uuid,
    pub org_id: Uuid,
    pub agent_id: Uuid,
    pub run_id: Uuid,
    pub requested_model: String,
    pub resolved_model: String,
    pub instance: String,
    pub now: DateTime<Utc>,
    /// Peer messages the run delivers: all still undelivered, or no claim.
    pub delivers: Vec<Uuid>,
    /// (role, content, from agent), in order; the first carries `client_id`.
    pub entries: Vec<(&'static str, String, Option<Uuid>)>,
    pub client_id: Option<String>,
}

/// What a claim that took answers.
pub(super) struct Claimed {
    /// The highest event seq the session had before the run.
    pub last_seq: Option<i64>,
    /// The session's messages, this run's included, oldest first: what the
    /// run's first step sends, read in the claim's trip instead of one of
    /// its own before the first token.
    pub history: Vec<super::store::MessageRow>,
}

/// Claims the session and records the run and its messages. `Ok(None)`:
/// the session was busy (or a message to deliver was taken meanwhile), and
/// nothing was written.
pub(super) async fn claim(pool: &SqlitePool, c: Claim) -> Result<Option<Claimed>, sqlx::Error> {
    let rows = crate::db::writer::sqlite_transaction(pool, Lane::Ahead, move |q| {
        q.push("UPDATE chat_sessions SET status = 'running', last_run_id = ")
            .push_bind(c.run_id)
            .push(", updated_at = ")
            .push_bind(c.now)
            .push(" WHERE id = ")
            .push_bind(c.session_id)
            .push(" AND status NOT IN ('running', 'awaiting_peer')");
        if !c.delivers.is_empty() {
            q.push(" AND (SELECT COUNT(*) FROM peer_messages WHERE delivered_at IS NULL AND id IN (");
            let mut ids = q.separated(", ");
            for id in &c.delivers {
                ids.push_bind(*id);
            }
            q.push(")) = ").push_bind(c.delivers.len() as i64);
        }
        // Everything after holds only if the claim took: the run row exists.
        q.push(
            "; INSERT INTO runs (id, org_id, session_id, agent_id, status, requested_model, resolved_model, steps, \
             input_tokens, output_tokens, credit_microunits, owner, heartbeat_at, started_at) SELECT ",
        );
        q.push_bind(c.run_id)
            .push(", ")
            .push_bind(c.org_id)
            .push(", ")
            .push_bind(c.session_id)
            .push(", ")
            .push_bind(c.agent_id)
            .push(", 'running', ")
            .push_bind(c.requested_model.clone())
            .push(", ")
            .push_bind(c.resolved_model.clone())
            .push(", 0, 0, 0, 0, ")
            .push_bind(c.instance.clone())
            .push(", ")
            .push_bind(c.now)
            .push(", ")
            .push_bind(c.now)
            .push(" WHERE EXISTS (SELECT 1 FROM chat_sessions WHERE id = ")
            .push_bind(c.session_id)
            .push(" AND last_run_id = ")
            .push_bind(c.run_id)
            .push(")");
        let run_exists = |q: &mut Batch| {
            q.push("EXISTS (SELECT 1 FROM runs WHERE id = ").push_bind(c.run_id).push(")");
        };
        for id in &c.delivers {
            q.push("; UPDATE peer_messages SET delivered_at = ")
                .push_bind(c.now)
                .push(", run_id = ")
                .push_bind(c.run_id)
                .push(" WHERE id = ")
                .push_bind(*id)
                .push(" AND delivered_at IS NULL AND ");
            run_exists(q);
        }
        for (i, (role, content, from_agent_id)) in c.entries.iter().enumerate() {
            let client_id = if i == 0 { c.client_id.clone() } else { None };
            q.push(
                "; INSERT INTO messages (id, org_id, session_id, run_id, position, role, content, from_agent_id, \
                 client_message_id, created_at) SELECT ",
            );
            q.push_bind(Uuid::new_v4())
                .push(", ")
                .push_bind(c.org_id)
                .push(", ")
                .push_bind(c.session_id)
                .push(", ")
                .push_bind(c.run_id)
                .push(", next, ")
                .push_bind(*role)
                .push(", ")
                .push_bind(content.clone())
                .push(", ")
                .push_bind(*from_agent_id)
                .push(", ")
                .push_bind(client_id)
                .push(", ")
                .push_bind(c.now)
                // An aggregate has a row even over no rows: filtered outside it.
                .push(" FROM (SELECT COALESCE(MAX(position), 0) + 1 AS next FROM messages WHERE session_id = ")
                .push_bind(c.session_id)
                .push(") WHERE ");
            run_exists(q);
        }
        q.push("; SELECT ");
        run_exists(q);
        q.push(" AS claimed, (SELECT MAX(seq) FROM run_events WHERE session_id = ")
            .push_bind(c.session_id)
            .push(") AS last_seq");
        q.push(format!("; SELECT {} FROM messages WHERE session_id = ", super::store::MESSAGE_COLUMNS))
            .push_bind(c.session_id)
            .push(" AND ");
        run_exists(q);
        q.push(" ORDER BY position");
    })
    .await?;
    let mut rows = rows.into_iter();
    let row = rows.next().ok_or(sqlx::Error::RowNotFound)?;
    // `claimed, last_seq`, then the messages.
    if row.int(0)? == 0 {
        return Ok(None);
    }
    let history = rows.map(|r| super::store::MessageRow::from_writer(&r)).collect::<Result<_, _>>()?;
    Ok(Some(Claimed { last_seq: row.int_or_null(1)?, history }))
}

/// Rows of one INSERT: well under SQLite's 32,766 bound values.
const EVENTS_PER_INSERT: usize = 500;

/// Stores a run's events (coalesced: event, first seq, the pieces of a
/// merged delta) and, with `end`, the run's end and its session's status.
pub(super) async fn flush(
    pool: &SqlitePool,
    session_id: Uuid,
    rows: Vec<(RunEvent, i64, Option<Vec<usize>>)>,
    end: Option<RunEnd>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    crate::db::writer::sqlite_transaction(pool, Lane::InOrder, move |q| {
        let mut first = true;
        let mut separate = |q: &mut Batch| {
            if !std::mem::take(&mut first) {
                q.push("; ");
            }
        };
        let mut rows = rows.iter().peekable();
        while rows.peek().is_some() {
            separate(q);
            q.push("INSERT INTO run_events (session_id, seq, first_seq, run_id, kind, data, parts, created_at) ");
            q.push_values(rows.by_ref().take(EVENTS_PER_INSERT), |mut b, (event, first_seq, parts)| {
                b.push_bind(session_id)
                    .push_bind(event.seq)
                    .push_bind(*first_seq)
                    .push_bind(event.run_id)
                    .push_bind(event.kind.clone())
                    .push_bind(Json(event.data.clone()))
                    .push_bind(parts.clone().map(Json))
                    .push_bind(now);
            });
        }
        if let Some(end) = &end {
            let t = end.totals;
            separate(q);
            q.push("UPDATE runs SET status = ")
                .push_bind(end.status)
                .push(", stop_reason = ")
                .push_bind(end.stop_reason)
                .push(", error = ")
                .push_bind(end.error.clone())
                .push(", finished_at = ")
                .push_bind(now)
                .push(", steps = ")
                .push_bind(t.steps)
                .push(", input_tokens = ")
                .push_bind(t.input_tokens)
                .push(", output_tokens = ")
                .push_bind(t.output_tokens)
                .push(", credit_microunits = ")
                .push_bind(t.credit_microunits)
                .push(", omitted_messages = ")
                .push_bind(t.omitted_messages)
                .push(", omitted_tokens = ")
                .push_bind(t.omitted_tokens)
                .push(" WHERE id = ")
                .push_bind(end.run_id);
            q.push("; UPDATE chat_sessions SET status = ")
                .push_bind(end.session_status)
                .push(", updated_at = ")
                .push_bind(now)
                .push(" WHERE id = ")
                .push_bind(session_id)
                .push(" AND last_run_id = ")
                .push_bind(end.run_id);
        }
    })
    .await?;
    Ok(())
}
