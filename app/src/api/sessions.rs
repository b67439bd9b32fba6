//! The lab's server functions (SPEC §10): the project's sessions, a
//! session's transcript, starting a session, sending a message and
//! cancelling a run; the same domain calls as `/api/v1/sessions`. The
//! page follows a run's events from `/api/v1/sessions/{id}/events`.

use leptos::prelude::*;
use uuid::Uuid;

#[cfg(feature = "ssr")]
use super::support::*;
#[cfg(feature = "ssr")]
use crate::domain;
use crate::model::{AppError, ChatView, LabView, RunStartedView, SessionView};

#[server(prefix = "/fn", endpoint = "get_lab")]
pub async fn get_lab(org: String, project: String) -> Result<LabView, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = member_of(&ctx, &actor, &org).await?;
    let lab = domain::sessions::lab::lab(&ctx, &org, &project).await;
    if lab.as_ref().is_err_and(|e| e.code == crate::model::ErrorCode::NotFound) {
        // The page of a project that is not there is a 404, as for an org.
        set_page_status(http::StatusCode::NOT_FOUND);
    }
    lab
}

#[server(prefix = "/fn", endpoint = "get_chat")]
pub async fn get_chat(org: String, session: Uuid) -> Result<ChatView, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = member_of(&ctx, &actor, &org).await?;
    domain::sessions::lab::chat(&ctx, &org, session).await
}

#[server(prefix = "/fn", endpoint = "start_session")]
pub async fn start_session(org: String, project: Uuid, agent: Uuid) -> Result<SessionView, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = member_of(&ctx, &actor, &org).await?;
    let input = domain::sessions::NewSession { project_id: project, agent_id: agent, workspace_id: None, title: None };
    let session = domain::sessions::create(&ctx, &actor, &org, input).await?;
    // The page goes to the new session's chat (with or without JavaScript).
    let project = domain::projects::get(&ctx, &org, project).await?;
    leptos_axum::redirect(&format!("/{}/projects/{}?session={}", org.slug, project.slug, session.id));
    Ok(session)
}

/// Sends a message and answers once the run started; a plain form post
/// (no JavaScript) waits for the run to end, so the page it returns to
/// shows the answer.
#[server(prefix = "/fn", endpoint = "send_chat_message")]
pub async fn send_chat_message(
    org: String,
    session: Uuid,
    content: String,
    client_message_id: Option<String>,
) -> Result<RunStartedView, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = member_of(&ctx, &actor, &org).await?;
    let input =
        domain::sessions::NewMessage { content, client_message_id: client_message_id.filter(|c| !c.is_empty()) };
    let posted = domain::sessions::post_message(&ctx, &actor, &org, session, input).await?;
    let after = domain::sessions::run_start_seq(&ctx, session, posted.run.id).await? - 1;
    if posted_without_javascript() {
        domain::sessions::wait_answer(&ctx, &org, posted.run.id).await?;
    }
    Ok(RunStartedView { run: posted.run, after })
}

#[server(prefix = "/fn", endpoint = "cancel_chat_run")]
pub async fn cancel_chat_run(org: String, session: Uuid) -> Result<crate::model::RunView, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = member_of(&ctx, &actor, &org).await?;
    domain::sessions::cancel(&ctx, &actor, &org, session).await
}
