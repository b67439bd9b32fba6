//! Notifications (SPEC §12): what the dashboard tells an org's members.
//! Sources write them with `notify` (or `notify_in_tx!`, inside the change
//! that causes them); `inbox` reads them for one member with their read
//! state, `describe` says them in words. Every process hears of a new one:
//! on PostgreSQL a trigger NOTIFYs at commit (migration 0012), in one
//! process the writer wakes the `Notification` topic or the stream looks
//! again within a couple of seconds.

pub mod describe;
pub mod inbox;

use serde_json::Value;
use uuid::Uuid;

/// Kinds written so far.
pub const BUDGET_THRESHOLD: &str = "budget.threshold";
pub const CREDITS_EXHAUSTED: &str = "credits.exhausted";
pub const SCHEDULE_FAILED: &str = "schedule.failed";

/// Records a notification for the whole org (`user_id` None) or one of its
/// members, inside the caller's transaction so it exists exactly when the
/// change that caused it does. A macro because the two backends'
/// transactions are different types.
#[macro_export]
macro_rules! notify_in_tx {
    ($tx:expr, $org_id:expr, $user_id:expr, $kind:expr, $payload:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO notifications (id, org_id, user_id, kind, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(uuid::Uuid::new_v4())
        .bind($org_id)
        .bind($user_id)
        .bind($kind)
        .bind(sqlx::types::Json($payload))
        .bind($now)
        .execute(&mut *$tx)
    };
}
pub use notify_in_tx;

/// A notification, written on its own.
pub async fn notify(
    ctx: &super::Ctx,
    org_id: Uuid,
    user_id: Option<Uuid>,
    kind: &str,
    payload: Value,
) -> super::DomainResult<()> {
    let now = ctx.clock.now();
    crate::db::on_db!(&ctx.db, |p| async {
        let mut tx = p.begin().await?;
        notify_in_tx!(tx, org_id, user_id, kind, &payload, now).await?;
        tx.commit().await
    }
    .await)?;
    written(ctx, org_id);
    Ok(())
}

/// After a notification's transaction committed: members' unread counts
/// go, and this process's live streams look at once (other processes hear
/// of it from the row's trigger, on PostgreSQL).
pub fn written(ctx: &super::Ctx, org_id: Uuid) {
    ctx.caches.notifications_written(org_id);
    ctx.events.wake(super::events::Topic::Notification, org_id);
}

/// A notification as stored (for tests and the page to come).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Stored {
    pub id: Uuid,
    pub user_id: Option<Uuid>,
    pub kind: String,
    pub payload: sqlx::types::Json<Value>,
}

/// The org's notifications, newest first.
pub async fn list(ctx: &super::Ctx, org_id: Uuid, limit: i64) -> super::DomainResult<Vec<Stored>> {
    Ok(crate::db::on_db!(&ctx.db, |p| {
        sqlx::query_as(
        "SELECT id, user_id, kind, payload FROM notifications WHERE org_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
    )
    .bind(org_id)
    .bind(limit)
    .fetch_all(p)
    .await
    })?)
}
