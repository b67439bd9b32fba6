use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::support::*;
#[cfg(feature = "ssr")]
use crate::domain;
use crate::model::{AppError, ModelView, Page};

#[server(prefix = "/fn", endpoint = "list_models")]
pub async fn list_models(org: String) -> Result<Page<ModelView>, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = member_of(&ctx, &actor, &org).await?;
    // Every model on one page: a catalogue is short.
    let page = domain::paging::PageRequest::parse(Some(domain::paging::MAX_LIMIT), None)?;
    domain::models::list(&ctx, &actor, &org, page).await
}
