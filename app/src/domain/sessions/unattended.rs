//! Runs nobody started from a chat (a schedule's firing): a new session of
//! the agent in the project, with the prompt as its first message. Why a
//! run could not start is told apart, so the caller can say it to people
//! (SPEC §11's failure reasons) instead of passing on an HTTP status.

use uuid::Uuid;

use super::{find, insert_session, launch, resolve_model, source_of, NewSession, Turn, TurnEntry};
use crate::domain::billing::metering::{self, Usage};
use crate::domain::{agents, projects, workspaces, Ctx};
use crate::model::{AppError, ErrorCode, OrgSummary};

/// What to start.
pub struct Unattended<'a> {
    pub project_id: Uuid,
    pub agent_id: Uuid,
    pub workspace_id: Option<Uuid>,
    pub title: String,
    pub prompt: &'a str,
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
}

fn gone_is(refused: Refused) -> impl FnOnce(AppError) -> Refused {
    move |e| if e.code == ErrorCode::NotFound { refused } else { Refused::Failed(e) }
}

/// Starts the run in the background; answers once it is recorded.
pub async fn start(ctx: &Ctx, org: &OrgSummary, what: Unattended<'_>) -> Result<Started, Refused> {
    let agent = agents::get(ctx, org, what.agent_id).await.map_err(gone_is(Refused::AgentDeleted))?;
    if !agent.enabled {
        return Err(Refused::AgentDisabled);
    }
    projects::get(ctx, org, what.project_id).await.map_err(gone_is(Refused::ProjectDeleted))?;
    if let Some(workspace) = what.workspace_id {
        workspaces::get(ctx, org, workspace).await.map_err(gone_is(Refused::WorkspaceDeleted))?;
    }
    let (provider, model) = resolve_model(ctx, org.id, &agent).await.map_err(Refused::Failed)?;
    // The same check a chat message meets: nothing is recorded on a 402.
    if let Some(source) = source_of(&provider) {
        let estimate = model.charge_microunits((what.prompt.len() / 4) as u64, 500);
        let usage = Usage { org_id: org.id, agent_id: Some(agent.id), source, micros: estimate };
        metering::authorize(ctx, &usage).await.map_err(|e| {
            if e.code == ErrorCode::PaymentRequired {
                let reason = e
                    .details
                    .as_ref()
                    .and_then(|d| d.get("reason"))
                    .and_then(|r| r.as_str())
                    .unwrap_or("payment_required")
                    .to_string();
                Refused::PaymentRequired { reason, message: e.message }
            } else {
                Refused::Failed(e)
            }
        })?;
    }
    let input =
        NewSession { project_id: what.project_id, agent_id: agent.id, workspace_id: what.workspace_id, title: None };
    let session_id = insert_session(ctx, org, &input, &what.title, what.created_by).await.map_err(Refused::Failed)?;
    let session = find(ctx, org, session_id).await.map_err(Refused::Failed)?;
    let turn = Turn { entries: vec![TurnEntry::user(what.prompt.to_string())], client_id: None, delivers: Vec::new() };
    let run_id = launch(ctx, org, &session, agent, (provider, model), &turn).await.map_err(Refused::Failed)?;
    Ok(Started { session_id, run_id })
}
