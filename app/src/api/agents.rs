//! The agents page's server functions; the same domain calls as
//! `/api/v1/agents`. Checkboxes arrive as `Some("on")` when ticked.

// A server function's arguments are its form's fields.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;
use uuid::Uuid;

#[cfg(feature = "ssr")]
use super::support::*;
#[cfg(feature = "ssr")]
use crate::domain;
use crate::model::{AgentLastRun, AgentView, AppError, Page};

/// The newest 100 agents.
#[server(prefix = "/fn", endpoint = "list_agents")]
pub async fn list_agents(org: String) -> Result<Page<AgentView>, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = member_of(&ctx, &actor, &org).await?;
    Ok(domain::agents::list_for_page(&ctx, &org).await?.as_ref().clone())
}

/// Each agent's latest run (the list's "last run").
#[server(prefix = "/fn", endpoint = "list_agent_last_runs")]
pub async fn list_agent_last_runs(org: String) -> Result<Vec<AgentLastRun>, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = member_of(&ctx, &actor, &org).await?;
    Ok(domain::sessions::last_runs(&ctx, &org).await?.as_ref().clone())
}

#[cfg(feature = "ssr")]
fn max_steps(text: &str) -> Result<i64, AppError> {
    text.trim().parse().map_err(|_| AppError::validation("maxSteps", "maxSteps must be a whole number from 1 to 50"))
}

#[server(prefix = "/fn", endpoint = "create_agent")]
pub async fn create_agent(
    org: String,
    name: String,
    model: String,
    system_prompt: Option<String>,
    max_steps: String,
    fast_mode: Option<String>,
) -> Result<AgentView, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = domain::orgs::membership(&ctx.db, actor.user_id(), &org).await?;
    let input = domain::agents::NewAgent {
        name,
        model,
        system_prompt,
        max_steps: Some(self::max_steps(&max_steps)?),
        fast_mode: Some(fast_mode.is_some()),
        ..Default::default()
    };
    domain::agents::create(&ctx, &actor, &org, input).await
}

/// The edit form: every ordinary field at once (unticked boxes are off).
#[server(prefix = "/fn", endpoint = "update_agent")]
pub async fn update_agent(
    org: String,
    id: Uuid,
    name: String,
    model: String,
    system_prompt: Option<String>,
    max_steps: String,
    fast_mode: Option<String>,
    enabled: Option<String>,
) -> Result<AgentView, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = domain::orgs::membership(&ctx.db, actor.user_id(), &org).await?;
    let patch = domain::agents::AgentPatch {
        name: Some(name),
        model: Some(model),
        system_prompt: Some(system_prompt.unwrap_or_default()),
        max_steps: Some(self::max_steps(&max_steps)?),
        fast_mode: Some(fast_mode.is_some()),
        enabled: Some(enabled.is_some()),
        ..Default::default()
    };
    domain::agents::update(&ctx, &actor, &org, id, patch).await
}

#[cfg(feature = "ssr")]
fn comma_list(text: Option<String>) -> Vec<String> {
    text.unwrap_or_default().split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect()
}

/// The restrictions form: tools and peers as comma-separated lists of
/// tool names and agent names; empty means every tool, every agent.
/// Gated: needs a fresh step-up.
#[server(prefix = "/fn", endpoint = "set_agent_restrictions")]
pub async fn set_agent_restrictions(
    org: String,
    id: Uuid,
    tools: Option<String>,
    peers: Option<String>,
) -> Result<AgentView, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = domain::orgs::membership(&ctx.db, actor.user_id(), &org).await?;
    let tools = comma_list(tools);
    let peer_names = comma_list(peers);
    let peers = domain::agents::ids_by_name(&ctx, &org, &peer_names).await?;
    let patch = domain::agents::AgentPatch {
        tools: Some((!tools.is_empty()).then_some(tools)),
        peers: Some((!peers.is_empty()).then_some(peers)),
        ..Default::default()
    };
    domain::agents::update(&ctx, &actor, &org, id, patch).await
}

#[server(prefix = "/fn", endpoint = "delete_agent")]
pub async fn delete_agent(org: String, id: Uuid) -> Result<AgentView, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = domain::orgs::membership(&ctx.db, actor.user_id(), &org).await?;
    domain::agents::delete(&ctx, &actor, &org, id).await
}
