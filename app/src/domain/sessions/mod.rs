//! Sessions, runs and chat (SPEC §10): a session is a conversation of one
//! agent in a project; each user message starts a run, the agent loop
//! (`agent_loop`), as background work that outlives the request, the
//! browser tab and a slow client. Its events stream to listeners from
//! memory and reach the database in batches (`live`). One run per session
//! at a time: the session row's status is claimed by one conditional
//! update, so two processes cannot both start one.

pub mod agent_loop;
mod builtins;
pub mod context;
pub mod lab;
pub mod live;
mod peers;
mod sqlite_writes;
pub mod store;
pub mod tools;
pub mod unattended;

use std::sync::Arc;
use std::time::Duration;

use chrono::DateTime;
use serde::Deserialize;
use uuid::Uuid;

use self::agent_loop::{Outcome, Plan, Totals};
use self::live::LiveRun;
use self::store::{MessageRow, RunRow, SessionRow, MESSAGE_COLUMNS, RUN_COLUMNS, SESSION_COLUMNS};
use super::audit::{self, AuditEvent};
use super::billing::metering::{self, Source, Usage};
use super::models::{Model, Provider};
use super::paging::{Cursor, PageRequest};
use super::{agents, projects, validate, workspaces, Actor, Ctx, DomainResult};
use crate::db::{exec_on_db, is_unique_violation, on_db};
use crate::model::{AgentView, AppError, ErrorCode, MessageView, OrgSummary, Page, RunAnswer, RunView, SessionView};

const CONTENT_MAX_CHARS: usize = 100_000;
const TITLE_MAX_CHARS: usize = 200;
const CLIENT_ID_MAX_CHARS: usize = 200;
pub const STATUSES: &[&str] = &["idle", "running", "awaiting_peer", "failed", "cancelled"];

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewSession {
    pub project_id: Uuid,
    pub agent_id: Uuid,
    #[serde(default)]
    pub workspace_id: Option<Uuid>,
    /// Default: "Chat with <agent name>".
    #[serde(default)]
    #[schema(max_length = 200)]
    pub title: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewMessage {
    #[schema(min_length = 1, max_length = 100000, pattern = r"[^\s\u001c-\u001f\u0085\ufeff]")]
    pub content: String,
    /// The client's id for this message: sending it again attaches to the
    /// run it started instead of starting another.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200)]
    pub client_message_id: Option<String>,
}

/// `GET /sessions` filters.
#[derive(Debug, Default, Clone)]
pub struct SessionFilter {
    pub project_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
    pub status: Option<String>,
}

/// The session of this org with this id, or a 404.
pub async fn find(ctx: &Ctx, org: &OrgSummary, id: Uuid) -> DomainResult<SessionRow> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM chat_sessions WHERE org_id = $1 AND id = $2");
    let row: Option<SessionRow> =
        on_db!(&ctx.db, |p| sqlx::query_as(&sql).bind(org.id).bind(id).fetch_optional(p).await)?;
    row.ok_or_else(AppError::not_found)
}

pub async fn get(ctx: &Ctx, org: &OrgSummary, id: Uuid) -> DomainResult<SessionView> {
    Ok(find(ctx, org, id).await?.view())
}

pub async fn create(ctx: &Ctx, actor: &Actor, org: &OrgSummary, input: NewSession) -> DomainResult<SessionView> {
    // Every id names something of this org, or it is a 404.
    projects::get(ctx, org, input.project_id).await?;
    let agent = agents::get(ctx, org, input.agent_id).await?;
    if let Some(workspace) = input.workspace_id {
        workspaces::get(ctx, org, workspace).await?;
    }
    let title = match validate::optional_text("title", input.title.clone(), TITLE_MAX_CHARS)? {
        Some(title) => title,
        None => format!("Chat with {}", agent.name),
    };
    let id = insert_session(ctx, org, &input, &title, Some(actor.user_id())).await?;
    get(ctx, org, id).await
}

