//! A project's canvas (SPEC §15): blocks of markdown, code, HTML, a file
//! or a session, each with its place. Members write them from the lab or
//! `/api/v1`; agents with the `canvas` tools (`tools`), and a block says
//! which agent wrote it. Share links (`share`) show a canvas read-only.
//!
//! Blocks are content, not settings: they are not audited one by one, and
//! deleting one removes it (the share page and the lab read live rows).

pub mod render;
pub mod share;
pub mod tools;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::paging::{Cursor, PageRequest};
use super::{projects, Actor, Ctx, DomainResult};
use crate::db::{exec_on_db, on_db};
use crate::model::{AppError, BlockAuthor, BlockPosition, BlockView, ErrorCode, OrgSummary, Page};

pub const KINDS: &[&str] = &["markdown", "code", "html", "file", "session"];
/// A block's content, in bytes (within the API's 128 KB body cap).
pub const CONTENT_MAX_BYTES: usize = 100_000;
/// Blocks one project's canvas holds.
pub const BLOCKS_MAX: i64 = 500;
const COORD_MAX: i64 = BlockPosition::COORD_MAX;
const SIZE_MIN: i64 = BlockPosition::SIZE_MIN;
const SIZE_MAX: i64 = BlockPosition::SIZE_MAX;
/// Where a block goes when none is asked for: under the lowest one.
const DEFAULT_SIZE: (i64, i64) = (480, 320);
const GAP: i64 = 24;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewBlock {
    #[schema(pattern = "^(markdown|code|html|file|session)$")]
    pub kind: String,
    /// Markdown or code text, an HTML document, or for `file` and
    /// `session` the id of the project's file or session.
    #[schema(max_length = 100000)]
    pub content: String,
    /// Default: under the lowest block, 480 × 320.
    #[serde(default)]
    pub position: Option<BlockPosition>,
}

/// A partial update: what is present changes. The kind stays.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlockPatch {
    #[serde(default)]
    #[schema(max_length = 100000)]
    pub content: Option<String>,
    #[serde(default)]
    pub position: Option<BlockPosition>,
}

/// Who writes a block.
#[derive(Debug, Clone, Copy)]
pub enum Writer {
    /// A member, from the dashboard or with a key.
    Member(Uuid),
    /// An agent's run (its `canvas` tools).
    Agent(Uuid),
}

