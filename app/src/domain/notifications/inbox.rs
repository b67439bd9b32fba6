//! A member's notifications (SPEC §12): the org's, plus their own, with
//! their read state: read one by one (`notification_reads`) or all up to
//! a time (`notification_marks`, one row per member).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::describe::describe;
use crate::db::{exec_on_db, on_db};
use crate::domain::paging::{Cursor, PageRequest};
use crate::domain::{clock, Actor, Ctx, DomainResult};
use crate::model::{AppError, NotificationPage, NotificationView, NotificationsRead, OrgSummary};

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    kind: String,
    payload: sqlx::types::Json<serde_json::Value>,
    created_at: DateTime<Utc>,
    read_at: Option<DateTime<Utc>>,
}

impl Row {
    fn view(self, slug: &str) -> NotificationView {
        let (title, body, link) = describe(slug, &self.kind, &self.payload.0);
        NotificationView {
            id: self.id,
            kind: self.kind,
            title,
            body,
            payload: self.payload.0,
            link,
            created_at: clock::iso(self.created_at),
            read_at: self.read_at.map(clock::iso),
        }
    }
}

/// The rows a member sees ($1 org, $2 member) with their read time.
const SEEN: &str = "SELECT n.id, n.kind, n.payload, n.created_at, \
     COALESCE(r.read_at, CASE WHEN n.created_at <= k.read_all_at THEN k.read_all_at END) AS read_at \
     FROM notifications n \
     LEFT JOIN notification_reads r ON r.notification_id = n.id AND r.user_id = $2 \
     LEFT JOIN notification_marks k ON k.org_id = n.org_id AND k.user_id = $2 \
     WHERE n.org_id = $1 AND (n.user_id IS NULL OR n.user_id = $2)";
/// Of those, the unread.
const UNREAD: &str = " AND r.notification_id IS NULL AND (k.read_all_at IS NULL OR n.created_at > k.read_all_at)";

/// A page, newest first; `unread_only` leaves out what the member read.
pub async fn list(
    ctx: &Ctx,
    actor: &Actor,
    org: &OrgSummary,
    unread_only: bool,
    page: PageRequest,
) -> DomainResult<NotificationPage> {
    let member = actor.user_id();
    let (before_at, before_id) = page.bounds();
    let sql = format!(
        "{SEEN}{} AND (n.created_at < $3 OR (n.created_at = $3 AND n.id < $4)) \
         ORDER BY n.created_at DESC, n.id DESC LIMIT $5",
        if unread_only { UNREAD } else { "" }
    );
    let rows: Vec<Row> = on_db!(&ctx.db, |p| sqlx::query_as(&sql)
        .bind(org.id)
        .bind(member)
        .bind(before_at)
        .bind(before_id)
        .bind(page.fetch_limit())
        .fetch_all(p)
        .await)?;
    let page = page.finish(rows, |r| Cursor { created_at: r.created_at, id: r.id }, |r| r.view(&org.slug));
    Ok(NotificationPage {
        items: page.items,
        next_cursor: page.next_cursor,
        has_more: page.has_more,
        unread_count: unread_count(ctx, org.id, member).await?,
    })
}

/// How many of the member's are unread (the sidebar's badge, on every
/// org page: cached, `Caches::unread`).
pub async fn unread_count(ctx: &Ctx, org_id: Uuid, member: Uuid) -> DomainResult<i64> {
    let cache = &ctx.caches.unread;
    let now = ctx.clock.now();
    if let Some(count) = cache.get(&(org_id, member), now) {
        return Ok(count);
    }
    let ticket = cache.ticket();
    let sql = format!("SELECT COUNT(*) FROM ({SEEN}{UNREAD}) unread");
    let count = on_db!(&ctx.db, |p| sqlx::query_scalar(&sql).bind(org_id).bind(member).fetch_one(p).await)?;
    cache.put(ticket, (org_id, member), count, now);
    Ok(count)
}

/// The member read some: their count goes.
fn forget_unread(ctx: &Ctx, org_id: Uuid, member: Uuid) {
    ctx.caches.unread.invalidate(|key| *key == (org_id, member));
}