/// Records an idle session (its ids already checked against the org).
async fn insert_session(
    ctx: &Ctx,
    org: &OrgSummary,
    input: &NewSession,
    title: &str,
    created_by: Option<Uuid>,
) -> DomainResult<Uuid> {
    let id = Uuid::new_v4();
    let now = ctx.clock.now();
    exec_on_db!(&ctx.db, |p| sqlx::query(
        "INSERT INTO chat_sessions (id, org_id, project_id, agent_id, workspace_id, title, status, created_by, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'idle', $7, $8, $8)"
    )
    .bind(id)
    .bind(org.id)
    .bind(input.project_id)
    .bind(input.agent_id)
    .bind(input.workspace_id)
    .bind(title)
    .bind(created_by)
    .bind(now)
    .execute(p)
    .await)?;
    Ok(id)
}

pub async fn list(
    ctx: &Ctx,
    org: &OrgSummary,
    filter: &SessionFilter,
    page: PageRequest,
) -> DomainResult<Page<SessionView>> {
    if let Some(status) = &filter.status {
        if !STATUSES.contains(&status.as_str()) {
            return Err(AppError::validation("status", format!("status must be one of {}", STATUSES.join(", "))));
        }
    }
    let (before_at, before_id) = page.bounds();
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM chat_sessions WHERE org_id = $1 \
         AND ($2 IS NULL OR project_id = $2) AND ($3 IS NULL OR agent_id = $3) AND ($4 IS NULL OR status = $4) \
         AND (created_at < $5 OR (created_at = $5 AND id < $6)) ORDER BY created_at DESC, id DESC LIMIT $7"
    );
    let rows: Vec<SessionRow> = on_db!(&ctx.db, |p| sqlx::query_as(&sql)
        .bind(org.id)
        .bind(filter.project_id)
        .bind(filter.agent_id)
        .bind(&filter.status)
        .bind(before_at)
        .bind(before_id)
        .bind(page.fetch_limit())
        .fetch_all(p)
        .await)?;
    Ok(page.finish(rows, |r| Cursor { created_at: r.created_at, id: r.id }, SessionRow::view))
}

/// The transcript, oldest first. The cursor holds the position of the
/// last message seen (as `slice` does for in-memory lists).
pub async fn messages(ctx: &Ctx, org: &OrgSummary, id: Uuid, page: PageRequest) -> DomainResult<Page<MessageView>> {
    find(ctx, org, id).await?;
    let after = page.after.map_or(0, |c| c.created_at.timestamp_micros());
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = $1 AND position > $2 ORDER BY position LIMIT $3"
    );
    let rows: Vec<MessageRow> =
        on_db!(&ctx.db, |p| sqlx::query_as(&sql).bind(id).bind(after).bind(page.fetch_limit()).fetch_all(p).await)?;
    let key = |r: &MessageRow| Cursor {
        created_at: DateTime::from_timestamp_micros(r.position).unwrap_or_default(),
        id: Uuid::nil(),
    };
    Ok(page.finish(rows, key, MessageRow::view))
}

async fn find_run(ctx: &Ctx, org: &OrgSummary, run_id: Uuid) -> DomainResult<RunRow> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE org_id = $1 AND id = $2");
    let row: Option<RunRow> =
        on_db!(&ctx.db, |p| sqlx::query_as(&sql).bind(org.id).bind(run_id).fetch_optional(p).await)?;
    row.ok_or_else(AppError::not_found)
}

pub async fn run(ctx: &Ctx, org: &OrgSummary, run_id: Uuid) -> DomainResult<RunView> {
    Ok(find_run(ctx, org, run_id).await?.view())
}

/// A run's answer once it ended: its last assistant message and the run.
pub async fn answer(ctx: &Ctx, org: &OrgSummary, run_id: Uuid) -> DomainResult<RunAnswer> {
    let run = find_run(ctx, org, run_id).await?;
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE run_id = $1 AND role = 'assistant' ORDER BY position DESC LIMIT 1"
    );
    let message: Option<MessageRow> = on_db!(&ctx.db, |p| sqlx::query_as(&sql).bind(run_id).fetch_optional(p).await)?;
    Ok(RunAnswer { message: message.map(MessageRow::view), run: run.view() })
}

/// Waits for the run to end (in whichever process it runs), then answers.
pub async fn wait_answer(ctx: &Ctx, org: &OrgSummary, run_id: Uuid) -> DomainResult<RunAnswer> {
    if let Some(live) = ctx.hub.by_run(run_id) {
        live.wait_finished().await;
    } else {
        while find_run(ctx, org, run_id).await?.status == "running" {
            tokio::time::sleep(live::FLUSH_EVERY).await;
        }
    }
    answer(ctx, org, run_id).await
}