#[derive(sqlx::FromRow)]
struct BlockRow {
    id: Uuid,
    project_id: Uuid,
    kind: String,
    content: String,
    x: i64,
    y: i64,
    w: i64,
    h: i64,
    created_by: Option<Uuid>,
    created_by_agent: Option<Uuid>,
    agent_name: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// Who wrote a block or a file: the agent when one did (its run may have
/// acted for a member), else the member.
pub(crate) fn author(user: Option<Uuid>, agent: Option<Uuid>, agent_name: Option<String>) -> BlockAuthor {
    match agent {
        Some(agent) => BlockAuthor { kind: "agent".into(), id: Some(agent), name: agent_name },
        None => BlockAuthor { kind: "user".into(), id: user, name: None },
    }
}

impl BlockRow {
    fn view(self) -> BlockView {
        let created_by = author(self.created_by, self.created_by_agent, self.agent_name);
        BlockView {
            id: self.id,
            project_id: self.project_id,
            kind: self.kind,
            content: self.content,
            position: BlockPosition { x: self.x, y: self.y, w: self.w, h: self.h },
            created_by,
            created_at: super::clock::iso(self.created_at),
            updated_at: super::clock::iso(self.updated_at),
        }
    }
}

const SELECT: &str = "SELECT b.id, b.project_id, b.kind, b.content, b.x, b.y, b.w, b.h, b.created_by, \
    b.created_by_agent, a.name AS agent_name, b.created_at, b.updated_at \
    FROM canvas_blocks b LEFT JOIN agents a ON a.id = b.created_by_agent";

fn check_position(p: BlockPosition) -> DomainResult<BlockPosition> {
    let within = |v: i64, lo: i64, hi: i64| (lo..=hi).contains(&v);
    if !within(p.x, 0, COORD_MAX) || !within(p.y, 0, COORD_MAX) {
        return Err(AppError::validation("position", format!("position: x and y are 0 to {COORD_MAX}")));
    }
    if !within(p.w, SIZE_MIN, SIZE_MAX) || !within(p.h, SIZE_MIN, SIZE_MAX) {
        return Err(AppError::validation("position", format!("position: w and h are {SIZE_MIN} to {SIZE_MAX}")));
    }
    Ok(p)
}

/// Checks a block's content for its kind: its size, and for `file` and
/// `session` that it names one of the project's.
async fn check_content(
    ctx: &Ctx,
    org: &OrgSummary,
    project_id: Uuid,
    kind: &str,
    content: String,
) -> DomainResult<String> {
    if content.len() > CONTENT_MAX_BYTES {
        return Err(AppError::validation("content", format!("content: at most {CONTENT_MAX_BYTES} bytes")));
    }
    match kind {
        "session" => {
            let id = content.trim().parse::<Uuid>().map_err(|_| {
                AppError::validation(
                    "content",
                    "content: a session block holds the id of one of the project's sessions",
                )
            })?;
            let found: Option<Uuid> = on_db!(&ctx.db, |p| sqlx::query_scalar(
                "SELECT id FROM chat_sessions WHERE org_id = $1 AND project_id = $2 AND id = $3"
            )
            .bind(org.id)
            .bind(project_id)
            .bind(id)
            .fetch_optional(p)
            .await)?;
            found
                .map(|id| id.to_string())
                .ok_or_else(|| AppError::validation("content", "content: no session of this project has that id"))
        }
        "file" => {
            let id = content.trim().parse::<Uuid>().map_err(|_| {
                AppError::validation("content", "content: a file block holds the id of one of the project's files")
            })?;
            super::files::in_project(ctx, project_id, id)
                .await?
                .map(|file| file.id.to_string())
                .ok_or_else(|| AppError::validation("content", "content: no file of this project has that id"))
        }
        _ => Ok(content),
    }
}

fn check_kind(kind: &str) -> DomainResult<()> {
    if KINDS.contains(&kind) {
        Ok(())
    } else {
        Err(AppError::validation("kind", format!("kind must be one of {}", KINDS.join(", "))))
    }
}

async fn find(ctx: &Ctx, org: &OrgSummary, project_id: Uuid, id: Uuid) -> DomainResult<BlockRow> {
    let sql = format!("{SELECT} WHERE b.org_id = $1 AND b.project_id = $2 AND b.id = $3");
    let row: Option<BlockRow> =
        on_db!(&ctx.db, |p| sqlx::query_as(&sql).bind(org.id).bind(project_id).bind(id).fetch_optional(p).await)?;
    row.ok_or_else(AppError::not_found)
}

/// A page of the project's blocks, newest first.
pub async fn list(ctx: &Ctx, org: &OrgSummary, project_id: Uuid, page: PageRequest) -> DomainResult<Page<BlockView>> {
    projects::get(ctx, org, project_id).await?;
    let (before_at, before_id) = page.bounds();
    let sql = format!(
        "{SELECT} WHERE b.project_id = $1 AND (b.created_at < $2 OR (b.created_at = $2 AND b.id < $3)) \
         ORDER BY b.created_at DESC, b.id DESC LIMIT $4"
    );
    let rows: Vec<BlockRow> = on_db!(&ctx.db, |p| sqlx::query_as(&sql)
        .bind(project_id)
        .bind(before_at)
        .bind(before_id)
        .bind(page.fetch_limit())
        .fetch_all(p)
        .await)?;
    Ok(page.finish(rows, |r| Cursor { created_at: r.created_at, id: r.id }, BlockRow::view))
}

/// The whole canvas, oldest first (drawn in that order: newer on top).
/// The project is checked by the caller.
pub async fn all(ctx: &Ctx, project_id: Uuid) -> DomainResult<Vec<BlockView>> {
    let sql = format!("{SELECT} WHERE b.project_id = $1 ORDER BY b.created_at, b.id LIMIT $2");
    let rows: Vec<BlockRow> =
        on_db!(&ctx.db, |p| sqlx::query_as(&sql).bind(project_id).bind(BLOCKS_MAX).fetch_all(p).await)?;
    Ok(rows.into_iter().map(BlockRow::view).collect())
}

pub async fn get(ctx: &Ctx, org: &OrgSummary, project_id: Uuid, id: Uuid) -> DomainResult<BlockView> {
    projects::get(ctx, org, project_id).await?;
    Ok(find(ctx, org, project_id, id).await?.view())
}

/// Adds a block, written by a member (`actor`) or an agent.
pub async fn create(
    ctx: &Ctx,
    writer: Writer,
    org: &OrgSummary,
    project_id: Uuid,
    input: NewBlock,
) -> DomainResult<BlockView> {
    projects::get(ctx, org, project_id).await?;
    check_kind(&input.kind)?;
    let content = check_content(ctx, org, project_id, &input.kind, input.content).await?;
    let (count, lowest): (i64, Option<i64>) =
        on_db!(&ctx.db, |p| sqlx::query_as("SELECT COUNT(*), MAX(y + h) FROM canvas_blocks WHERE project_id = $1")
            .bind(project_id)
            .fetch_one(p)
            .await)?;
    if count >= BLOCKS_MAX {
        return Err(AppError::new(
            ErrorCode::Conflict,
            format!("A canvas holds at most {BLOCKS_MAX} blocks: delete some first"),
        ));
    }
    let position = match input.position {
        Some(p) => check_position(p)?,
        None => BlockPosition {
            x: 0,
            y: lowest.map_or(0, |y| (y + GAP).min(COORD_MAX)),
            w: DEFAULT_SIZE.0,
            h: DEFAULT_SIZE.1,
        },
    };
    let (user, agent) = match writer {
        Writer::Member(user) => (Some(user), None),
        Writer::Agent(agent) => (None, Some(agent)),
    };
    let id = Uuid::new_v4();
    let now = ctx.clock.now();
    exec_on_db!(&ctx.db, |p| sqlx::query(
        "INSERT INTO canvas_blocks (id, org_id, project_id, kind, content, x, y, w, h, created_by, created_by_agent, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)"
    )
    .bind(id)
    .bind(org.id)
    .bind(project_id)
    .bind(&input.kind)
    .bind(&content)
    .bind(position.x)
    .bind(position.y)
    .bind(position.w)
    .bind(position.h)
    .bind(user)
    .bind(agent)
    .bind(now)
    .execute(p)
    .await)?;
    Ok(find(ctx, org, project_id, id).await?.view())
}

/// Changes a block's content or place (what is present).
pub async fn update(
    ctx: &Ctx,
    org: &OrgSummary,
    project_id: Uuid,
    id: Uuid,
    patch: BlockPatch,
) -> DomainResult<BlockView> {
    projects::get(ctx, org, project_id).await?;
    let row = find(ctx, org, project_id, id).await?;
    let content = match patch.content {
        Some(content) => check_content(ctx, org, project_id, &row.kind, content).await?,
        None => row.content,
    };
    let p = match patch.position {
        Some(p) => check_position(p)?,
        None => BlockPosition { x: row.x, y: row.y, w: row.w, h: row.h },
    };
    exec_on_db!(&ctx.db, |db| sqlx::query(
        "UPDATE canvas_blocks SET content = $3, x = $4, y = $5, w = $6, h = $7, updated_at = $8 \
         WHERE id = $1 AND project_id = $2"
    )
    .bind(id)
    .bind(project_id)
    .bind(&content)
    .bind(p.x)
    .bind(p.y)
    .bind(p.w)
    .bind(p.h)
    .bind(ctx.clock.now())
    .execute(db)
    .await)?;
    Ok(find(ctx, org, project_id, id).await?.view())
}

/// Removes a block; answers it as it was.
pub async fn delete(ctx: &Ctx, org: &OrgSummary, project_id: Uuid, id: Uuid) -> DomainResult<BlockView> {
    projects::get(ctx, org, project_id).await?;
    let row = find(ctx, org, project_id, id).await?;
    exec_on_db!(&ctx.db, |p| sqlx::query("DELETE FROM canvas_blocks WHERE id = $1 AND project_id = $2")
        .bind(id)
        .bind(project_id)
        .execute(p)
        .await)?;
    Ok(row.view())
}

/// The writer a member's request is.
pub fn member(actor: &Actor) -> Writer {
    Writer::Member(actor.user_id())
}

/// An HTML block's document, for its frame (the caller checked the
/// frame URL's signature). `None`: no such HTML block (any more).
pub async fn html_of(ctx: &Ctx, id: Uuid) -> DomainResult<Option<String>> {
    Ok(on_db!(&ctx.db, |p| sqlx::query_scalar(
        "SELECT b.content FROM canvas_blocks b JOIN projects p ON p.id = b.project_id \
         WHERE b.id = $1 AND b.kind = 'html' AND p.deleted_at IS NULL"
    )
    .bind(id)
    .fetch_optional(p)
    .await)?)
}

/// The canvas as the lab shows it: blocks top to bottom then left to
/// right, each rendered; and the project's live share link.
pub async fn lab_view(ctx: &Ctx, org: &OrgSummary, project_slug: &str) -> DomainResult<crate::model::CanvasView> {
    let project = projects::get_by_slug(ctx, org, project_slug).await?;
    let mut blocks = all(ctx, project.id).await?;
    blocks.sort_by_key(|b| (b.position.y, b.position.x));
    let expires = ctx.clock.now() + render::FRAME_URL_LIFETIME;
    let mut out = Vec::with_capacity(blocks.len());
    for block in blocks {
        let file = match block.kind.as_str() {
            "file" => match block.content.parse::<Uuid>() {
                Ok(id) => super::files::in_project(ctx, project.id, id).await?,
                Err(_) => None,
            },
            _ => None,
        };
        let (html, frame, session_title) = match block.kind.as_str() {
            "markdown" => (Some(render::markdown(&block.content)), None, None),
            "html" => (None, Some(render::frame_path(&ctx.sealer, block.id, expires, None)), None),
            "session" => {
                let title: Option<String> = on_db!(&ctx.db, |p| sqlx::query_scalar(
                    "SELECT title FROM chat_sessions WHERE org_id = $1 AND id = $2"
                )
                .bind(org.id)
                .bind(block.content.parse::<Uuid>().unwrap_or_default())
                .fetch_optional(p)
                .await)?;
                (None, None, title)
            }
            _ => (None, None, None),
        };
        out.push(crate::model::CanvasBlockView { block, html, frame, session_title, file });
    }
    let share = share::current(ctx, org, project.id).await?;
    let files = super::files::list(ctx, org, Some(project.id), PageRequest { limit: 100, after: None }).await?.items;
    Ok(crate::model::CanvasView { project_id: project.id, blocks: out, share, files })
}
