//! The lab's files server function (SPEC §16): deleting a file, the same
//! domain call as `DELETE /api/v1/files/{id}`. Uploads post the form to
//! `/api/v1/files` itself (a streamed multipart body, no server function);
//! the list comes with the canvas.

use leptos::prelude::*;
use uuid::Uuid;

#[cfg(feature = "ssr")]
use super::support::*;
#[cfg(feature = "ssr")]
use crate::domain;
use crate::model::{AppError, FileView};

#[server(prefix = "/fn", endpoint = "delete_file")]
pub async fn delete_file(org: String, id: Uuid) -> Result<FileView, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = domain::orgs::membership(&ctx.db, actor.user_id(), &org).await?;
    domain::files::delete(&ctx, &actor, &org, id).await
}