/// Each agent's latest run: `(agent id, status, started at)`, newest
/// first (the agents page's "last run").
pub async fn last_runs(ctx: &Ctx, org: &OrgSummary) -> DomainResult<std::sync::Arc<Vec<crate::model::AgentLastRun>>> {
    super::cache::through(&ctx.caches.last_runs, org.id, ctx.clock.now(), || async {
        let rows: Vec<(Uuid, String, chrono::DateTime<chrono::Utc>)> = on_db!(&ctx.db, |p| sqlx::query_as(
            "SELECT r.agent_id, r.status, r.started_at FROM runs r WHERE r.org_id = $1 AND r.started_at = \
             (SELECT MAX(x.started_at) FROM runs x WHERE x.agent_id = r.agent_id) ORDER BY r.started_at DESC"
        )
        .bind(org.id)
        .fetch_all(p)
        .await)?;
        Ok::<_, AppError>(std::sync::Arc::new(
            rows.into_iter()
                .map(|(agent_id, status, at)| crate::model::AgentLastRun {
                    agent_id,
                    status,
                    started_at: super::clock::iso(at),
                })
                .collect(),
        ))
    })
    .await
}

/// What posting a message did.
pub struct Posted {
    pub run: RunView,
    /// False when `clientMessageId` named a message already sent: the run
    /// is the one it started.
    pub started: bool,
}

/// The agent's model, resolved for this run: the fast sibling in fast
/// mode when the model has one. Searched among every provider of the
/// operator and the org's own, whatever the package: a package that does
/// not cover it is metering's 402 `package_blocks`, not a missing model.
async fn resolve_model(ctx: &Ctx, org_id: Uuid, agent: &AgentView) -> DomainResult<(Provider, Model)> {
    pick_model(providers_of(ctx, org_id).await?, agent)
}

/// Every provider the org's agents may use: the operator's and its own.
async fn providers_of(ctx: &Ctx, org_id: Uuid) -> DomainResult<Vec<Provider>> {
    let mut providers = ctx.models.operator();
    providers.extend(super::byok::providers(ctx, org_id).await?);
    Ok(providers)
}

/// The agent's model among `providers` (see `resolve_model`).
fn pick_model(providers: Vec<Provider>, agent: &AgentView) -> DomainResult<(Provider, Model)> {
    if providers.is_empty() {
        return Err(AppError::new(
            ErrorCode::ServiceUnavailable,
            "No model provider is configured: an operator adds [[providers]] to the ALUMIA_CONFIG file (or runs \
             Ollama on this machine), or an owner adds the organization's own provider key",
        ));
    }
    let gone = || {
        AppError::new(
            ErrorCode::Conflict,
            format!("The agent's model {:?} is not offered any more: pick another one for the agent", agent.model),
        )
    };
    let (provider_id, model_id) = agent.model.split_once('/').ok_or_else(gone)?;
    let provider = providers.into_iter().find(|p| p.id == provider_id).ok_or_else(gone)?;
    let model = provider.models.iter().find(|m| m.id == model_id).cloned().ok_or_else(gone)?;
    let model = match (&model.fast_sibling, agent.fast_mode) {
        (Some(sibling), true) => provider.models.iter().find(|m| &m.id == sibling).cloned().unwrap_or(model),
        _ => model,
    };
    Ok((provider, model))
}

fn source_of(provider: &Provider) -> Option<Source> {
    if provider.byok {
        Some(Source::Byok)
    } else if provider.managed {
        Some(Source::Managed)
    } else {
        None
    }
}

/// SPEC §7: 60 messages a minute per user and client IP, for the
/// dashboard and `/api/v1` alike. The error carries `retryAfterMs` for the
/// chat's own 429 body.
fn chat_limit(ctx: &Ctx, actor: &Actor) -> DomainResult<()> {
    let key = format!("{}:{}", actor.user_id(), actor.ip().unwrap_or("-"));
    ctx.limits.wait_for(&ctx.limits.chat, key).map_err(|wait| {
        let millis = (wait.as_millis() as u64).max(1);
        let seconds = millis.div_ceil(1000);
        AppError::too_many_requests(seconds)
            .with_details(serde_json::json!({ "retryAfterSeconds": seconds, "retryAfterMs": millis }))
    })
}

fn busy() -> AppError {
    AppError::new(ErrorCode::Conflict, "The session is busy: a run is in progress; wait for it or cancel it")
}

