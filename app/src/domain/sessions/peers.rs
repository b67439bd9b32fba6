//! Peer messaging (SPEC §10): the agents of a project talk to each other,
//! with no hierarchy, through three built-in tools.
//!
//! - `list_agents {}` → who this agent may message.
//! - `message_agent {agent, message}` → a receipt at once; the peer's
//!   session for this conversation gets a `peer` message and runs. Its
//!   final answer comes back as the reply.
//! - `check_messages {timeoutSeconds}` → the replies and messages that
//!   reached this session, waiting for them (the session is
//!   `awaiting_peer` meanwhile).
//!
//! A conversation chain starts at the session a person opened; each agent
//! messaged in it has one session for it (`chat_sessions.chain_id`), in
//! the same project, so the conversation shows from both sides in the lab.
//! Messages live in `peer_messages`: a message reaching a busy session
//! waits there for its `check_messages`, or starts the session's next run
//! when the current one ends.
//!
//! Guards: the agent's `peers` allow-list; a hop budget of `HOP_BUDGET`
//! messages per chain (replies are free); and a wait on an agent that is
//! itself waiting on the caller answers at once with an error, instead of
//! two agents each waiting out their timeout (`deadlock_with`).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::agent_loop::{Outcome, Plan};
use super::store::{SessionRow, SESSION_COLUMNS};
use super::tools::{Tool, ToolContext, ToolFailure, ToolSource};
use super::{launch, resolve_model, session_agent, Turn, TurnEntry};
use crate::db::{exec_on_db, on_db};
use crate::domain::events::Topic;
use crate::domain::providers::ToolSpec;
use crate::domain::{Ctx, DomainResult};
use crate::model::{AgentView, ErrorCode, OrgSummary};

/// Messages between agents one conversation chain may send (SPEC: 8).
pub const HOP_BUDGET: i64 = 8;
const MESSAGE_MAX_CHARS: u64 = 20_000;
const DEFAULT_WAIT_SECONDS: u64 = 30;
const MAX_WAIT_SECONDS: u64 = 120;
/// A waiting `check_messages` reads its inbox when a message is posted to
/// it (the `peer_inbox` signal, from any process), and at least this
/// often: also to see a peer start waiting on it (a deadlock).
const POLL_EVERY: Duration = Duration::from_secs(1);

pub struct PeerTools;

#[async_trait::async_trait]
impl ToolSource for PeerTools {
    async fn tools(&self, _ctx: &Ctx, _org_id: Uuid, agent: &AgentView) -> Vec<Arc<dyn Tool>> {
        vec![
            Arc::new(ListAgents { peers: agent.peers.clone() }),
            Arc::new(MessageAgent { peers: agent.peers.clone() }),
            Arc::new(CheckMessages),
        ]
    }
}

fn failure(text: impl Into<String>) -> ToolFailure {
    ToolFailure(text.into())
}

fn unreadable(_: impl std::fmt::Debug) -> ToolFailure {
    failure("The conversation could not be read or written; try again")
}

/// `list_agents {}` → the agents this one may message: `[{id, name,
/// description, status}]`, where `status` is that agent's latest session
/// in this project (`idle` when it has none yet) or `disabled`.
struct ListAgents {
    /// The caller's allow-list (`None`: every agent of the org).
    peers: Option<Vec<Uuid>>,
}

#[derive(sqlx::FromRow)]
struct PeerRow {
    id: Uuid,
    name: String,
    description: Option<String>,
    enabled: bool,
    status: Option<String>,
}

#[async_trait::async_trait]
impl Tool for ListAgents {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "list_agents".into(),
            description: "Lists the other agents of this organization you may message, with what each does and \
                          whether it is busy."
                .into(),
            parameters: json!({"type": "object", "properties": {}, "additionalProperties": false}),
        }
    }

    async fn call(&self, cx: &ToolContext, _arguments: Value) -> Result<Value, ToolFailure> {
        let rows: Vec<PeerRow> = on_db!(&cx.ctx.db, |p| sqlx::query_as(
            "SELECT a.id, a.name, a.description, a.enabled, \
             (SELECT s.status FROM chat_sessions s WHERE s.agent_id = a.id AND s.project_id = $3 \
              ORDER BY s.updated_at DESC LIMIT 1) AS status \
             FROM agents a WHERE a.org_id = $1 AND a.deleted_at IS NULL AND a.id <> $2 ORDER BY a.name"
        )
        .bind(cx.org.id)
        .bind(cx.agent_id)
        .bind(cx.project_id)
        .fetch_all(p)
        .await)
        .map_err(|_| failure("The agent list could not be read; try again"))?;
        let agents: Vec<Value> = rows
            .into_iter()
            .filter(|r| self.peers.as_ref().is_none_or(|allowed| allowed.contains(&r.id)))
            .map(|r| {
                let status = if r.enabled { r.status.unwrap_or_else(|| "idle".into()) } else { "disabled".into() };
                json!({"id": r.id, "name": r.name, "description": r.description, "status": status})
            })
            .collect();
        Ok(Value::Array(agents))
    }
}

