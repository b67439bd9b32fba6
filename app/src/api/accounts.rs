use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::support::*;
#[cfg(feature = "ssr")]
use crate::domain;
use crate::model::{AppError, SecurityPage};

/// Where a signed-in user lands: `next` when safe, else their first org,
/// else the create-org page.
#[cfg(feature = "ssr")]
pub(crate) async fn landing(ctx: &domain::Ctx, user_id: uuid::Uuid, next: Option<String>) -> Result<String, AppError> {
    if let Some(next) = safe_next(next) {
        return Ok(next);
    }
    let orgs = domain::orgs::list_for_user(ctx, user_id).await?;
    Ok(orgs.first().map(|o| format!("/{}", o.slug)).unwrap_or_else(|| "/new".to_string()))
}

#[server(prefix = "/fn", endpoint = "sign_up")]
pub async fn sign_up(email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    let ctx = ctx()?;
    let client = client_info().await;
    let signed = domain::accounts::sign_up(&ctx, &client, &email, &password).await?;
    begin_session(signed.session_id).await?;
    leptos_axum::redirect(&safe_next(next).unwrap_or_else(|| "/new".to_string()));
    Ok(())
}

#[server(prefix = "/fn", endpoint = "sign_in")]
pub async fn sign_in(email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    let ctx = ctx()?;
    let client = client_info().await;
    match domain::accounts::sign_in(&ctx, &client, &email, &password).await? {
        domain::accounts::SignInStep::SignedIn(signed) => {
            begin_session(signed.session_id).await?;
            leptos_axum::redirect(&landing(&ctx, signed.user_id, next).await?);
        }
        domain::accounts::SignInStep::SecondFactor { user_id } => {
            super::security::await_second_factor(&ctx, user_id).await?;
            let query =
                safe_next(next).map(|n| format!("?next={}", crate::model::encode_query_value(&n))).unwrap_or_default();
            leptos_axum::redirect(&format!("/login/verify{query}"));
        }
    }
    Ok(())
}

#[server(prefix = "/fn", endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    if let Some(actor) = current_actor().await? {
        domain::accounts::sign_out(&ctx()?, &actor).await?;
    }
    session().await?.flush().await.map_err(|_| AppError::internal())?;
    leptos_axum::redirect("/login");
    Ok(())
}

#[server(prefix = "/fn", endpoint = "sign_out_other_sessions")]
pub async fn sign_out_other_sessions() -> Result<u64, AppError> {
    let actor = require_actor().await?;
    domain::accounts::sign_out_other_sessions(&ctx()?, &actor).await
}

#[server(prefix = "/fn", endpoint = "get_security_page")]
pub async fn get_security_page() -> Result<SecurityPage, AppError> {
    let actor = require_actor().await?;
    domain::security::page(&ctx()?, &actor).await
}

/// Where `/` sends the visitor.
#[server(prefix = "/fn", endpoint = "home_target")]
pub async fn home_target() -> Result<String, AppError> {
    match current_actor().await? {
        None => Ok("/login".to_string()),
        Some(actor) => landing(&ctx()?, actor.user_id(), None).await,
    }
}

/// Whether a visitor of the sign-in pages already has a session.
#[server(prefix = "/fn", endpoint = "signed_in_target")]
pub async fn signed_in_target() -> Result<Option<String>, AppError> {
    match current_actor().await? {
        None => Ok(None),
        Some(actor) => Ok(Some(landing(&ctx()?, actor.user_id(), None).await?)),
    }
}