/// A `clientMessageId` the session already holds (sent twice at once).
fn already_sent() -> AppError {
    AppError::new(ErrorCode::Conflict, "This message was already sent")
}

/// The run a message with this client id started, if one was sent.
async fn replayed(ctx: &Ctx, org: &OrgSummary, session_id: Uuid, client_id: &str) -> DomainResult<Option<RunView>> {
    let run_id: Option<Option<Uuid>> = on_db!(&ctx.db, |p| sqlx::query_scalar(
        "SELECT run_id FROM messages WHERE session_id = $1 AND client_message_id = $2"
    )
    .bind(session_id)
    .bind(client_id)
    .fetch_optional(p)
    .await)?;
    match run_id.flatten() {
        Some(run_id) => Ok(Some(run(ctx, org, run_id).await?)),
        None => Ok(None),
    }
}

/// Posts a user message and starts a run for it, in the background.
pub async fn post_message(
    ctx: &Ctx,
    actor: &Actor,
    org: &OrgSummary,
    session_id: Uuid,
    input: NewMessage,
) -> DomainResult<Posted> {
    let session = find(ctx, org, session_id).await?;
    post_message_to(ctx, actor, org, session, input).await
}

/// [`post_message`] to a session already read (`find`): the API reads it
/// before the body, for its 404, and the run needs no second read.
pub async fn post_message_to(
    ctx: &Ctx,
    actor: &Actor,
    org: &OrgSummary,
    session: SessionRow,
    input: NewMessage,
) -> DomainResult<Posted> {
    let session_id = session.id;
    let content = input.content.trim().to_string();
    if content.is_empty() {
        return Err(AppError::validation("content", "content: write a message"));
    }
    if content.chars().count() > CONTENT_MAX_CHARS {
        return Err(AppError::validation("content", format!("content: at most {CONTENT_MAX_CHARS} characters")));
    }
    let client_id = validate::optional_text("clientMessageId", input.client_message_id, CLIENT_ID_MAX_CHARS)?;
    if let Some(client_id) = &client_id {
        if let Some(run) = replayed(ctx, org, session_id, client_id).await? {
            return Ok(Posted { run, started: false });
        }
    }
    // After the replay check: a message sent again does not count.
    chat_limit(ctx, actor)?;
    if matches!(session.status.as_str(), "running" | "awaiting_peer") {
        return Err(busy());
    }
    let agent = session_agent(ctx, org, &session).await?;
    let (provider, model) = resolve_model(ctx, org.id, &agent).await?;
    // Blocked before the first call: a 402, and nothing is recorded.
    if let Some(source) = source_of(&provider) {
        let estimate = model.charge_microunits((content.len() / 4) as u64, 500);
        metering::authorize(ctx, &Usage { org_id: org.id, agent_id: Some(agent.id), source, micros: estimate }).await?;
    }
    let turn = Turn { entries: vec![TurnEntry::user(content)], client_id: client_id.clone(), delivers: Vec::new() };
    let run = match launch(ctx, org, &session, agent, (provider, model), &turn).await {
        Ok(run) => run,
        Err(e) if e.code == ErrorCode::Conflict && client_id.is_some() => {
            // The same client id, sent twice at once: attach to the winner.
            let client_id = client_id.as_deref().unwrap_or_default();
            return match replayed(ctx, org, session_id, client_id).await? {
                Some(run) => Ok(Posted { run, started: false }),
                None => Err(e),
            };
        }
        Err(e) => return Err(e),
    };
    Ok(Posted { run: run.view(), started: true })
}

/// The session's agent, when it may still run.
async fn session_agent(ctx: &Ctx, org: &OrgSummary, session: &SessionRow) -> DomainResult<AgentView> {
    let agent = match agents::get(ctx, org, session.agent_id).await {
        Ok(agent) => agent,
        Err(e) if e.code == ErrorCode::NotFound => {
            return Err(AppError::new(ErrorCode::Conflict, "The session's agent was deleted"));
        }
        Err(e) => return Err(e),
    };
    if !agent.enabled {
        return Err(AppError::new(ErrorCode::Conflict, format!("The agent {:?} is disabled", agent.name)));
    }
    Ok(agent)
}

/// One message of the turn a run answers.
pub(crate) struct TurnEntry {
    /// `user` or `peer`.
    role: &'static str,
    content: String,
    from_agent_id: Option<Uuid>,
}

