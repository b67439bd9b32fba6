//! Share links (SPEC §15): a project's canvas, read-only, for whoever holds
//! the link, without signing in.
//!
//! - Enabling and disabling are browser-only with a fresh step-up (a link
//!   publishes the org's content); both are audited.
//! - The token is 256 random bits, handed out once; only its SHA-256 is
//!   stored, so the database alone cannot open a canvas.
//! - One live link per project. Enabling again revokes the old one and
//!   mints a new token: an old link never comes back.
//! - Disabled, expired, a deleted project, or a token that was never
//!   minted: `open` answers the same `None`, and the page the same 404.

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::BlockView;
use crate::db::{exec_on_db, on_db};
use crate::domain::audit::{self, AuditEvent};
use crate::domain::paging::{Cursor, PageRequest};
use crate::domain::{clock, projects, step_up, Actor, Ctx, DomainResult};
use crate::model::{AppError, ErrorCode, OrgSummary, Page, ShareLinkMinted, ShareLinkView};

/// Longest expiry one may ask for.
pub const EXPIRY_DAYS_MAX: i64 = 365;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnableShare {
    /// The link stops working after this many days; default: never.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 365)]
    pub expires_in_days: Option<i64>,
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_token() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[derive(sqlx::FromRow)]
struct LinkRow {
    id: Uuid,
    project_id: Uuid,
    project_name: String,
    project_slug: String,
    created_by: Option<Uuid>,
    created_by_email: Option<String>,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    views: i64,
    last_viewed_at: Option<DateTime<Utc>>,
}

impl LinkRow {
    fn view(self) -> ShareLinkView {
        ShareLinkView {
            id: self.id,
            project_id: self.project_id,
            project_name: self.project_name,
            project_slug: self.project_slug,
            created_by: self.created_by,
            created_by_email: self.created_by_email,
            created_at: clock::iso(self.created_at),
            expires_at: self.expires_at.map(clock::iso),
            views: self.views,
            last_viewed_at: self.last_viewed_at.map(clock::iso),
        }
    }
}

const SELECT: &str = "SELECT l.id, l.project_id, p.name AS project_name, p.slug AS project_slug, l.created_by, \
    u.email AS created_by_email, l.created_at, l.expires_at, l.views, l.last_viewed_at \
    FROM share_links l JOIN projects p ON p.id = l.project_id LEFT JOIN users u ON u.id = l.created_by";

/// Live: not revoked, not expired, its project not deleted.
const LIVE: &str = "l.revoked_at IS NULL AND (l.expires_at IS NULL OR l.expires_at > $2) AND p.deleted_at IS NULL";

/// Enables sharing of the project's canvas with a new token (revoking the
/// link it had). The answer is the only one holding the token.
pub async fn enable(
    ctx: &Ctx,
    actor: &Actor,
    org: &OrgSummary,
    project_id: Uuid,
    input: EnableShare,
) -> DomainResult<ShareLinkMinted> {
    let browser = step_up::require_browser_step_up(ctx, actor)?;
    projects::get(ctx, org, project_id).await?;
    let expires_at = match input.expires_in_days {
        None => None,
        Some(days) if (1..=EXPIRY_DAYS_MAX).contains(&days) => Some(ctx.clock.now() + chrono::Duration::days(days)),
        Some(_) => {
            return Err(AppError::validation(
                "expiresInDays",
                format!("expiresInDays: 1 to {EXPIRY_DAYS_MAX} days, or none for a link that does not expire"),
            ))
        }
    };
    let token = new_token();
    let (id, token_hash, now, org_id, user) = (Uuid::new_v4(), hash(&token), ctx.clock.now(), org.id, browser.user_id);
    on_db!(&ctx.db, |p| async {
        let mut tx = p.begin().await?;
        sqlx::query("UPDATE share_links SET revoked_at = $2 WHERE project_id = $1 AND revoked_at IS NULL")
            .bind(project_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO share_links (id, org_id, project_id, token_hash, created_by, created_at, expires_at, views) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0)",
        )
        .bind(id)
        .bind(org_id)
        .bind(project_id)
        .bind(&token_hash)
        .bind(user)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }
    .await)?;
    let event = AuditEvent {
        org_id: Some(org.id),
        action: "share.enable",
        target: Some(project_id.to_string()),
        details: Some(json!({ "shareLinkId": id, "expiresAt": expires_at.map(clock::iso) })),
    };
    audit::record(ctx, actor.into(), event).await?;
    let link = find(ctx, org, id).await?;
    let path = format!("/share/{token}");
    Ok(ShareLinkMinted { link, url: format!("{}{path}", ctx.settings.public_url), path })
}

/// Disables the project's link; answers it. 404 when it had none live.
pub async fn disable(ctx: &Ctx, actor: &Actor, org: &OrgSummary, project_id: Uuid) -> DomainResult<ShareLinkView> {
    step_up::require_browser_step_up(ctx, actor)?;
    projects::get(ctx, org, project_id).await?;
    let link = current(ctx, org, project_id)
        .await?
        .ok_or_else(|| AppError::new(ErrorCode::NotFound, "This project is not shared"))?;
    revoke(ctx, actor, org, link).await
}

/// Revokes one of the org's live links (the projects page's list).
pub async fn revoke_by_id(ctx: &Ctx, actor: &Actor, org: &OrgSummary, id: Uuid) -> DomainResult<ShareLinkView> {
    step_up::require_browser_step_up(ctx, actor)?;
    let link = find(ctx, org, id).await?;
    revoke(ctx, actor, org, link).await
}