/// `message_agent {agent, message}` → `{receiptId, sessionId, status:
/// "queued"}`.
struct MessageAgent {
    peers: Option<Vec<Uuid>>,
}

#[derive(sqlx::FromRow)]
struct AgentRef {
    id: Uuid,
    name: String,
    enabled: bool,
}

#[async_trait::async_trait]
impl Tool for MessageAgent {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "message_agent".into(),
            description: "Sends a message to another agent of this project (by id or name, see list_agents). It \
                          answers at once with a receipt; the agent works on it in its own session, and its \
                          answer arrives as a reply you read with check_messages."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "agent": {"type": "string", "minLength": 1, "description": "The agent's id or name."},
                    "message": {"type": "string", "minLength": 1, "maxLength": MESSAGE_MAX_CHARS},
                },
                "required": ["agent", "message"],
                "additionalProperties": false,
            }),
        }
    }

    async fn call(&self, cx: &ToolContext, arguments: Value) -> Result<Value, ToolFailure> {
        let wanted = arguments["agent"].as_str().unwrap_or_default().trim().to_string();
        let text = arguments["message"].as_str().unwrap_or_default().trim().to_string();
        if text.is_empty() {
            return Err(failure("Write the message to send"));
        }
        let peer = find_agent(cx, &wanted).await?;
        if peer.id == cx.agent_id {
            return Err(failure("You cannot message yourself"));
        }
        if self.peers.as_ref().is_some_and(|allowed| !allowed.contains(&peer.id)) {
            return Err(failure(format!("You may not message {}: it is not among your peers", peer.name)));
        }
        if !peer.enabled {
            return Err(failure(format!("{} is disabled and cannot take messages", peer.name)));
        }
        let me = session(&cx.ctx, cx.session_id).await.map_err(unreadable)?;
        let chain = me.chain();
        let peer_session = open_peer_session(cx, &me, &peer).await.map_err(unreadable)?;
        // A message to an agent that asked this one something answers it.
        let answers = unanswered(&cx.ctx, peer_session.id, me.id).await.map_err(unreadable)?.pop();
        let letter = Letter {
            kind: "message",
            chain,
            from: (me.id, cx.agent_id),
            to: (peer_session.id, peer.id),
            in_reply_to: answers,
            content: text,
        };
        let Some(receipt) = letter.post_within_budget(&cx.ctx, cx.org.id).await.map_err(unreadable)? else {
            return Err(failure(format!(
                "This conversation between agents has used its budget of {HOP_BUDGET} messages: answer with what \
                 you have"
            )));
        };
        deliver(&cx.ctx, &cx.org, peer_session.id).await;
        Ok(json!({ "receiptId": receipt, "sessionId": peer_session.id, "status": "queued" }))
    }
}

/// An agent of the caller's org by id or (case-insensitive) name.
async fn find_agent(cx: &ToolContext, wanted: &str) -> Result<AgentRef, ToolFailure> {
    let by_id = Uuid::parse_str(wanted).ok();
    let found: Option<AgentRef> = on_db!(&cx.ctx.db, |p| sqlx::query_as(
        "SELECT id, name, enabled FROM agents WHERE org_id = $1 AND deleted_at IS NULL \
         AND (id = $2 OR LOWER(name) = LOWER($3)) ORDER BY name LIMIT 1"
    )
    .bind(cx.org.id)
    .bind(by_id)
    .bind(wanted)
    .fetch_optional(p)
    .await)
    .map_err(unreadable)?;
    found.ok_or_else(|| failure(format!("No agent is named {wanted:?}: list_agents shows whom you may message")))
}

async fn session(ctx: &Ctx, id: Uuid) -> DomainResult<SessionRow> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM chat_sessions WHERE id = $1");
    Ok(on_db!(&ctx.db, |p| sqlx::query_as(&sql).bind(id).fetch_one(p).await)?)
}