impl TurnEntry {
    fn user(content: String) -> TurnEntry {
        TurnEntry { role: "user", content, from_agent_id: None }
    }

    pub(crate) fn peer(content: String, from_agent_id: Uuid) -> TurnEntry {
        TurnEntry { role: "peer", content, from_agent_id: Some(from_agent_id) }
    }
}

/// What a run starts from: the messages of its turn, and for a turn of
/// peer messages, which ones it delivers (claimed with the session, so a
/// message starts one run at most).
pub(crate) struct Turn {
    pub(crate) entries: Vec<TurnEntry>,
    pub(crate) client_id: Option<String>,
    pub(crate) delivers: Vec<Uuid>,
}

/// Claims the session for a run of `turn` and starts it in the
/// background; answers the run as recorded (not read back: nothing else
/// has touched it yet). A busy session is a 409.
pub(crate) async fn launch(
    ctx: &Ctx,
    org: &OrgSummary,
    session: &SessionRow,
    agent: AgentView,
    (provider, model): (Provider, Model),
    turn: &Turn,
) -> DomainResult<RunRow> {
    let run_id = Uuid::new_v4();
    let resolved = format!("{}/{}", provider.id, model.id);
    let now = ctx.clock.now();
    let (first_seq, history) = begin_run(ctx, org, session, &agent, (run_id, now), &resolved, turn).await?;
    let recorded_run = RunRow {
        id: run_id,
        session_id: session.id,
        status: "running".into(),
        stop_reason: None,
        requested_model: agent.model.clone(),
        resolved_model: resolved,
        steps: 0,
        input_tokens: 0,
        output_tokens: 0,
        credit_microunits: 0,
        omitted_messages: 0,
        omitted_tokens: 0,
        error: None,
        started_at: now,
        finished_at: None,
    };
    let recorded = Recorded {
        org: org.clone(),
        project_id: session.project_id,
        session_id: session.id,
        run_id,
        first_seq,
        agent,
        model: (provider, model),
        history,
        answers_peers: !turn.delivers.is_empty(),
    };
    go(ctx, recorded).await;
    Ok(recorded_run)
}

/// A run recorded `running` (its session claimed), to start.
pub(crate) struct Recorded {
    pub org: OrgSummary,
    pub project_id: Uuid,
    pub session_id: Uuid,
    pub run_id: Uuid,
    /// The seq its events start at.
    pub first_seq: i64,
    pub agent: AgentView,
    pub model: (Provider, Model),
    /// The session's messages when the claim read them (SQLite); else the
    /// run reads them.
    pub history: Option<Vec<store::MessageRow>>,
    /// Whether the turn delivers peer messages.
    pub answers_peers: bool,
}

/// Starts a recorded run's loop in the background.
pub(crate) async fn go(ctx: &Ctx, run: Recorded) {
    let Recorded {
        org,
        project_id,
        session_id,
        run_id,
        first_seq,
        agent,
        model: (provider, model),
        history,
        answers_peers,
    } = run;
    let tools = ctx.tools.tools_for(ctx, org.id, &agent).await;
    let plan = Plan {
        source: source_of(&provider),
        org,
        project_id,
        session_id,
        run_id,
        agent,
        provider,
        model,
        started: std::time::Instant::now(),
        answers_peers,
    };
    let live = ctx.hub.insert(run_id, session_id, first_seq);
    spawn_run(ctx, live, plan, tools, history);
}

