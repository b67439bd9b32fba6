//! The monthly grant: each org's package grant, credited once per period
//! (the bucket is unique per org and period) and expiring at its end; what
//! is left of an ended grant leaves with an `expiry` entry.
//!
//! `run` is the worker's pass. It holds a lease so one process does it at
//! a time, and each step is safe anyway if two ever overlap: a second
//! deposit for the period changes nothing, and an expiry only applies to
//! the balance it read.

use chrono::Duration;
use uuid::Uuid;

use super::plans::Period;
use super::{Deposit, DepositKind, MICROS_PER_CREDIT};
use crate::db::on_db;
use crate::domain::{jobs, Ctx, DomainResult};

pub const LEASE: &str = "billing.grants";

/// What one pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct GrantRun {
    /// `false` when another process held the lease.
    pub ran: bool,
    pub granted: usize,
    pub expired: usize,
}

/// Expires ended grants, then credits this period's grant to every org
/// that lacks it.
pub async fn run(ctx: &Ctx, holder: &str) -> DomainResult<GrantRun> {
    if !jobs::try_lease(ctx, LEASE, holder, Duration::seconds(60)).await? {
        return Ok(GrantRun::default());
    }
    let expired = expire_ended(ctx).await;
    let granted = grant_period(ctx).await;
    jobs::release(ctx, LEASE, holder).await?;
    Ok(GrantRun { ran: true, granted: granted?, expired: expired? })
}

/// Credits the current period's grant to every org without it.
pub async fn grant_period(ctx: &Ctx) -> DomainResult<usize> {
    let period = Period::containing(ctx.clock.now());
    let orgs: Vec<(Uuid, Option<String>)> = on_db!(&ctx.db, |p| sqlx::query_as(
        "SELECT o.id, o.package_id FROM orgs o WHERE NOT EXISTS \
         (SELECT 1 FROM credit_buckets b WHERE b.org_id = o.id AND b.kind = 'grant' AND b.source_ref = $1)"
    )
    .bind(period.id())
    .fetch_all(p)
    .await)?;
    let mut granted = 0;
    for (org_id, package_id) in orgs {
        if grant(ctx, org_id, package_id.as_deref(), &period).await? {
            granted += 1;
        }
    }
    Ok(granted)
}

/// The org's grant for the current period, when it has none yet (a new
/// org gets its credits at once rather than at the worker's next pass).
pub async fn grant_now(ctx: &Ctx, org_id: Uuid) -> DomainResult<bool> {
    let period = Period::containing(ctx.clock.now());
    let package_id = super::plans::stored_package_id(ctx, org_id).await?;
    grant(ctx, org_id, package_id.as_deref(), &period).await
}

async fn grant(ctx: &Ctx, org_id: Uuid, package_id: Option<&str>, period: &Period) -> DomainResult<bool> {
    let package = ctx.billing.package(package_id);
    if package.monthly_credits == 0 {
        return Ok(false);
    }
    let reason = format!("{} monthly grant", package.name);
    super::deposit(
        ctx,
        Deposit {
            org_id,
            kind: DepositKind::Grant,
            source_ref: &period.id(),
            micros: package.monthly_credits * MICROS_PER_CREDIT,
            expires_at: Some(period.ends_at),
            actor_user_id: None,
            reason: Some(&reason),
        },
    )
    .await
}

#[derive(sqlx::FromRow)]
struct Ended {
    id: Uuid,
    org_id: Uuid,
    source_ref: String,
    balance: i64,
}

/// Takes what is left of every ended grant out with an `expiry` entry.
pub async fn expire_ended(ctx: &Ctx) -> DomainResult<usize> {
    let now = ctx.clock.now();
    let ended: Vec<Ended> = on_db!(&ctx.db, |p| sqlx::query_as(
        "SELECT id, org_id, source_ref, balance FROM credit_buckets \
         WHERE kind = 'grant' AND balance > 0 AND expires_at <= $1"
    )
    .bind(now)
    .fetch_all(p)
    .await)?;
    let mut expired = 0;
    for bucket in ended {
        let done: DomainResult<bool> = on_db!(&ctx.db, |p| async {
            let mut tx = p.begin().await?;
            // Only the balance read above: a debit or another pass that
            // changed it in between makes this one step aside.
            let emptied = sqlx::query("UPDATE credit_buckets SET balance = 0 WHERE id = $1 AND balance = $2")
                .bind(bucket.id)
                .bind(bucket.balance)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if emptied == 0 {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO ledger_entries (id, org_id, bucket_id, kind, amount, reference, reason, created_at) \
                 VALUES ($1, $2, $3, 'expiry', $4, $5, 'The monthly grant ended', $6)",
            )
            .bind(Uuid::new_v4())
            .bind(bucket.org_id)
            .bind(bucket.id)
            .bind(-bucket.balance)
            .bind(&bucket.source_ref)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(true)
        }
        .await);
        if done? {
            expired += 1;
        }
    }
    Ok(expired)
}
