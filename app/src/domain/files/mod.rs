//! A project's files (SPEC §16): uploaded by members (the lab, `/api/v1`)
//! or written by agents, their bytes in the object store (`storage`), the
//! metadata here.
//!
//! An upload is streamed: each chunk is hashed, counted against the upload
//! cap (413) and the package's storage (402 `package_blocks`), and sent on
//! to the store part by part, so memory holds a few parts whatever the
//! file's size. The row is written once the object is complete, under the
//! org row's lock with the storage counted again, so two uploads at once
//! cannot both take the last room. Downloads go through short-lived
//! signed URLs (`links`), never a public path.

pub mod links;
pub mod storage;
pub mod sweeper;
pub mod tools;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::audit::{self, AuditActor, AuditEvent};
use super::billing::{metering, plans};
use super::canvas::Writer;
use super::paging::{Cursor, PageRequest};
use super::{projects, Actor, Ctx, DomainResult};
use crate::db::{exec_on_db, on_db};
use crate::model::{AppError, ErrorCode, FileView, OrgSummary, Page};

/// A megabyte as the caps count it (`ALUMIA_MAX_UPLOAD_MB`, the package's
/// `max_storage_mb`).
pub const MB: u64 = 1024 * 1024;
const NAME_MAX_CHARS: usize = 255;
const TYPE_MAX_CHARS: usize = 127;

#[derive(sqlx::FromRow)]
struct FileRow {
    id: Uuid,
    project_id: Uuid,
    name: String,
    content_type: String,
    size_bytes: i64,
    sha256: String,
    object_key: String,
    created_by: Option<Uuid>,
    created_by_agent: Option<Uuid>,
    agent_name: Option<String>,
    created_at: DateTime<Utc>,
}

impl FileRow {
    fn view(self) -> FileView {
        let created_by = super::canvas::author(self.created_by, self.created_by_agent, self.agent_name);
        FileView {
            id: self.id,
            project_id: self.project_id,
            name: self.name,
            content_type: self.content_type,
            size_bytes: self.size_bytes,
            sha256: self.sha256,
            created_by,
            created_at: super::clock::iso(self.created_at),
        }
    }
}

const SELECT: &str = "SELECT f.id, f.project_id, f.name, f.content_type, f.size_bytes, f.sha256, \
    f.object_key, f.created_by, f.created_by_agent, a.name AS agent_name, f.created_at \
    FROM files f LEFT JOIN agents a ON a.id = f.created_by_agent";

/// A file's name as given, made safe to show and to put in a header: the
/// last path segment, no control characters, at most 255 characters.
pub fn clean_name(raw: &str) -> DomainResult<String> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let name: String = last.chars().filter(|c| !c.is_control()).collect::<String>().trim().to_string();
    if name.is_empty() || name == "." || name == ".." {
        return Err(AppError::validation("file", "file: the part needs a file name"));
    }
    if name.chars().count() > NAME_MAX_CHARS {
        return Err(AppError::validation("file", format!("file: the name is over {NAME_MAX_CHARS} characters")));
    }
    Ok(name)
}

/// The type the client sent, if it is one (`type/subtype`, parameters
/// kept); anything else is stored as `application/octet-stream`.
pub fn clean_type(raw: Option<&str>) -> String {
    let fallback = || "application/octet-stream".to_string();
    let Some(raw) = raw.map(str::trim).filter(|t| !t.is_empty() && t.len() <= TYPE_MAX_CHARS) else {
        return fallback();
    };
    let essence = raw.split(';').next().unwrap_or_default().trim();
    let token = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c));
    match essence.split_once('/') {
        Some((kind, sub)) if token(kind) && token(sub) && raw.chars().all(|c| c.is_ascii() && !c.is_control()) => {
            raw.to_ascii_lowercase()
        }
        _ => fallback(),
    }
}

/// Bytes the org may still store; `None`: no cap.
async fn room_left(ctx: &Ctx, org_id: Uuid, used: i64) -> DomainResult<Option<i64>> {
    if !ctx.billing.metered {
        return Ok(None);
    }
    let package = plans::package_of(ctx, org_id).await?;
    Ok(package.max_storage_mb.map(|mb| (mb.max(0) as u64 * MB) as i64 - used))
}

fn storage_full() -> AppError {
    metering::blocked(
        "package_blocks",
        "The file would take the org past its package's storage; delete files or change the package",
    )
}

/// The org's live files' bytes (one statement for both backends).
const USED_BYTES: &str =
    "SELECT CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM files WHERE org_id = $1 AND deleted_at IS NULL";