/// The peer's session for this chain, opened in the caller's project on
/// first contact.
async fn open_peer_session(cx: &ToolContext, me: &SessionRow, peer: &AgentRef) -> DomainResult<SessionRow> {
    let chain = me.chain();
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM chat_sessions WHERE project_id = $1 AND agent_id = $2 \
         AND (id = $3 OR chain_id = $3) ORDER BY created_at LIMIT 1"
    );
    let existing: Option<SessionRow> = on_db!(&cx.ctx.db, |p| sqlx::query_as(&sql)
        .bind(me.project_id)
        .bind(peer.id)
        .bind(chain)
        .fetch_optional(p)
        .await)?;
    if let Some(existing) = existing {
        return Ok(existing);
    }
    let caller: String = on_db!(&cx.ctx.db, |p| sqlx::query_scalar("SELECT name FROM agents WHERE id = $1")
        .bind(cx.agent_id)
        .fetch_one(p)
        .await)?;
    let id = Uuid::new_v4();
    let now = cx.ctx.clock.now();
    exec_on_db!(&cx.ctx.db, |p| sqlx::query(
        "INSERT INTO chat_sessions (id, org_id, project_id, agent_id, workspace_id, title, status, chain_id, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'idle', $7, $8, $8)"
    )
    .bind(id)
    .bind(cx.org.id)
    .bind(me.project_id)
    .bind(peer.id)
    .bind(me.workspace_id)
    .bind(format!("{} ← {caller}", peer.name))
    .bind(chain)
    .bind(now)
    .execute(p)
    .await)?;
    session(&cx.ctx, id).await
}

/// One row of `peer_messages` to write.
struct Letter {
    kind: &'static str,
    chain: Uuid,
    /// Session and agent.
    from: (Uuid, Uuid),
    to: (Uuid, Uuid),
    in_reply_to: Option<Uuid>,
    content: String,
}

const INSERT_LETTER: &str = "INSERT INTO peer_messages (id, org_id, chain_id, kind, from_session_id, \
     from_agent_id, to_session_id, to_agent_id, in_reply_to, content, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

macro_rules! bind_letter {
    ($letter:expr, $id:expr, $org_id:expr, $now:expr) => {
        sqlx::query(INSERT_LETTER)
            .bind($id)
            .bind($org_id)
            .bind($letter.chain)
            .bind($letter.kind)
            .bind($letter.from.0)
            .bind($letter.from.1)
            .bind($letter.to.0)
            .bind($letter.to.1)
            .bind($letter.in_reply_to)
            .bind(&$letter.content)
            .bind($now)
    };
}

impl Letter {
    async fn post(self, ctx: &Ctx, org_id: Uuid) -> DomainResult<Uuid> {
        let id = Uuid::new_v4();
        let now = ctx.clock.now();
        exec_on_db!(&ctx.db, |p| bind_letter!(self, id, org_id, now).execute(p).await)?;
        ctx.events.publish(&ctx.db, Topic::PeerInbox, self.to.0).await;
        Ok(id)
    }

    /// Posts a message unless its chain has spent its hop budget (`None`).
    /// The chain's first session is locked while counting, so messages
    /// sent at once (parallel tool calls, two processes) cannot overspend.
    async fn post_within_budget(self, ctx: &Ctx, org_id: Uuid) -> DomainResult<Option<Uuid>> {
        let id = Uuid::new_v4();
        let now = ctx.clock.now();
        let posted: Result<bool, sqlx::Error> = on_db!(&ctx.db, |p| async {
            let mut tx = p.begin().await?;
            sqlx::query("UPDATE chat_sessions SET updated_at = updated_at WHERE id = $1")
                .bind(self.chain)
                .execute(&mut *tx)
                .await?;
            let sent: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM peer_messages WHERE chain_id = $1 AND kind = 'message'")
                    .bind(self.chain)
                    .fetch_one(&mut *tx)
                    .await?;
            if sent >= HOP_BUDGET {
                return Ok(false);
            }
            bind_letter!(self, id, org_id, now).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(true)
        }
        .await);
        if posted? {
            ctx.events.publish(&ctx.db, Topic::PeerInbox, self.to.0).await;
            return Ok(Some(id));
        }
        Ok(None)
    }
}

