//! Download links (SPEC §16): after the org check, a URL valid for five
//! minutes. On S3 it is the bucket's presigned URL; on local disk it is
//! Alumia's own `/files/{id}/content?expires=…&sig=…`, signed with the
//! master key's HMAC over the file's id and the expiry, so a link opens
//! one file until it expires and a changed id, time or signature is a 403.

use chrono::Duration;
use uuid::Uuid;

use super::{find, open_row, row_in_project, storage::StoreError, FileRow, FileView, SELECT};
use crate::db::on_db;
use crate::domain::{Ctx, DomainResult};
use crate::model::{AppError, OrgSummary};

/// How long a download link works.
pub const VALID_FOR: Duration = Duration::minutes(5);
const PURPOSE: &str = "file-download";

fn message(id: Uuid, expires: i64) -> String {
    format!("{id}.{expires}")
}

/// Alumia's signed route for a file, valid `valid_for` from now.
pub fn local_url(ctx: &Ctx, id: Uuid, valid_for: Duration) -> String {
    let expires = (ctx.clock.now() + valid_for).timestamp();
    let sig = ctx.sealer.sign(PURPOSE, &message(id, expires));
    format!("{}/files/{id}/content?expires={expires}&sig={sig}", ctx.settings.public_url)
}

/// A link to the org's file for the next five minutes.
pub async fn download_url(ctx: &Ctx, org: &OrgSummary, id: Uuid) -> DomainResult<String> {
    let row = find(ctx, org, id).await?;
    url_of(ctx, &row).await
}

/// A file of a shared canvas and a link to it (the caller checked the
/// share); `None` once it was deleted.
pub async fn shared(ctx: &Ctx, project_id: Uuid, id: Uuid) -> DomainResult<Option<(FileView, String)>> {
    match row_in_project(ctx, project_id, id).await? {
        Some(row) => {
            let url = url_of(ctx, &row).await?;
            Ok(Some((row.view(), url)))
        }
        None => Ok(None),
    }
}

async fn url_of(ctx: &Ctx, row: &FileRow) -> DomainResult<String> {
    let key = object_store::path::Path::from(row.object_key.as_str());
    let valid = VALID_FOR.to_std().expect("a positive duration");
    match ctx.storage.presigned(&key, valid).await.map_err(|e: StoreError| super::store_failed(e))? {
        Some(url) => Ok(url),
        None => Ok(local_url(ctx, row.id, VALID_FOR)),
    }
}

fn refused() -> AppError {
    AppError::forbidden("This download link is not valid (it may have expired): ask for a new one")
}

/// The file a signed local link opens, with its bytes: 403 for a bad or
/// expired signature, 404 once the file is deleted.
pub async fn open_signed(
    ctx: &Ctx,
    id: Uuid,
    expires: i64,
    sig: &str,
) -> DomainResult<(FileView, futures::stream::BoxStream<'static, Result<bytes::Bytes, StoreError>>)> {
    if !ctx.sealer.verify(PURPOSE, &message(id, expires), sig) {
        return Err(refused());
    }
    if ctx.clock.now().timestamp() > expires {
        return Err(refused());
    }
    let sql = format!("{SELECT} WHERE f.id = $1 AND f.deleted_at IS NULL");
    let row: Option<FileRow> = on_db!(&ctx.db, |p| sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?;
    open_row(ctx, row.ok_or_else(AppError::not_found)?).await
}