async fn revoke(ctx: &Ctx, actor: &Actor, org: &OrgSummary, link: ShareLinkView) -> DomainResult<ShareLinkView> {
    exec_on_db!(&ctx.db, |p| sqlx::query(
        "UPDATE share_links SET revoked_at = $3 WHERE id = $1 AND org_id = $2 AND revoked_at IS NULL"
    )
    .bind(link.id)
    .bind(org.id)
    .bind(ctx.clock.now())
    .execute(p)
    .await)?;
    let event = AuditEvent {
        org_id: Some(org.id),
        action: "share.disable",
        target: Some(link.project_id.to_string()),
        details: Some(json!({ "shareLinkId": link.id })),
    };
    audit::record(ctx, actor.into(), event).await?;
    Ok(link)
}

/// One of the org's links, live or not.
async fn find(ctx: &Ctx, org: &OrgSummary, id: Uuid) -> DomainResult<ShareLinkView> {
    let sql = format!("{SELECT} WHERE l.org_id = $1 AND l.id = $2");
    let row: Option<LinkRow> = on_db!(&ctx.db, |p| sqlx::query_as(&sql).bind(org.id).bind(id).fetch_optional(p).await)?;
    row.map(LinkRow::view).ok_or_else(AppError::not_found)
}

/// The project's live link, if it is shared.
pub async fn current(ctx: &Ctx, org: &OrgSummary, project_id: Uuid) -> DomainResult<Option<ShareLinkView>> {
    let sql = format!("{SELECT} WHERE l.project_id = $1 AND {LIVE} AND l.org_id = $3");
    let row: Option<LinkRow> = on_db!(&ctx.db, |p| sqlx::query_as(&sql)
        .bind(project_id)
        .bind(ctx.clock.now())
        .bind(org.id)
        .fetch_optional(p)
        .await)?;
    Ok(row.map(LinkRow::view))
}

/// The org's live links, newest first.
pub async fn list(ctx: &Ctx, org: &OrgSummary, page: PageRequest) -> DomainResult<Page<ShareLinkView>> {
    let (before_at, before_id) = page.bounds();
    let sql = format!(
        "{SELECT} WHERE l.org_id = $1 AND {LIVE} AND (l.created_at < $3 OR (l.created_at = $3 AND l.id < $4)) \
         ORDER BY l.created_at DESC, l.id DESC LIMIT $5"
    );
    let rows: Vec<LinkRow> = on_db!(&ctx.db, |p| sqlx::query_as(&sql)
        .bind(org.id)
        .bind(ctx.clock.now())
        .bind(before_at)
        .bind(before_id)
        .bind(page.fetch_limit())
        .fetch_all(p)
        .await)?;
    Ok(page.finish(rows, |r| Cursor { created_at: r.created_at, id: r.id }, LinkRow::view))
}

/// What a share page shows: the project's name and its blocks. Nothing of
/// its members.
#[derive(Debug, Clone)]
pub struct SharedCanvas {
    /// The link it was opened by (its frames name it).
    pub link_id: Uuid,
    pub project_name: String,
    pub blocks: Vec<BlockView>,
    /// Session blocks' titles, by session id (what a session block shows).
    pub session_titles: Vec<(Uuid, String)>,
}

/// Opens a link: the canvas when the token names a live link (and counts
/// the view), else `None` whatever the reason.
pub async fn open(ctx: &Ctx, token: &str) -> DomainResult<Option<SharedCanvas>> {
    // Tokens are 43 characters of base64url; anything else was not minted.
    if token.len() != 43 || !token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Ok(None);
    }
    let now = ctx.clock.now();
    let sql = format!(
        "SELECT l.id, l.project_id, p.name FROM share_links l JOIN projects p ON p.id = l.project_id \
         WHERE l.token_hash = $1 AND {LIVE}"
    );
    let found: Option<(Uuid, Uuid, String)> =
        on_db!(&ctx.db, |p| sqlx::query_as(&sql).bind(hash(token)).bind(now).fetch_optional(p).await)?;
    let Some((link_id, project_id, project_name)) = found else { return Ok(None) };
    exec_on_db!(&ctx.db, |p| sqlx::query(
        "UPDATE share_links SET views = views + 1, last_viewed_at = $2 WHERE id = $1"
    )
    .bind(link_id)
    .bind(now)
    .execute(p)
    .await)?;
    let blocks = super::all(ctx, project_id).await?;
    let mut session_titles = Vec::new();
    for block in blocks.iter().filter(|b| b.kind == "session") {
        let Ok(id) = block.content.parse::<Uuid>() else { continue };
        let title: Option<String> = on_db!(&ctx.db, |p| sqlx::query_scalar(
            "SELECT title FROM chat_sessions WHERE id = $1 AND project_id = $2"
        )
        .bind(id)
        .bind(project_id)
        .fetch_optional(p)
        .await)?;
        if let Some(title) = title {
            session_titles.push((id, title));
        }
    }
    Ok(Some(SharedCanvas { link_id, project_name, blocks, session_titles }))
}

/// Whether the link still opens (a share page's frames check it).
pub async fn is_live(ctx: &Ctx, link_id: Uuid) -> DomainResult<bool> {
    let sql =
        format!("SELECT l.id FROM share_links l JOIN projects p ON p.id = l.project_id WHERE l.id = $1 AND {LIVE}");
    let found: Option<Uuid> =
        on_db!(&ctx.db, |p| sqlx::query_scalar(&sql).bind(link_id).bind(ctx.clock.now()).fetch_optional(p).await)?;
    Ok(found.is_some())
}
