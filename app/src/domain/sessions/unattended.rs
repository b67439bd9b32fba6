//! Runs nobody started from a chat (a schedule's firing): a new session of
//! the agent in the project, with the prompt as its first message. Why a
//! run could not start is told apart, so the caller can say it to people
//! (SPEC §11's failure reasons) instead of passing on an HTTP status.
//!
//! A minute's worth of firings starts in three steps, so that a thousand
//! schedules due at 09:00 start within a second:
//! 1. `prepare` checks each against what `Reads` read once per distinct
//!    agent, project, workspace, org (its providers) and allowance;
//! 2. the caller writes the `Record`s of the ready ones with
//!    `record_unattended!` in a transaction of its own (the runner's claim
//!    transaction: one commit for the batch);
//! 3. `go` starts each recorded run's loop.

use std::collections::HashMap;

use uuid::Uuid;

use super::{go, pick_model, providers_of, source_of, Recorded};
use crate::domain::billing::metering::{self, Allowance, Source};
use crate::domain::models::{Model, Provider};
use crate::domain::{agents, projects, workspaces, Ctx, DomainResult};
use crate::model::{AgentView, AppError, ErrorCode, OrgSummary};

/// Records one `record_unattended!` writes at most (11 bound values
/// each, well within either backend's limit on a statement's values).
pub const RECORDS_MAX: usize = 1000;

/// What to start.
#[derive(Debug, Clone)]
pub struct Unattended {
    pub project_id: Uuid,
    pub agent_id: Uuid,
    pub workspace_id: Option<Uuid>,
    pub title: String,
    pub prompt: String,
    /// Who the session is recorded as started by (the schedule's author).
    pub created_by: Option<Uuid>,
}

/// The run that started, and its session.
#[derive(Debug, Clone, Copy)]
pub struct Started {
    pub session_id: Uuid,
    pub run_id: Uuid,
}

/// Why the run did not start.
#[derive(Debug)]
pub enum Refused {
    AgentDeleted,
    AgentDisabled,
    ProjectDeleted,
    WorkspaceDeleted,
    /// 402: the billing reason (`no_credits`, `budget_exceeded`,
    /// `package_blocks`…) and its message.
    PaymentRequired {
        reason: String,
        message: String,
    },
    /// Anything else (no provider, the model gone, the database): its message.
    Failed(AppError),
}

impl Refused {
    /// The reason's name (SPEC §11).
    pub fn reason(&self) -> &'static str {
        match self {
            Refused::AgentDeleted => "agent_deleted",
            Refused::AgentDisabled => "agent_disabled",
            Refused::ProjectDeleted => "project_deleted",
            Refused::WorkspaceDeleted => "workspace_deleted",
            Refused::PaymentRequired { .. } => "payment_required",
            Refused::Failed(_) => "start_failed",
        }
    }

    /// What a person reads.
    pub fn message(&self) -> String {
        match self {
            Refused::AgentDeleted => "The schedule's agent was deleted".into(),
            Refused::AgentDisabled => "The schedule's agent is disabled".into(),
            Refused::ProjectDeleted => "The schedule's project was deleted".into(),
            Refused::WorkspaceDeleted => "The schedule's workspace was deleted".into(),
            Refused::PaymentRequired { message, .. } => message.clone(),
            Refused::Failed(e) => e.message.clone(),
        }
    }

    fn payment(e: AppError) -> Refused {
        if e.code != ErrorCode::PaymentRequired {
            return Refused::Failed(e);
        }
        let reason = e.details.as_ref().and_then(|d| d.get("reason")).and_then(|r| r.as_str());
        Refused::PaymentRequired { reason: reason.unwrap_or("payment_required").to_string(), message: e.message }
    }
}

fn gone_is(refused: Refused) -> impl FnOnce(AppError) -> Refused {
    move |e| if e.code == ErrorCode::NotFound { refused } else { Refused::Failed(e) }
}

/// What prepared runs read, each distinct thing once (a batch of firings
/// mostly shares a few agents, projects and orgs).
pub struct Reads<'c> {
    ctx: &'c Ctx,
    agents: HashMap<(Uuid, Uuid), DomainResult<AgentView>>,
    projects: HashMap<(Uuid, Uuid), DomainResult<()>>,
    workspaces: HashMap<(Uuid, Uuid), DomainResult<()>>,
    providers: HashMap<Uuid, DomainResult<Vec<Provider>>>,
    allowances: HashMap<(Uuid, Uuid, Source, bool), DomainResult<Allowance>>,
}