/// The member's notifications made after `after` (a notification's
/// time and id), oldest first, each with its exact time: what the live
/// stream sends next.
async fn newer_than(
    ctx: &Ctx,
    org: &OrgSummary,
    member: Uuid,
    after: (DateTime<Utc>, Uuid),
) -> DomainResult<Vec<(DateTime<Utc>, NotificationView)>> {
    let sql = format!(
        "{SEEN} AND (n.created_at > $3 OR (n.created_at = $3 AND n.id > $4)) ORDER BY n.created_at, n.id LIMIT 100"
    );
    let rows: Vec<Row> = on_db!(&ctx.db, |p| sqlx::query_as(&sql)
        .bind(org.id)
        .bind(member)
        .bind(after.0)
        .bind(after.1)
        .fetch_all(p)
        .await)?;
    Ok(rows.into_iter().map(|r| (r.created_at, r.view(&org.slug))).collect())
}

/// The newest notification the member sees (where a live stream starts).
pub async fn newest(ctx: &Ctx, org: &OrgSummary, member: Uuid) -> DomainResult<(DateTime<Utc>, Uuid)> {
    let sql = format!("{SEEN} ORDER BY n.created_at DESC, n.id DESC LIMIT 1");
    let row: Option<Row> = on_db!(&ctx.db, |p| sqlx::query_as(&sql).bind(org.id).bind(member).fetch_optional(p).await)?;
    Ok(row.map_or((DateTime::<Utc>::UNIX_EPOCH, Uuid::nil()), |r| (r.created_at, r.id)))
}

async fn find(ctx: &Ctx, org: &OrgSummary, member: Uuid, id: Uuid) -> DomainResult<NotificationView> {
    let sql = format!("{SEEN} AND n.id = $3");
    let row: Option<Row> =
        on_db!(&ctx.db, |p| sqlx::query_as(&sql).bind(org.id).bind(member).bind(id).fetch_optional(p).await)?;
    row.map(|r| r.view(&org.slug)).ok_or_else(AppError::not_found)
}

/// Marks one read for the member (again: no change). Another org's or
/// member's is a 404.
pub async fn mark_read(ctx: &Ctx, actor: &Actor, org: &OrgSummary, id: Uuid) -> DomainResult<NotificationView> {
    let member = actor.user_id();
    let found = find(ctx, org, member, id).await?;
    if found.read_at.is_some() {
        return Ok(found);
    }
    exec_on_db!(&ctx.db, |p| sqlx::query(
        "INSERT INTO notification_reads (notification_id, user_id, read_at) VALUES ($1, $2, $3) \
         ON CONFLICT (notification_id, user_id) DO NOTHING"
    )
    .bind(id)
    .bind(member)
    .bind(ctx.clock.now())
    .execute(p)
    .await)?;
    forget_unread(ctx, org.id, member);
    find(ctx, org, member, id).await
}

/// Marks everything the member sees so far read: one row, whatever the
/// number of notifications.
pub async fn read_all(ctx: &Ctx, actor: &Actor, org: &OrgSummary) -> DomainResult<NotificationsRead> {
    let member = actor.user_id();
    exec_on_db!(&ctx.db, |p| sqlx::query(
        "INSERT INTO notification_marks (org_id, user_id, read_all_at) VALUES ($1, $2, $3) \
         ON CONFLICT (org_id, user_id) DO UPDATE SET read_all_at = excluded.read_all_at"
    )
    .bind(org.id)
    .bind(member)
    .bind(ctx.clock.now())
    .execute(p)
    .await)?;
    forget_unread(ctx, org.id, member);
    Ok(NotificationsRead { unread_count: unread_count(ctx, org.id, member).await? })
}

/// How long the live stream waits for a signal before it looks anyway
/// (a notification written where no signal is sent: billing's on SQLite).
const LOOK_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// The member's new notifications as they come, from now on: the
/// receiver ends when it is dropped (noticed within [`LOOK_EVERY`]).
pub async fn follow(
    ctx: &Ctx,
    org: &OrgSummary,
    member: Uuid,
) -> DomainResult<tokio::sync::mpsc::Receiver<NotificationView>> {
    // Subscribed before the newest is read: nothing falls in between.
    let mut signal = ctx.events.subscribe(crate::domain::events::Topic::Notification, org.id);
    let mut after = newest(ctx, org, member).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let (ctx, org) = (ctx.clone(), org.clone());
    tokio::spawn(async move {
        while !tx.is_closed() {
            signal.wait(LOOK_EVERY).await;
            let fresh = match newer_than(&ctx, &org, member, after).await {
                Ok(fresh) => fresh,
                Err(e) => {
                    tracing::warn!(error = %e.message, "reading new notifications failed");
                    continue;
                }
            };
            for (at, n) in fresh {
                after = (at, n.id);
                if tx.send(n).await.is_err() {
                    return;
                }
            }
        }
    });
    Ok(rx)
}