/// Claims the session, then records the run and the user's message, in
/// one transaction (on SQLite one trip: `sqlite_writes::claim`). Answers
/// the seq the run's events start at, and on SQLite the session's
/// messages read in the same trip.
#[allow(clippy::too_many_arguments)]
async fn begin_run(
    ctx: &Ctx,
    org: &OrgSummary,
    session: &SessionRow,
    agent: &AgentView,
    (run_id, now): (Uuid, DateTime<chrono::Utc>),
    resolved: &str,
    turn: &Turn,
) -> DomainResult<(i64, Option<Vec<store::MessageRow>>)> {
    // Owned, for the writer (`db::writer`).
    let (session_id, org_id, agent_id, model) = (session.id, org.id, agent.id, agent.model.clone());
    let (resolved, instance) = (resolved.to_string(), ctx.hub.instance.clone());
    let delivers = turn.delivers.clone();
    let entries: Vec<(&'static str, String, Option<Uuid>)> =
        turn.entries.iter().map(|e| (e.role, e.content.clone(), e.from_agent_id)).collect();
    let first_client_id = turn.client_id.clone();
    // SQLite: one trip to the writer's thread, ahead of queued flushes.
    if let crate::db::Db::Sqlite(pool) = &ctx.db {
        let claim = sqlite_writes::Claim {
            session_id,
            org_id,
            agent_id,
            run_id,
            requested_model: model,
            resolved_model: resolved,
            instance,
            now,
            delivers,
            entries,
            client_id: first_client_id,
        };
        return match sqlite_writes::claim(pool, claim).await {
            Ok(Some(claimed)) => Ok((claimed.last_seq.unwrap_or(0) + 1, Some(claimed.history))),
            Ok(None) => Err(busy()),
            Err(e) if is_unique_violation(&e, "client_message_id") => Err(already_sent()),
            Err(e) => Err(e.into()),
        };
    }
    let result: Result<Result<i64, AppError>, sqlx::Error> = crate::db::writer::write(&ctx.db, move |db| async move {
        on_db!(&db, |p| async {
            let mut tx = p.begin().await?;
            let claimed = sqlx::query(
                "UPDATE chat_sessions SET status = 'running', last_run_id = $2, updated_at = $3 \
                 WHERE id = $1 AND status NOT IN ('running', 'awaiting_peer')",
            )
            .bind(session_id)
            .bind(run_id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed == 0 {
                return Ok(Err(busy()));
            }
            sqlx::query(
                "INSERT INTO runs (id, org_id, session_id, agent_id, status, requested_model, resolved_model, steps, \
                 input_tokens, output_tokens, credit_microunits, owner, heartbeat_at, started_at) \
                 VALUES ($1, $2, $3, $4, 'running', $5, $6, 0, 0, 0, 0, $7, $8, $8)",
            )
            .bind(run_id)
            .bind(org_id)
            .bind(session_id)
            .bind(agent_id)
            .bind(&model)
            .bind(&resolved)
            .bind(&instance)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            for id in &delivers {
                let taken = sqlx::query(
                    "UPDATE peer_messages SET delivered_at = $2, run_id = $3 WHERE id = $1 AND delivered_at IS NULL",
                )
                .bind(id)
                .bind(now)
                .bind(run_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if taken == 0 {
                    // Delivered meanwhile (a `check_messages`, another process).
                    return Ok(Err(busy()));
                }
            }
            for (i, (role, content, from_agent_id)) in entries.iter().enumerate() {
                let client_id = if i == 0 { first_client_id.as_deref() } else { None };
                let inserted = sqlx::query(
                    "INSERT INTO messages (id, org_id, session_id, run_id, position, role, content, from_agent_id, \
                     client_message_id, created_at) SELECT $1, $2, $3, $4, COALESCE(MAX(position), 0) + 1, $5, $6, $7, \
                     $8, $9 FROM messages WHERE session_id = $3",
                )
                .bind(Uuid::new_v4())
                .bind(org_id)
                .bind(session_id)
                .bind(run_id)
                .bind(*role)
                .bind(content)
                .bind(*from_agent_id)
                .bind(client_id)
                .bind(now)
                .execute(&mut *tx)
                .await;
                match inserted {
                    Err(e) if is_unique_violation(&e, "client_message_id") => {
                        return Ok(Err(already_sent()));
                    }
                    other => other?,
                };
            }
            let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM run_events WHERE session_id = $1")
                .bind(session_id)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Ok(last.unwrap_or(0) + 1))
        }
        .await)
    })
    .await;
    Ok((result??, None))
}

/// Starts the loop and its event writer. A panic of the loop is caught
/// and recorded as a failed run instead of leaving it `running`.
fn spawn_run(
    ctx: &Ctx,
    live: Arc<LiveRun>,
    plan: Plan,
    tools: Vec<Arc<dyn tools::Tool>>,
    history: Option<Vec<store::MessageRow>>,
) {
    use futures::FutureExt;
    tokio::spawn(live::keep(ctx.clone(), live.clone()));
    // The loop is spawned last, and in the same task as its supervisor:
    // tokio runs the task a worker spawned last next (its LIFO slot), and
    // each spawn after it sent it to the back of a queue that, with a
    // hundred chats streaming, took milliseconds to come round (a third
    // of the first token's overhead in the chat benchmark).
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let run = agent_loop::drive(ctx.clone(), live.clone(), plan.clone(), tools, history);
        if let Err(panic) = std::panic::AssertUnwindSafe(run).catch_unwind().await {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(run = %plan.run_id, panic = %message, "an agent run panicked");
            if !live.is_finished() {
                let outcome = Outcome { stop_reason: "interrupted", error: Some("Internal error".into()) };
                agent_loop::finish(&ctx, &live, &plan, outcome, Totals::default()).await;
            }
        }
    });
}