/// What the org's live files take, in bytes.
pub async fn usage(ctx: &Ctx, org: &OrgSummary) -> DomainResult<i64> {
    Ok(on_db!(&ctx.db, |p| sqlx::query_scalar::<_, i64>(USED_BYTES).bind(org.id).fetch_one(p).await)?)
}

fn store_failed(e: impl std::fmt::Display) -> AppError {
    tracing::error!(error = %e, "file storage failed");
    AppError::new(ErrorCode::ServiceUnavailable, "File storage is not answering; try again shortly")
}

/// An upload's file, as the client named it.
pub struct Incoming<'a> {
    pub name: &'a str,
    pub content_type: Option<&'a str>,
}

/// Stores the bytes of `body` as a new file of the project. Nothing is
/// kept (no row, no object) unless the whole body arrived within the caps.
pub async fn upload<S, E>(
    ctx: &Ctx,
    by: AuditActor,
    writer: Writer,
    org: &OrgSummary,
    project_id: Uuid,
    file: Incoming<'_>,
    body: S,
) -> DomainResult<FileView>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    projects::get(ctx, org, project_id).await?;
    let received = receive(ctx, org, file, body).await?;
    record(ctx, by, writer, org, project_id, received).await
}

/// A file's bytes stored, not yet anyone's file: `record` makes it one of
/// a project's, `discard` takes it back out.
pub struct Received {
    id: Uuid,
    key: object_store::path::Path,
    name: String,
    content_type: String,
    size: u64,
    sha256: String,
}

/// Streams `body` into storage within the upload cap and the org's room.
/// (A multipart body may name its project after the file: the project is
/// checked when the file is recorded.)
pub async fn receive<S, E>(ctx: &Ctx, org: &OrgSummary, file: Incoming<'_>, mut body: S) -> DomainResult<Received>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let name = clean_name(file.name)?;
    let content_type = clean_type(file.content_type);
    let room = room_left(ctx, org.id, usage(ctx, org).await?).await?;
    if room.is_some_and(|r| r <= 0) {
        return Err(storage_full());
    }
    let max = ctx.settings.max_upload_bytes;
    let id = Uuid::new_v4();
    let key = ctx.storage.key(org.id, id);
    let mut upload = ctx.storage.start(&key, &content_type).await.map_err(store_failed)?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    while let Some(chunk) = body.next().await {
        let refused = match chunk {
            Err(e) => Some(AppError::bad_request(format!("The upload did not arrive whole: {e}"))),
            Ok(chunk) => {
                size += chunk.len() as u64;
                if size > max {
                    Some(AppError::new(
                        ErrorCode::PayloadTooLarge,
                        format!("The file is over the upload cap of {} MB", max / MB),
                    ))
                } else if room.is_some_and(|r| size > r as u64) {
                    Some(storage_full())
                } else {
                    hasher.update(&chunk);
                    upload.write(&chunk).await.err().map(store_failed)
                }
            }
        };
        if let Some(refused) = refused {
            upload.abort().await;
            return Err(refused);
        }
    }
    upload.finish().await.map_err(store_failed)?;
    Ok(Received { id, key, name, content_type, size, sha256: hex::encode(hasher.finalize()) })
}

/// Takes a received file's object back out (its upload was refused).
pub async fn discard(ctx: &Ctx, received: Received) {
    if let Err(gone) = ctx.storage.delete(&received.key).await {
        tracing::warn!(error = %gone, key = %received.key, "could not remove the object of a refused upload");
    }
}

