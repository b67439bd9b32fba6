//! Removes the objects of deleted files (and of deleted projects' files),
//! then their rows. A delete tries at once; what failed then (the store
//! was down, the process stopped) is found here on the next pass. Runs in
//! one process at a time under a lease.

use uuid::Uuid;

use crate::db::{exec_on_db, on_db};
use crate::domain::{jobs, Ctx, DomainResult};

/// Files a pass takes on.
const BATCH: i64 = 200;
pub const LEASE: &str = "files-sweeper";

/// Removes one deleted file's object, then its row; a failure is left to
/// the next sweep.
pub async fn remove(ctx: &Ctx, id: Uuid, object_key: &str) {
    let key = object_store::path::Path::from(object_key);
    match ctx.storage.delete(&key).await {
        Ok(()) => {
            let gone =
                exec_on_db!(&ctx.db, |p| sqlx::query("DELETE FROM files WHERE id = $1 AND deleted_at IS NOT NULL")
                    .bind(id)
                    .execute(p)
                    .await);
            if let Err(e) = gone {
                tracing::warn!(error = %e, file = %id, "a deleted file's row stays for the sweeper");
            }
        }
        Err(e) => tracing::warn!(error = %e, file = %id, "a deleted file's object stays for the sweeper"),
    }
}

/// One pass: up to `BATCH` deleted files. Answers how many were removed.
pub async fn sweep(ctx: &Ctx) -> DomainResult<usize> {
    let rows: Vec<(Uuid, String)> = on_db!(&ctx.db, |p| sqlx::query_as(
        "SELECT id, object_key FROM files WHERE deleted_at IS NOT NULL ORDER BY deleted_at LIMIT $1"
    )
    .bind(BATCH)
    .fetch_all(p)
    .await)?;
    let count = rows.len();
    for (id, key) in rows {
        remove(ctx, id, &key).await;
    }
    Ok(count)
}

/// The worker `launch` starts: a pass a minute while this process holds
/// the lease.
pub async fn run(ctx: Ctx, holder: String) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match jobs::try_lease(&ctx, LEASE, &holder, chrono::Duration::minutes(2)).await {
            Ok(true) => {
                if let Err(e) = sweep(&ctx).await {
                    tracing::warn!(error = %e.message, "the files sweeper's pass failed");
                }
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e.message, "the files sweeper could not take its lease"),
        }
    }
}