/// Messages `from` sent `to` that `to` has not answered yet, oldest first.
async fn unanswered(ctx: &Ctx, from: Uuid, to: Uuid) -> DomainResult<Vec<Uuid>> {
    Ok(on_db!(&ctx.db, |p| sqlx::query_scalar(
        "SELECT m.id FROM peer_messages m WHERE m.from_session_id = $1 AND m.to_session_id = $2 \
         AND m.kind = 'message' AND NOT EXISTS (SELECT 1 FROM peer_messages r WHERE r.in_reply_to = m.id) \
         ORDER BY m.created_at, m.id"
    )
    .bind(from)
    .bind(to)
    .fetch_all(p)
    .await)?)
}

#[derive(sqlx::FromRow, Clone)]
struct Pending {
    id: Uuid,
    kind: String,
    from_session_id: Uuid,
    from_agent_id: Uuid,
    from_agent_name: Option<String>,
    in_reply_to: Option<Uuid>,
    content: String,
}

impl Pending {
    /// As `check_messages` answers it: the receipt is the one the sender
    /// of a message got, or for a reply the one it answers.
    fn view(&self) -> Value {
        json!({
            "fromAgentId": self.from_agent_id,
            "fromAgentName": self.from_agent_name,
            "kind": self.kind,
            "text": self.content,
            "receiptId": if self.kind == "reply" { self.in_reply_to.unwrap_or(self.id) } else { self.id },
        })
    }
}

async fn pending(ctx: &Ctx, session_id: Uuid) -> DomainResult<Vec<Pending>> {
    Ok(on_db!(&ctx.db, |p| sqlx::query_as(
        "SELECT m.id, m.kind, m.from_session_id, m.from_agent_id, a.name AS from_agent_name, m.in_reply_to, m.content \
         FROM peer_messages m LEFT JOIN agents a ON a.id = m.from_agent_id \
         WHERE m.to_session_id = $1 AND m.delivered_at IS NULL ORDER BY m.created_at, m.id"
    )
    .bind(session_id)
    .fetch_all(p)
    .await)?)
}

/// Takes what waits in the session's inbox; a message another reader
/// took first is left to it.
async fn take_inbox(ctx: &Ctx, session_id: Uuid, now: DateTime<Utc>) -> DomainResult<Vec<Pending>> {
    let mut taken = Vec::new();
    for m in pending(ctx, session_id).await? {
        let changed = exec_on_db!(&ctx.db, |p| sqlx::query(
            "UPDATE peer_messages SET delivered_at = $2 WHERE id = $1 AND delivered_at IS NULL"
        )
        .bind(m.id)
        .bind(now)
        .execute(p)
        .await)?;
        if changed == 1 {
            taken.push(m);
        }
    }
    Ok(taken)
}

/// Starts a run of the session for what waits in its inbox, when the
/// session is free; a busy one takes it with `check_messages` or in the
/// run after. When the session's agent cannot run (deleted, disabled, no
/// model), each sender gets that as the reply. Never fails the caller:
/// what cannot be delivered now stays in the inbox.
pub(super) async fn deliver(ctx: &Ctx, org: &OrgSummary, session_id: Uuid) {
    let mut queue = vec![session_id];
    // Refusals reply to their senders, whose sessions are delivered to
    // in turn; the hop budget bounds how far that goes.
    while let Some(session_id) = queue.pop() {
        match deliver_one(ctx, org, session_id).await {
            Ok(next) => queue.extend(next),
            Err(e) => tracing::warn!(session = %session_id, error = %e.message, "delivering peer messages failed"),
        }
    }
}

