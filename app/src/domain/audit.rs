//! The audit log: one helper records every sensitive action with who did
//! it, how they were authenticated, from where, and on what.

use uuid::Uuid;

use super::{Actor, Ctx, DomainResult};
use crate::db::on_db;
use crate::model::AuditEntryView;

pub struct AuditEvent {
    pub org_id: Option<Uuid>,
    pub action: &'static str,
    pub target: Option<String>,
    pub details: Option<serde_json::Value>,
}

/// Who did it, for rows written before an `Actor` exists (sign-in, sign-up).
#[derive(Clone, Debug)]
pub struct AuditActor {
    pub user_id: Option<Uuid>,
    pub auth_method: &'static str,
    pub stepped_up_at: Option<chrono::DateTime<chrono::Utc>>,
    pub ip: Option<String>,
}

impl From<&Actor> for AuditActor {
    fn from(a: &Actor) -> Self {
        AuditActor {
            user_id: Some(a.user_id()),
            auth_method: a.auth_method(),
            stepped_up_at: a.stepped_up_at(),
            ip: a.ip().map(str::to_string),
        }
    }
}

pub const INSERT: &str = "INSERT INTO audit_log (id, org_id, actor_user_id, auth_method, stepped_up_at, ip, action, target, details, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// Records an audit row on `$conn` (an open transaction's connection of
/// either backend), so it commits or rolls back with the change it
/// describes.
#[macro_export]
macro_rules! audit_in_tx {
    ($ctx:expr, $conn:expr, $actor:expr, $event:expr) => {{
        let actor: $crate::domain::audit::AuditActor = $actor;
        let event: $crate::domain::audit::AuditEvent = $event;
        sqlx::query($crate::domain::audit::INSERT)
            .bind(uuid::Uuid::new_v4())
            .bind(event.org_id)
            .bind(actor.user_id)
            .bind(actor.auth_method)
            .bind(actor.stepped_up_at)
            .bind(actor.ip)
            .bind(event.action)
            .bind(event.target)
            .bind(event.details.map(sqlx::types::Json))
            .bind($ctx.clock.now())
            .execute($conn)
            .await
    }};
}
pub use audit_in_tx;

/// Records `event` by `actor` on its own.
pub async fn record(ctx: &Ctx, actor: AuditActor, event: AuditEvent) -> DomainResult<()> {
    on_db!(&ctx.db, |p| audit_in_tx!(ctx, p, actor, event).map(|_| ()))?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    action: String,
    email: Option<String>,
    target: Option<String>,
    created_at: chrono::DateTime<chrono::Utc>,
}

/// The org's most recent audit entries (members only; caller checks).
pub async fn recent_for_org(ctx: &Ctx, org_id: Uuid, limit: i64) -> DomainResult<Vec<AuditEntryView>> {
    let rows: Vec<AuditRow> = on_db!(&ctx.db, |p| sqlx::query_as(
        "SELECT a.action, u.email, a.target, a.created_at FROM audit_log a \
         LEFT JOIN users u ON u.id = a.actor_user_id \
         WHERE a.org_id = $1 ORDER BY a.created_at DESC, a.id DESC LIMIT $2"
    )
    .bind(org_id)
    .bind(limit)
    .fetch_all(p)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|r| AuditEntryView {
            action: r.action,
            actor_email: r.email,
            target: r.target,
            created_at: super::clock::iso(r.created_at),
        })
        .collect())
}
