//! Peer messaging's built-in tools (SPEC §10): agents of the same org find
//! each other. `list_agents` is here; `message_agent` and
//! `check_messages` come with peer sessions.

use std::sync::Arc;

use serde_json::{json, Value};
use uuid::Uuid;

use super::tools::{Tool, ToolContext, ToolFailure, ToolSource};
use crate::db::on_db;
use crate::domain::providers::ToolSpec;
use crate::domain::Ctx;
use crate::model::AgentView;

pub struct PeerTools;

#[async_trait::async_trait]
impl ToolSource for PeerTools {
    async fn tools(&self, _ctx: &Ctx, _org_id: Uuid, agent: &AgentView) -> Vec<Arc<dyn Tool>> {
        vec![Arc::new(ListAgents { peers: agent.peers.clone() })]
    }
}

/// `list_agents {}` → the agents this one may message: `[{id, name,
/// description, status}]`, where `status` is that agent's session in this
/// project (`idle` when it has none yet) or `disabled`.
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
        .bind(cx.org_id)
        .bind(cx.agent_id)
        .bind(cx.project_id)
        .fetch_all(p)
        .await)
        .map_err(|_| ToolFailure("The agent list could not be read; try again".into()))?;
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
