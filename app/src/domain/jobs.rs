//! Leases for background jobs (ENGINEERING §5): a job runs in one process
//! at a time, even with several processes on one PostgreSQL. A lease that
//! its holder stopped renewing (a crash) is free again once it ends.

use chrono::Duration;

use super::{Ctx, DomainResult};
use crate::db::exec_on_db;

/// Takes (or renews) the lease `name` for `holder` for `length`: `false`
/// while another holder's lease runs.
pub async fn try_lease(ctx: &Ctx, name: &str, holder: &str, length: Duration) -> DomainResult<bool> {
    let now = ctx.clock.now();
    let until = now + length;
    // One statement: the insert, or the update of an ended (or our own)
    // lease; a row another holder keeps is left alone.
    let taken = exec_on_db!(&ctx.db, |p| sqlx::query(
        "INSERT INTO job_leases (name, holder, leased_until) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, leased_until = excluded.leased_until \
         WHERE job_leases.leased_until < $4 OR job_leases.holder = excluded.holder"
    )
    .bind(name)
    .bind(holder)
    .bind(until)
    .bind(now)
    .execute(p)
    .await)?;
    Ok(taken == 1)
}

/// Gives the lease back early (the job finished).
pub async fn release(ctx: &Ctx, name: &str, holder: &str) -> DomainResult<()> {
    exec_on_db!(&ctx.db, |p| sqlx::query("DELETE FROM job_leases WHERE name = $1 AND holder = $2")
        .bind(name)
        .bind(holder)
        .execute(p)
        .await)?;
    Ok(())
}