async fn deliver_one(ctx: &Ctx, org: &OrgSummary, session_id: Uuid) -> DomainResult<Vec<Uuid>> {
    // The inbox first: after most runs it is empty, and the session
    // need not be read.
    let waiting = pending(ctx, session_id).await?;
    if waiting.is_empty() {
        return Ok(Vec::new());
    }
    let target = session(ctx, session_id).await?;
    if matches!(target.status.as_str(), "running" | "awaiting_peer") {
        return Ok(Vec::new());
    }
    let runnable = match session_agent(ctx, org, &target).await {
        Ok(agent) => resolve_model(ctx, org.id, &agent).await.map(|model| (agent, model)),
        Err(e) => Err(e),
    };
    let (agent, model) = match runnable {
        Ok(ready) => ready,
        Err(e) => return refuse(ctx, org, &target, &e.message).await,
    };
    let turn = Turn {
        entries: waiting.iter().map(|m| TurnEntry::peer(m.content.clone(), m.from_agent_id)).collect(),
        client_id: None,
        delivers: waiting.iter().map(|m| m.id).collect(),
    };
    match launch(ctx, org, &target, agent, model, &turn).await {
        Ok(_) => Ok(Vec::new()),
        // Claimed meanwhile: by a run that started, or a reader.
        Err(e) if e.code == ErrorCode::Conflict => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// The inbox of a session that cannot run: taken, and each message
/// answered with why.
async fn refuse(ctx: &Ctx, org: &OrgSummary, target: &SessionRow, why: &str) -> DomainResult<Vec<Uuid>> {
    let mut senders = Vec::new();
    for m in take_inbox(ctx, target.id, ctx.clock.now()).await? {
        if m.kind != "message" {
            continue;
        }
        Letter {
            kind: "reply",
            chain: target.chain(),
            from: (target.id, target.agent_id),
            to: (m.from_session_id, m.from_agent_id),
            in_reply_to: Some(m.id),
            content: format!("The agent could not take the message: {why}"),
        }
        .post(ctx, org.id)
        .await?;
        senders.push(m.from_session_id);
    }
    Ok(senders)
}

/// After a run: the agents whose messages it answered get its final text
/// (or why it has none) as their reply, and a message that arrived while
/// it ran starts the next run — unless someone cancelled this one.
pub(super) async fn after_run(ctx: &Ctx, plan: &Plan, outcome: &Outcome) {
    // Only a run that delivered peer messages has senders to answer.
    if plan.answers_peers {
        if let Err(e) = reply_for_run(ctx, plan, outcome).await {
            tracing::warn!(run = %plan.run_id, error = %e.message, "sending a run's peer replies failed");
        }
    }
    if outcome.stop_reason != "cancelled" {
        deliver(ctx, &plan.org, plan.session_id).await;
    }
}

#[derive(sqlx::FromRow)]
struct Asked {
    id: Uuid,
    from_session_id: Uuid,
    from_agent_id: Uuid,
    chain_id: Uuid,
}

async fn reply_for_run(ctx: &Ctx, plan: &Plan, outcome: &Outcome) -> DomainResult<()> {
    let asked: Vec<Asked> = on_db!(&ctx.db, |p| sqlx::query_as(
        "SELECT m.id, m.from_session_id, m.from_agent_id, m.chain_id FROM peer_messages m \
         WHERE m.run_id = $1 AND m.kind = 'message' \
         AND NOT EXISTS (SELECT 1 FROM peer_messages r WHERE r.in_reply_to = m.id AND r.kind = 'reply')"
    )
    .bind(plan.run_id)
    .fetch_all(p)
    .await)?;
    if asked.is_empty() {
        return Ok(());
    }
    let text = if outcome.status() == "completed" {
        let last: Option<String> = on_db!(&ctx.db, |p| sqlx::query_scalar(
            "SELECT content FROM messages WHERE run_id = $1 AND role = 'assistant' AND content <> '' \
             ORDER BY position DESC LIMIT 1"
        )
        .bind(plan.run_id)
        .fetch_optional(p)
        .await)?;
        last.unwrap_or_else(|| "(The agent finished without a written answer.)".into())
    } else {
        let why = outcome.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
        format!("{} could not answer: its run ended with {}{why}", plan.agent.name, outcome.stop_reason)
    };
    let mut senders = Vec::new();
    for m in asked {
        Letter {
            kind: "reply",
            chain: m.chain_id,
            from: (plan.session_id, plan.agent.id),
            to: (m.from_session_id, m.from_agent_id),
            in_reply_to: Some(m.id),
            content: text.clone(),
        }
        .post(ctx, plan.org.id)
        .await?;
        if !senders.contains(&m.from_session_id) {
            senders.push(m.from_session_id);
        }
    }
    for sender in senders {
        deliver(ctx, &plan.org, sender).await;
    }
    Ok(())
}

/// `check_messages {timeoutSeconds}` → `{messages: [{fromAgentId,
/// fromAgentName, kind, text, receiptId}]}`, or `{messages: [], timedOut:
/// true}`.
struct CheckMessages;

#[async_trait::async_trait]
impl Tool for CheckMessages {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "check_messages".into(),
            description: "Reads the replies and messages other agents sent you, waiting up to timeoutSeconds for \
                          one to arrive. Answer a message with message_agent."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "timeoutSeconds": {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_SECONDS,
                                       "description": "How long to wait (default 30)."},
                },
                "additionalProperties": false,
            }),
        }
    }

    /// Past the longest wait a call may ask for.
    fn timeout(&self) -> Duration {
        Duration::from_secs(MAX_WAIT_SECONDS + 5)
    }

    async fn call(&self, cx: &ToolContext, arguments: Value) -> Result<Value, ToolFailure> {
        let wait = arguments["timeoutSeconds"].as_u64().unwrap_or(DEFAULT_WAIT_SECONDS).min(MAX_WAIT_SECONDS);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
        let mut waiting = false;
        let mut posted = cx.ctx.events.subscribe(Topic::PeerInbox, cx.session_id);
        let answer = loop {
            let got = take_inbox(&cx.ctx, cx.session_id, cx.ctx.clock.now()).await.map_err(unreadable)?;
            if !got.is_empty() {
                break Ok(json!({ "messages": got.iter().map(Pending::view).collect::<Vec<_>>() }));
            }
            if tokio::time::Instant::now() >= deadline {
                break Ok(json!({ "messages": [], "timedOut": true }));
            }
            // Looked at on every round: the other side may start waiting
            // after this one did.
            if let Some(peer) = deadlock_with(&cx.ctx, cx.session_id).await.map_err(unreadable)? {
                break Err(failure(format!(
                    "{peer} is itself waiting for your answer, so waiting would never end: answer it first (with \
                     message_agent, or by finishing your turn)"
                )));
            }
            if !waiting {
                set_status(cx, "running", "awaiting_peer").await;
                waiting = true;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            tokio::select! {
                _ = posted.wait(left.min(POLL_EVERY)) => {}
                () = cx.cancel.cancelled() => break Err(failure("The run was cancelled")),
            }
        };
        if waiting {
            set_status(cx, "awaiting_peer", "running").await;
        }
        answer
    }
}