/// Cancels the session's run: at once when it runs in this process, else
/// by the `run_cancel` signal to its process (which also reads the run
/// row every 400 ms, should the signal be missed). 409 when nothing runs.
pub async fn cancel(ctx: &Ctx, actor: &Actor, org: &OrgSummary, session_id: Uuid) -> DomainResult<RunView> {
    let session = find(ctx, org, session_id).await?;
    let Some(run_id) = session.last_run_id else {
        return Err(nothing_runs());
    };
    if !request_stop(ctx, run_id).await? {
        return Err(nothing_runs());
    }
    // A stop someone asked for: who, and which run.
    let event = AuditEvent {
        org_id: Some(org.id),
        action: "session.cancel",
        target: Some(session_id.to_string()),
        details: Some(serde_json::json!({ "runId": run_id })),
    };
    audit::record(ctx, actor.into(), event).await?;
    if let Some(live) = ctx.hub.get(session_id).filter(|l| l.run_id == run_id) {
        live.cancel.cancel();
        live.wait_finished().await;
    } else {
        // Another process: its run stops within a second; wait that long.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while find_run(ctx, org, run_id).await?.status == "running" && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    run(ctx, org, run_id).await
}

/// Asks the run to stop, in whichever process it runs, without waiting:
/// `false` when it is not running.
pub(crate) async fn request_stop(ctx: &Ctx, run_id: Uuid) -> DomainResult<bool> {
    let changed = exec_on_db!(&ctx.db, |p| sqlx::query(
        "UPDATE runs SET cancel_requested_at = $2 WHERE id = $1 AND status = 'running'"
    )
    .bind(run_id)
    .bind(ctx.clock.now())
    .execute(p)
    .await)?;
    if changed == 0 {
        return Ok(false);
    }
    // The run's process, this one or another, stops it on this signal.
    ctx.events.publish(&ctx.db, super::events::Topic::RunCancel, run_id).await;
    if let Some(live) = ctx.hub.by_run(run_id) {
        live.cancel.cancel();
    }
    Ok(true)
}

fn nothing_runs() -> AppError {
    AppError::new(ErrorCode::Conflict, "Nothing is running in this session")
}

/// At start, and every few seconds after: runs whose process stopped are
/// marked `interrupted` (on SQLite, the only process, all of them at start).
pub fn spawn_interrupted_sweeper(ctx: &Ctx) {
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let single_process = matches!(ctx.db, crate::db::Db::Sqlite(_));
        let mut first = true;
        loop {
            let stale = ctx.clock.now() - chrono::Duration::from_std(live::STALE_AFTER).unwrap_or_default();
            match store::mark_interrupted(&ctx, first && single_process, stale).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(runs = n, "marked runs of a stopped server process interrupted"),
                Err(e) => tracing::warn!(error = %e, "looking for interrupted runs failed"),
            }
            if single_process {
                // Every run left is this process's own.
                return;
            }
            first = false;
            tokio::time::sleep(live::HEARTBEAT_EVERY).await;
        }
    });
}

/// The seq a run's events start at: what a stream of just that run
/// replays after (minus one).
pub async fn run_start_seq(ctx: &Ctx, session_id: Uuid, run_id: Uuid) -> DomainResult<i64> {
    if let Some(live) = ctx.hub.get(session_id).filter(|l| l.run_id == run_id) {
        return Ok(live.first_seq);
    }
    let first: Option<i64> = on_db!(&ctx.db, |p| sqlx::query_scalar(
        "SELECT MIN(first_seq) FROM run_events WHERE session_id = $1 AND run_id = $2"
    )
    .bind(session_id)
    .bind(run_id)
    .fetch_one(p)
    .await)?;
    Ok(first.unwrap_or(1))
}