/// Makes a received file one of the project's: the project checked, the
/// storage counted again under the org row's lock. On any refusal the
/// object is taken back out.
pub async fn record(
    ctx: &Ctx,
    by: AuditActor,
    writer: Writer,
    org: &OrgSummary,
    project_id: Uuid,
    received: Received,
) -> DomainResult<FileView> {
    if let Err(e) = projects::get(ctx, org, project_id).await {
        discard(ctx, received).await;
        return Err(e);
    }
    let (user, agent) = match writer {
        Writer::Member(user) => (Some(user), None),
        Writer::Agent(agent) => (by.user_id, Some(agent)),
    };
    let now = ctx.clock.now();
    let key_text = received.key.to_string();
    let r = &received;
    let result: DomainResult<()> = on_db!(&ctx.db, |p| {
        async {
            let mut tx = p.begin().await?;
            // The org row first: two uploads at once count one after the other.
            sqlx::query("UPDATE orgs SET name = name WHERE id = $1").bind(org.id).execute(&mut *tx).await?;
            let used: i64 = sqlx::query_scalar(USED_BYTES).bind(org.id).fetch_one(&mut *tx).await?;
            if room_left(ctx, org.id, used).await?.is_some_and(|room| (r.size as i64) > room) {
                return Err(storage_full());
            }
            sqlx::query(
                "INSERT INTO files (id, org_id, project_id, name, content_type, size_bytes, sha256, object_key, \
                 created_by, created_by_agent, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(r.id)
            .bind(org.id)
            .bind(project_id)
            .bind(&r.name)
            .bind(&r.content_type)
            .bind(r.size as i64)
            .bind(&r.sha256)
            .bind(&key_text)
            .bind(user)
            .bind(agent)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let event = AuditEvent {
                org_id: Some(org.id),
                action: "file.upload",
                target: Some(r.id.to_string()),
                details: Some(
                    json!({ "name": r.name, "sizeBytes": r.size, "projectId": project_id, "agentId": agent }),
                ),
            };
            audit::audit_in_tx!(ctx, &mut *tx, by.clone(), event)?;
            tx.commit().await?;
            Ok(())
        }
        .await
    });
    let id = received.id;
    if let Err(e) = result {
        discard(ctx, received).await;
        return Err(e);
    }
    get(ctx, org, id).await
}

async fn find(ctx: &Ctx, org: &OrgSummary, id: Uuid) -> DomainResult<FileRow> {
    let sql = format!("{SELECT} WHERE f.org_id = $1 AND f.id = $2 AND f.deleted_at IS NULL");
    let row: Option<FileRow> = on_db!(&ctx.db, |p| sqlx::query_as(&sql).bind(org.id).bind(id).fetch_optional(p).await)?;
    row.ok_or_else(AppError::not_found)
}

pub async fn get(ctx: &Ctx, org: &OrgSummary, id: Uuid) -> DomainResult<FileView> {
    Ok(find(ctx, org, id).await?.view())
}

/// A page of the org's files (of one project when `project_id` is some),
/// newest first.
pub async fn list(
    ctx: &Ctx,
    org: &OrgSummary,
    project_id: Option<Uuid>,
    page: PageRequest,
) -> DomainResult<Page<FileView>> {
    if let Some(project) = project_id {
        projects::get(ctx, org, project).await?;
    }
    let (before_at, before_id) = page.bounds();
    let sql = format!(
        "{SELECT} WHERE f.org_id = $1 AND f.deleted_at IS NULL AND ($2 IS NULL OR f.project_id = $2) \
         AND (f.created_at < $3 OR (f.created_at = $3 AND f.id < $4)) \
         ORDER BY f.created_at DESC, f.id DESC LIMIT $5"
    );
    let rows: Vec<FileRow> = on_db!(&ctx.db, |p| sqlx::query_as(&sql)
        .bind(org.id)
        .bind(project_id)
        .bind(before_at)
        .bind(before_id)
        .bind(page.fetch_limit())
        .fetch_all(p)
        .await)?;
    Ok(page.finish(rows, |r| Cursor { created_at: r.created_at, id: r.id }, FileRow::view))
}

/// A live file of the project by id, for a `file` block.
pub async fn in_project(ctx: &Ctx, project_id: Uuid, id: Uuid) -> DomainResult<Option<FileView>> {
    Ok(row_in_project(ctx, project_id, id).await?.map(FileRow::view))
}

async fn row_in_project(ctx: &Ctx, project_id: Uuid, id: Uuid) -> DomainResult<Option<FileRow>> {
    let sql = format!("{SELECT} WHERE f.project_id = $1 AND f.id = $2 AND f.deleted_at IS NULL");
    Ok(on_db!(&ctx.db, |p| sqlx::query_as(&sql).bind(project_id).bind(id).fetch_optional(p).await)?)
}

/// Deletes the file: gone at once for every reader and from the storage
/// count; its object is removed now, or by the sweeper.
pub async fn delete(ctx: &Ctx, actor: &Actor, org: &OrgSummary, id: Uuid) -> DomainResult<FileView> {
    let row = find(ctx, org, id).await?;
    let now = ctx.clock.now();
    let result: DomainResult<u64> = on_db!(&ctx.db, |p| {
        async {
            let mut tx = p.begin().await?;
            let marked =
                sqlx::query("UPDATE files SET deleted_at = $3 WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL")
                    .bind(org.id)
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            let event = AuditEvent {
                org_id: Some(org.id),
                action: "file.delete",
                target: Some(id.to_string()),
                details: Some(json!({ "name": row.name, "sizeBytes": row.size_bytes, "projectId": row.project_id })),
            };
            if marked == 1 {
                audit::audit_in_tx!(ctx, &mut *tx, actor.into(), event)?;
            }
            tx.commit().await?;
            Ok(marked)
        }
        .await
    });
    if result? == 0 {
        // Deleted by someone else meanwhile.
        return Err(AppError::not_found());
    }
    sweeper::remove(ctx, row.id, &row.object_key).await;
    Ok(row.view())
}

/// Marks every file of a deleted project deleted and sweeps them.
pub async fn forget_project(ctx: &Ctx, project_id: Uuid) -> DomainResult<()> {
    let now = ctx.clock.now();
    exec_on_db!(&ctx.db, |p| sqlx::query(
        "UPDATE files SET deleted_at = $2 WHERE project_id = $1 AND deleted_at IS NULL"
    )
    .bind(project_id)
    .bind(now)
    .execute(p)
    .await)?;
    let ctx = ctx.clone();
    tokio::spawn(async move {
        if let Err(e) = sweeper::sweep(&ctx).await {
            tracing::warn!(error = %e.message, "sweeping a deleted project's files failed; the sweeper tries again");
        }
    });
    Ok(())
}

/// The file and its bytes, for an answer that streams them.
pub async fn open(
    ctx: &Ctx,
    org: &OrgSummary,
    id: Uuid,
) -> DomainResult<(FileView, futures::stream::BoxStream<'static, Result<Bytes, storage::StoreError>>)> {
    let row = find(ctx, org, id).await?;
    open_row(ctx, row).await
}

async fn open_row(
    ctx: &Ctx,
    row: FileRow,
) -> DomainResult<(FileView, futures::stream::BoxStream<'static, Result<Bytes, storage::StoreError>>)> {
    let key = object_store::path::Path::from(row.object_key.as_str());
    let bytes = match ctx.storage.read(&key).await {
        Ok(bytes) => bytes,
        Err(storage::StoreError(object_store::Error::NotFound { .. })) => {
            tracing::error!(file = %row.id, "a live file's object is missing from storage");
            return Err(AppError::not_found());
        }
        Err(e) => return Err(store_failed(e)),
    };
    Ok((row.view(), bytes))
}

/// Whether a type could run script if a browser rendered it: such files
/// are only ever handed out as attachments.
pub fn is_active_content(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "text/html"
            | "application/xhtml+xml"
            | "image/svg+xml"
            | "text/xml"
            | "application/xml"
            | "text/javascript"
            | "application/javascript"
            | "application/pdf"
    ) || essence.ends_with("+xml")
}