/// Why a wait of this session now would never end: an agent is waiting,
/// in `check_messages`, for this session's answer, and this session waits
/// on no one else. Answers that agent's name.
///
/// A message is answered once its recipient sends the sender anything
/// (`in_reply_to`): a reply, or a question back. So a session waits on the
/// recipients of its unanswered messages.
async fn deadlock_with(ctx: &Ctx, me: Uuid) -> DomainResult<Option<String>> {
    let waiters: Vec<(Uuid, String)> = on_db!(&ctx.db, |p| sqlx::query_as(
        "SELECT DISTINCT s.id, a.name FROM peer_messages m \
         JOIN chat_sessions s ON s.id = m.from_session_id JOIN agents a ON a.id = s.agent_id \
         WHERE m.to_session_id = $1 AND m.kind = 'message' AND s.status = 'awaiting_peer' \
         AND NOT EXISTS (SELECT 1 FROM peer_messages r WHERE r.in_reply_to = m.id)"
    )
    .bind(me)
    .fetch_all(p)
    .await)?;
    if waiters.is_empty() {
        return Ok(None);
    }
    let waits_on: Vec<Uuid> = on_db!(&ctx.db, |p| sqlx::query_scalar(
        "SELECT DISTINCT m.to_session_id FROM peer_messages m WHERE m.from_session_id = $1 AND m.kind = 'message' \
         AND NOT EXISTS (SELECT 1 FROM peer_messages r WHERE r.in_reply_to = m.id)"
    )
    .bind(me)
    .fetch_all(p)
    .await)?;
    let stuck = waits_on.iter().all(|t| waiters.iter().any(|(w, _)| w == t));
    Ok(stuck.then(|| waiters[0].1.clone()))
}

/// Moves the session between `running` and `awaiting_peer` while this run
/// holds it, and tells its listeners.
async fn set_status(cx: &ToolContext, from: &str, to: &str) {
    let changed = exec_on_db!(&cx.ctx.db, |p| sqlx::query(
        "UPDATE chat_sessions SET status = $2, updated_at = $3 WHERE id = $1 AND status = $4 AND last_run_id = $5"
    )
    .bind(cx.session_id)
    .bind(to)
    .bind(cx.ctx.clock.now())
    .bind(from)
    .bind(cx.run_id)
    .execute(p)
    .await);
    match changed {
        Ok(1) => {
            if let Some(live) = cx.ctx.hub.get(cx.session_id) {
                live.emit("session.status", json!({ "status": to }));
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(session = %cx.session_id, error = %e, "updating a waiting session failed"),
    }
}