/// The cached answer for `key`, read by `read` the first time.
async fn once<K, V, F>(map: &mut HashMap<K, V>, key: K, read: F) -> &V
where
    K: std::hash::Hash + Eq + Clone,
    F: std::future::Future<Output = V>,
{
    if !map.contains_key(&key) {
        let value = read.await;
        map.insert(key.clone(), value);
    }
    &map[&key]
}

impl<'c> Reads<'c> {
    pub fn new(ctx: &'c Ctx) -> Reads<'c> {
        Reads {
            ctx,
            agents: HashMap::new(),
            projects: HashMap::new(),
            workspaces: HashMap::new(),
            providers: HashMap::new(),
            allowances: HashMap::new(),
        }
    }

    /// Checks that `what` may start now (agent enabled, project and
    /// workspace there, a model, the org's credits: the checks a chat
    /// message meets) and chooses its ids. Nothing is written.
    pub async fn prepare(&mut self, org: &OrgSummary, what: Unattended) -> Result<Ready, Refused> {
        let ctx = self.ctx;
        let agent = once(&mut self.agents, (org.id, what.agent_id), agents::get(ctx, org, what.agent_id)).await;
        let agent = agent.clone().map_err(gone_is(Refused::AgentDeleted))?;
        if !agent.enabled {
            return Err(Refused::AgentDisabled);
        }
        let project = projects::get(ctx, org, what.project_id);
        let project = once(&mut self.projects, (org.id, what.project_id), async { project.await.map(drop) }).await;
        project.clone().map_err(gone_is(Refused::ProjectDeleted))?;
        if let Some(workspace) = what.workspace_id {
            let read = workspaces::get(ctx, org, workspace);
            let read = once(&mut self.workspaces, (org.id, workspace), async { read.await.map(drop) }).await;
            read.clone().map_err(gone_is(Refused::WorkspaceDeleted))?;
        }
        let providers = once(&mut self.providers, org.id, providers_of(ctx, org.id)).await;
        let providers = providers.clone().map_err(Refused::Failed)?;
        let (provider, model) = pick_model(providers, &agent).map_err(Refused::Failed)?;
        // The same check a chat message meets: nothing is recorded on a 402.
        if let Some(source) = source_of(&provider) {
            let spends = !model.is_free();
            let key = (org.id, agent.id, source, spends);
            let read = metering::allowance(ctx, org.id, Some(agent.id), source, spends);
            let allowance = once(&mut self.allowances, key, read).await;
            let allowance = allowance.as_ref().map_err(|e| Refused::payment(e.clone()))?;
            let estimate = model.charge_microunits((what.prompt.len() / 4) as u64, 500);
            allowance.check(estimate).map_err(Refused::payment)?;
        }
        Ok(Ready { session_id: Uuid::new_v4(), run_id: Uuid::new_v4(), org: org.clone(), what, agent, provider, model })
    }
}

/// A run that may start: checked, its ids chosen, not yet written.
pub struct Ready {
    pub session_id: Uuid,
    pub run_id: Uuid,
    org: OrgSummary,
    what: Unattended,
    agent: AgentView,
    provider: Provider,
    model: Model,
}

/// The rows a ready run is recorded as (owned, for the writer's closure).
#[derive(Debug, Clone)]
pub struct Record {
    pub session_id: Uuid,
    pub run_id: Uuid,
    pub org_id: Uuid,
    pub project_id: Uuid,
    pub agent_id: Uuid,
    pub workspace_id: Option<Uuid>,
    pub title: String,
    pub prompt: String,
    pub created_by: Option<Uuid>,
    pub requested_model: String,
    pub resolved_model: String,
    /// The process the run belongs to (`runs.owner`).
    pub owner: String,
}

impl Ready {
    pub fn record(&self, ctx: &Ctx) -> Record {
        Record {
            session_id: self.session_id,
            run_id: self.run_id,
            org_id: self.org.id,
            project_id: self.what.project_id,
            agent_id: self.agent.id,
            workspace_id: self.what.workspace_id,
            title: self.what.title.clone(),
            prompt: self.what.prompt.clone(),
            created_by: self.what.created_by,
            requested_model: self.agent.model.clone(),
            resolved_model: format!("{}/{}", self.provider.id, self.model.id),
            owner: ctx.hub.instance.clone(),
        }
    }