/// `Content-Disposition` for `name`: an ASCII fallback and the exact name
/// (RFC 6266 / 5987).
pub fn disposition(kind: &str, name: &str) -> String {
    let fallback: String =
        name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' }).collect();
    let encoded: String = name
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_paths_and_control_characters() {
        assert_eq!(clean_name("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(clean_name("C:\\Users\\me\\report.pdf").unwrap(), "report.pdf");
        assert_eq!(clean_name("a\u{0}b\r\n.txt").unwrap(), "ab.txt");
        assert!(clean_name("dir/").is_err());
        assert!(clean_name("..").is_err());
        assert!(clean_name(&"x".repeat(256)).is_err());
    }

    #[test]
    fn types_are_kept_only_when_they_are_types() {
        assert_eq!(clean_type(Some("text/plain; charset=utf-8")), "text/plain; charset=utf-8");
        assert_eq!(clean_type(Some("Image/PNG")), "image/png");
        assert_eq!(clean_type(Some("not a type")), "application/octet-stream");
        assert_eq!(clean_type(Some("text/html\r\nX-Evil: 1")), "application/octet-stream");
        assert_eq!(clean_type(None), "application/octet-stream");
    }

    #[test]
    fn scriptable_types_are_active() {
        for t in
            ["text/html", "TEXT/HTML; charset=utf-8", "image/svg+xml", "application/xhtml+xml", "application/atom+xml"]
        {
            assert!(is_active_content(t), "{t}");
        }
        for t in ["text/plain", "image/png", "application/json", "application/octet-stream"] {
            assert!(!is_active_content(t), "{t}");
        }
    }

    #[test]
    fn dispositions_carry_the_exact_name() {
        assert_eq!(
            disposition("attachment", "résumé \"v2\".pdf"),
            "attachment; filename=\"r_sum_ _v2_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22v2%22.pdf"
        );
    }
}
