//! The rows of sessions, runs and messages, and the queries the loop and
//! the routes share.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::types::Json;
use uuid::Uuid;

use super::agent_loop::{Outcome, Plan, Totals};
use crate::db::writer::Lane;
use crate::db::{exec_on_db, on_db};
use crate::domain::clock::iso;
use crate::domain::providers::{ChatMessage, ToolCall};
use crate::domain::{billing, Ctx, DomainResult};
use crate::model::{MessageView, RunView, SessionView, ToolCallView};

pub const SESSION_COLUMNS: &str =
    "id, project_id, agent_id, workspace_id, title, status, last_run_id, chain_id, created_at, updated_at";

#[derive(sqlx::FromRow)]
pub struct SessionRow {
    pub id: Uuid,
    pub project_id: Uuid,
    pub agent_id: Uuid,
    pub workspace_id: Option<Uuid>,
    pub title: String,
    pub status: String,
    pub last_run_id: Option<Uuid>,
    /// The conversation between agents this session was opened for (the
    /// first session's id); `None` for a session a person opened.
    pub chain_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl SessionRow {
    /// The chain this session's peer messages belong to.
    pub fn chain(&self) -> Uuid {
        self.chain_id.unwrap_or(self.id)
    }

    pub fn view(self) -> SessionView {
        SessionView {
            id: self.id,
            project_id: self.project_id,
            agent_id: self.agent_id,
            workspace_id: self.workspace_id,
            title: self.title,
            status: self.status,
            last_run_id: self.last_run_id,
            created_at: iso(self.created_at),
            updated_at: iso(self.updated_at),
        }
    }
}

pub const RUN_COLUMNS: &str = "id, session_id, status, stop_reason, requested_model, resolved_model, steps, \
     input_tokens, output_tokens, credit_microunits, omitted_messages, omitted_tokens, error, started_at, finished_at";

#[derive(sqlx::FromRow)]
pub struct RunRow {
    pub id: Uuid,
    pub session_id: Uuid,
    pub status: String,
    pub stop_reason: Option<String>,
    pub requested_model: String,
    pub resolved_model: String,
    pub steps: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub credit_microunits: i64,
    pub omitted_messages: i64,
    pub omitted_tokens: i64,
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl RunRow {
    pub fn view(self) -> RunView {
        RunView {
            id: self.id,
            session_id: self.session_id,
            status: self.status,
            stop_reason: self.stop_reason,
            requested_model: self.requested_model,
            resolved_model: self.resolved_model,
            steps: self.steps,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            credits: billing::credits(self.credit_microunits).credits,
            credit_microunits: self.credit_microunits,
            omitted_messages: self.omitted_messages,
            omitted_tokens: self.omitted_tokens,
            error: self.error,
            started_at: iso(self.started_at),
            finished_at: self.finished_at.map(iso),
        }
    }
}

pub const MESSAGE_COLUMNS: &str =
    "id, session_id, run_id, position, role, content, tool_calls, tool_call_id, from_agent_id, created_at";

#[derive(sqlx::FromRow)]
pub struct MessageRow {
    pub id: Uuid,
    pub session_id: Uuid,
    pub run_id: Option<Uuid>,
    pub position: i64,
    pub role: String,
    pub content: String,
    pub tool_calls: Option<Json<Vec<ToolCall>>>,
    pub tool_call_id: Option<String>,
    pub from_agent_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl MessageRow {
    /// A row the SQLite writer answered, of [`MESSAGE_COLUMNS`].
    pub(super) fn from_writer(row: &crate::db::writer::Row) -> Result<MessageRow, sqlx::Error> {
        Ok(MessageRow {
            id: row.uuid(0)?,
            session_id: row.uuid(1)?,
            run_id: row.uuid_or_null(2)?,
            position: row.int(3)?,
            role: row.text(4)?,
            content: row.text(5)?,
            tool_calls: row.json_or_null(6)?.map(Json),
            tool_call_id: row.text_or_null(7)?,
            from_agent_id: row.uuid_or_null(8)?,
            created_at: row.time(9)?,
        })
    }

    pub fn view(self) -> MessageView {
        let tool_calls = self
            .tool_calls
            .map(|calls| {
                calls
                    .0
                    .into_iter()
                    .map(|c| ToolCallView {
                        arguments: serde_json::from_str(&c.arguments).unwrap_or(Value::String(c.arguments)),
                        id: c.id,
                        name: c.name,
                    })
                    .collect()
            })
            .unwrap_or_default();
        MessageView {
            id: self.id,
            session_id: self.session_id,
            run_id: self.run_id,
            role: self.role,
            content: self.content,
            tool_calls,
            tool_call_id: self.tool_call_id,
            from_agent_id: self.from_agent_id,
            created_at: iso(self.created_at),
        }
    }
}

/// A message to append to a session.
pub struct NewMessage<'a> {
    pub org_id: Uuid,
    pub session_id: Uuid,
    pub run_id: Option<Uuid>,
    pub role: &'static str,
    pub content: String,
    pub tool_calls: Option<&'a [ToolCall]>,
    pub tool_call_id: Option<&'a str>,
}

impl<'a> NewMessage<'a> {
    pub fn assistant(plan: &Plan, content: String, calls: &'a [ToolCall]) -> NewMessage<'a> {
        NewMessage {
            org_id: plan.org.id,
            session_id: plan.session_id,
            run_id: Some(plan.run_id),
            role: "assistant",
            content,
            tool_calls: (!calls.is_empty()).then_some(calls),
            tool_call_id: None,
        }
    }

    pub fn tool(plan: &Plan, call_id: &'a str, content: String) -> NewMessage<'a> {
        NewMessage {
            org_id: plan.org.id,
            session_id: plan.session_id,
            run_id: Some(plan.run_id),
            role: "tool",
            content,
            tool_calls: None,
            tool_call_id: Some(call_id),
        }
    }
}

/// What `append` stored.
pub struct StoredMessage {
    pub id: Uuid,
    pub role: &'static str,
    pub content: String,
}

/// Appends at the end of the session. One run writes a session at a time,
/// so the next position is free; a unique index guards it anyway.
pub async fn append(ctx: &Ctx, m: NewMessage<'_>) -> DomainResult<StoredMessage> {
    let id = Uuid::new_v4();
    let now = ctx.clock.now();
    // Owned, for the writer (`db::writer`).
    let (org_id, session_id, run_id, role, content) = (m.org_id, m.session_id, m.run_id, m.role, m.content.clone());
    let tool_calls = m.tool_calls.map(<[ToolCall]>::to_vec);
    let tool_call_id = m.tool_call_id.map(str::to_string);
    if let crate::db::Db::Sqlite(pool) = &ctx.db {
        // One job of the writer's thread (`db::writer::sqlite_transaction`).
        crate::db::writer::sqlite_transaction(pool, Lane::InOrder, move |q| {
            q.push(
                "INSERT INTO messages (id, org_id, session_id, run_id, position, role, content, tool_calls, \
                 tool_call_id, created_at) SELECT ",
            );
            let mut values = q.separated(", ");
            values
                .push_bind(id)
                .push_bind(org_id)
                .push_bind(session_id)
                .push_bind(run_id)
                .push("COALESCE(MAX(position), 0) + 1")
                .push_bind(role)
                .push_bind(content.clone())
                .push_bind(tool_calls.clone().map(Json))
                .push_bind(tool_call_id.clone())
                .push_bind(now);
            q.push(" FROM messages WHERE session_id = ").push_bind(session_id);
        })
        .await?;
        return Ok(StoredMessage { id, role: m.role, content: m.content });
    }
    crate::db::writer::write(&ctx.db, move |db| async move {
        exec_on_db!(&db, |p| sqlx::query(
            "INSERT INTO messages (id, org_id, session_id, run_id, position, role, content, tool_calls, \
             tool_call_id, created_at) SELECT $1, $2, $3, $4, COALESCE(MAX(position), 0) + 1, $5, $6, $7, $8, $9 \
             FROM messages WHERE session_id = $3"
        )
        .bind(id)
        .bind(org_id)
        .bind(session_id)
        .bind(run_id)
        .bind(role)
        .bind(&content)
        .bind(tool_calls.as_ref().map(Json))
        .bind(&tool_call_id)
        .bind(now)
        .execute(p)
        .await)
    })
    .await?;
    Ok(StoredMessage { id, role: m.role, content: m.content })
}

/// A session's messages, oldest first.
pub async fn messages(ctx: &Ctx, session_id: Uuid) -> DomainResult<Vec<MessageRow>> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = $1 ORDER BY position");
    Ok(on_db!(&ctx.db, |p| sqlx::query_as(&sql).bind(session_id).fetch_all(p).await)?)
}

/// A session's messages as the model gets them. A peer's message is the
/// user's turn, marked with who sent it; a tool call left without its
/// result (a run that stopped mid-way) gets one saying so, since providers
/// refuse a call without an answer.
pub async fn transcript(ctx: &Ctx, rows: Vec<MessageRow>) -> DomainResult<Vec<ChatMessage>> {
    // The names of the agents whose messages are here, once each.
    let mut senders: Vec<Uuid> = rows.iter().filter_map(|r| r.from_agent_id).collect();
    senders.sort();
    senders.dedup();
    let mut names: std::collections::HashMap<Uuid, String> = std::collections::HashMap::new();
    for id in senders {
        let name: Option<String> = on_db!(&ctx.db, |p| sqlx::query_scalar("SELECT name FROM agents WHERE id = $1")
            .bind(id)
            .fetch_optional(p)
            .await)?;
        names.insert(id, name.unwrap_or_else(|| "(deleted)".into()));
    }
    let mut out: Vec<ChatMessage> = Vec::new();
    let mut unanswered: Vec<String> = Vec::new();
    let close = |out: &mut Vec<ChatMessage>, unanswered: &mut Vec<String>| {
        for id in unanswered.drain(..) {
            out.push(ChatMessage::Tool {
                tool_call_id: id,
                content: json!({ "error": "The run stopped before this call finished." }).to_string(),
            });
        }
    };
    for row in rows {
        match row.role.as_str() {
            "tool" => {
                let id = row.tool_call_id.unwrap_or_default();
                unanswered.retain(|u| *u != id);
                out.push(ChatMessage::Tool { tool_call_id: id, content: row.content });
            }
            "assistant" => {
                close(&mut out, &mut unanswered);
                let calls = row.tool_calls.map(|c| c.0).unwrap_or_default();
                unanswered = calls.iter().map(|c| c.id.clone()).collect();
                out.push(ChatMessage::Assistant { content: row.content, tool_calls: calls });
            }
            "peer" => {
                close(&mut out, &mut unanswered);
                // Who sent it, in words the model can use with
                // `message_agent`; a message's run's answer is its reply.
                let from = row.from_agent_id.map_or_else(String::new, |id| {
                    format!("{} (id {id})", names.get(&id).map_or("an agent", String::as_str))
                });
                out.push(ChatMessage::User { content: format!("[From agent {from}]\n{}", row.content) });
            }
            _ => {
                close(&mut out, &mut unanswered);
                out.push(ChatMessage::User { content: row.content });
            }
        }
    }
    close(&mut out, &mut unanswered);
    Ok(out)
}

pub async fn record_totals(ctx: &Ctx, run_id: Uuid, t: Totals) -> DomainResult<()> {
    crate::db::writer::write(&ctx.db, move |db| async move {
        exec_on_db!(&db, |p| sqlx::query(
            "UPDATE runs SET steps = $2, input_tokens = $3, output_tokens = $4, credit_microunits = $5, \
             omitted_messages = $6, omitted_tokens = $7 WHERE id = $1"
        )
        .bind(run_id)
        .bind(t.steps)
        .bind(t.input_tokens)
        .bind(t.output_tokens)
        .bind(t.credit_microunits)
        .bind(t.omitted_messages)
        .bind(t.omitted_tokens)
        .execute(p)
        .await)
    })
    .await?;
    Ok(())
}

/// The run's end and the session's status after it, together.
pub async fn record_end(ctx: &Ctx, plan: &Plan, outcome: &Outcome, t: Totals) -> DomainResult<()> {
    let now = ctx.clock.now();
    on_db!(&ctx.db, |p| async {
        let mut tx = p.begin().await?;
        sqlx::query(
            "UPDATE runs SET status = $2, stop_reason = $3, error = $4, finished_at = $5, steps = $6, \
             input_tokens = $7, output_tokens = $8, credit_microunits = $9, omitted_messages = $10, \
             omitted_tokens = $11 WHERE id = $1",
        )
        .bind(plan.run_id)
        .bind(outcome.status())
        .bind(outcome.stop_reason)
        .bind(&outcome.error)
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
            .bind(plan.session_id)
            .bind(plan.run_id)
            .bind(outcome.session_status())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }
    .await)?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct Orphan {
    id: Uuid,
    session_id: Uuid,
}

/// Runs left `running` by a process that stopped: every one (`all`, when
/// this process is the only one — SQLite), else those whose heartbeat is
/// older than `stale_before`. Each becomes `failed` / `interrupted`, its
/// session `failed`, with the closing events a listener waits for.
/// Answers how many.
pub async fn mark_interrupted(ctx: &Ctx, all: bool, stale_before: DateTime<Utc>) -> DomainResult<usize> {
    let orphans: Vec<Orphan> = on_db!(&ctx.db, |p| sqlx::query_as(
        "SELECT id, session_id FROM runs WHERE status = 'running' AND owner <> $1 AND ($2 OR heartbeat_at < $3)"
    )
    .bind(&ctx.hub.instance)
    .bind(all)
    .bind(stale_before)
    .fetch_all(p)
    .await)?;
    let mut count = 0;
    for orphan in orphans {
        let now = ctx.clock.now();
        let error = "The server stopped while this run was going; send the message again to retry.";
        let done: Result<bool, sqlx::Error> = on_db!(&ctx.db, |p| async {
            let mut tx = p.begin().await?;
            let changed = sqlx::query(
                "UPDATE runs SET status = 'failed', stop_reason = 'interrupted', error = $2, finished_at = $3 \
                 WHERE id = $1 AND status = 'running'",
            )
            .bind(orphan.id)
            .bind(error)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 0 {
                return Ok(false);
            }
            sqlx::query(
                "UPDATE chat_sessions SET status = 'failed', updated_at = $3 WHERE id = $1 AND last_run_id = $2",
            )
            .bind(orphan.session_id)
            .bind(orphan.id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM run_events WHERE session_id = $1")
                .bind(orphan.session_id)
                .fetch_one(&mut *tx)
                .await?;
            let last = last.unwrap_or(0);
            let events = [
                ("session.status", json!({ "status": "failed" })),
                ("run.finished", json!({ "status": "failed", "stopReason": "interrupted", "error": error })),
            ];
            for (i, (kind, data)) in events.into_iter().enumerate() {
                let seq = last + 1 + i as i64;
                sqlx::query(
                    "INSERT INTO run_events (session_id, seq, first_seq, run_id, kind, data, created_at) \
                     VALUES ($1, $2, $2, $3, $4, $5, $6)",
                )
                .bind(orphan.session_id)
                .bind(seq)
                .bind(orphan.id)
                .bind(kind)
                .bind(Json(data))
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(true)
        }
        .await);
        match done {
            Ok(true) => count += 1,
            Ok(false) => {}
            Err(e) => tracing::warn!(run = %orphan.id, error = %e, "marking a run interrupted failed"),
        }
    }
    Ok(count)
}