    /// Starts the recorded run's loop (once `record_unattended!` committed).
    pub async fn go(self, ctx: &Ctx) -> Started {
        let started = Started { session_id: self.session_id, run_id: self.run_id };
        let recorded = Recorded {
            project_id: self.what.project_id,
            session_id: self.session_id,
            run_id: self.run_id,
            // A new session: its events start at 1.
            first_seq: 1,
            org: self.org,
            agent: self.agent,
            model: (self.provider, self.model),
            history: None,
            answers_peers: false,
        };
        go(ctx, recorded).await;
        started
    }
}

/// Writes `Record`s in the caller's transaction `$tx`: for each, the
/// session (already `running`, its run claimed), the run and the prompt as
/// the first message — three statements whatever their number (a batch of
/// firings is one round trip per table). A macro because the two
/// backends' transactions are different types; it answers a future of
/// `Result<(), sqlx::Error>`. At most `RECORDS_MAX` records.
#[macro_export]
macro_rules! record_unattended {
    ($tx:expr, $records:expr, $now:expr) => {
        async {
            let records: &[&$crate::domain::sessions::unattended::Record] = $records;
            let now = $now;
            if !records.is_empty() {
                sqlx::QueryBuilder::new(
                    "INSERT INTO chat_sessions (id, org_id, project_id, agent_id, workspace_id, title, status, \
                     created_by, last_run_id, created_at, updated_at) ",
                )
                .push_values(records, |mut row, r| {
                    row.push_bind(r.session_id)
                        .push_bind(r.org_id)
                        .push_bind(r.project_id)
                        .push_bind(r.agent_id)
                        .push_bind(r.workspace_id)
                        .push_bind(&r.title)
                        .push("'running'")
                        .push_bind(r.created_by)
                        .push_bind(r.run_id)
                        .push_bind(now)
                        .push_bind(now);
                })
                .build()
                .execute(&mut *$tx)
                .await?;
                sqlx::QueryBuilder::new(
                    "INSERT INTO runs (id, org_id, session_id, agent_id, status, requested_model, resolved_model, \
                     steps, input_tokens, output_tokens, credit_microunits, owner, heartbeat_at, started_at) ",
                )
                .push_values(records, |mut row, r| {
                    row.push_bind(r.run_id)
                        .push_bind(r.org_id)
                        .push_bind(r.session_id)
                        .push_bind(r.agent_id)
                        .push("'running'")
                        .push_bind(&r.requested_model)
                        .push_bind(&r.resolved_model)
                        .push("0")
                        .push("0")
                        .push("0")
                        .push("0")
                        .push_bind(&r.owner)
                        .push_bind(now)
                        .push_bind(now);
                })
                .build()
                .execute(&mut *$tx)
                .await?;
                sqlx::QueryBuilder::new(
                    "INSERT INTO messages (id, org_id, session_id, run_id, position, role, content, created_at) ",
                )
                .push_values(records, |mut row, r| {
                    row.push_bind(uuid::Uuid::new_v4())
                        .push_bind(r.org_id)
                        .push_bind(r.session_id)
                        .push_bind(r.run_id)
                        .push("1")
                        .push("'user'")
                        .push_bind(&r.prompt)
                        .push_bind(now);
                })
                .build()
                .execute(&mut *$tx)
                .await?;
            }
            Ok::<(), sqlx::Error>(())
        }
    };
}
pub use record_unattended;

/// Starts one run in the background; answers once it is recorded.
pub async fn start(ctx: &Ctx, org: &OrgSummary, what: Unattended) -> Result<Started, Refused> {
    let ready = Reads::new(ctx).prepare(org, what).await?;
    let record = ready.record(ctx);
    let now = ctx.clock.now();
    let written = crate::db::writer::write(&ctx.db, move |db| async move {
        crate::db::on_db!(&db, |p| async {
            let mut tx = p.begin().await?;
            record_unattended!(tx, &[&record], now).await?;
            tx.commit().await
        }
        .await)
    })
    .await;
    written.map_err(|e| Refused::Failed(e.into()))?;
    Ok(ready.go(ctx).await)
}
