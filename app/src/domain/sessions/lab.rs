//! What the lab page shows (SPEC §10 "The lab"): a project's sessions and
//! the chat of one, shaped for the page.

use uuid::Uuid;

use super::store::{MessageRow, MESSAGE_COLUMNS};
use super::{run, run_start_seq, SessionFilter};
use crate::db::on_db;
use crate::domain::paging::{PageRequest, MAX_LIMIT};
use crate::domain::{agents, projects, Ctx, DomainResult};
use crate::model::{ChatView, LabView, OrgSummary};

/// The transcript the page shows at most (the newest messages).
const CHAT_MESSAGES: i64 = 500;

pub async fn lab(ctx: &Ctx, org: &OrgSummary, project_slug: &str) -> DomainResult<LabView> {
    let project = projects::get_by_slug(ctx, org, project_slug).await?;
    let page = PageRequest::parse(Some(MAX_LIMIT), None)?;
    let agents = agents::list(ctx, org, page).await?.items;
    let filter = SessionFilter { project_id: Some(project.id), ..Default::default() };
    let sessions = super::list(ctx, org, &filter, page).await?.items;
    let has_models = !crate::domain::models::providers_for(ctx, org.id).await?.is_empty();
    Ok(LabView { project, agents, sessions, has_models })
}

pub async fn chat(ctx: &Ctx, org: &OrgSummary, session_id: Uuid) -> DomainResult<ChatView> {
    let session = super::get(ctx, org, session_id).await?;
    let agent_name = match agents::get(ctx, org, session.agent_id).await {
        Ok(agent) => agent.name,
        Err(e) if e.code == crate::model::ErrorCode::NotFound => "a deleted agent".to_string(),
        Err(e) => return Err(e),
    };
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM (SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = $1 \
         ORDER BY position DESC LIMIT $2) AS newest ORDER BY position"
    );
    let rows: Vec<MessageRow> =
        on_db!(&ctx.db, |p| sqlx::query_as(&sql).bind(session_id).bind(CHAT_MESSAGES).fetch_all(p).await)?;
    let last_run = match session.last_run_id {
        Some(id) => Some(run(ctx, org, id).await?),
        None => None,
    };
    let running = last_run.as_ref().filter(|r| r.status == "running");
    let follow_after = match running {
        Some(r) => Some(run_start_seq(ctx, session_id, r.id).await? - 1),
        None => None,
    };
    // While a run goes on, its answer so far comes from its events (the
    // page replays them), so its stored messages other than the user's
    // would show twice.
    let current = running.map(|r| r.id);
    let messages: Vec<_> = rows
        .into_iter()
        .filter(|m| current.is_none() || m.run_id != current || m.role == "user" || m.role == "peer")
        .map(MessageRow::view)
        .collect();
    // Who wrote the peer messages, by name (deleted agents stay named).
    let mut peer_names: Vec<(Uuid, String)> = Vec::new();
    for id in messages.iter().filter_map(|m| m.from_agent_id) {
        if !peer_names.iter().any(|(known, _)| *known == id) {
            let name: Option<String> =
                on_db!(&ctx.db, |p| sqlx::query_scalar("SELECT name FROM agents WHERE org_id = $1 AND id = $2")
                    .bind(org.id)
                    .bind(id)
                    .fetch_optional(p)
                    .await)?;
            peer_names.push((id, name.unwrap_or_else(|| "a deleted agent".into())));
        }
    }
    Ok(ChatView { session, agent_name, messages, peer_names, last_run, follow_after })
}
