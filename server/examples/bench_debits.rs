//! Debits per second on SQLite (`scripts/bench-api.sh`): the metering
//! path (`billing::debit`: org row, usage id, buckets, ledger entries,
//! budget spending, in one transaction) against a baseline in the same
//! process and database: one bare write transaction per operation that
//! inserts a single row. Several tasks at once, as concurrent requests
//! would; rounds alternate and the median is reported.
//!
//! `bench_debits [operations per round] [tasks] [rounds]`

use std::time::Instant;

use app::domain::billing::{self, Deposit, DepositKind, MICROS_PER_CREDIT};
use app::domain::{accounts, orgs, Actor, Ctx};
use server::{Config, Settings};

/// Runs `operation(i)` for i in 0..operations, spread over `tasks` tasks;
/// answers operations per second.
async fn rate<F, Fut>(operations: usize, tasks: usize, operation: F) -> f64
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let started = Instant::now();
    let workers: Vec<_> = (0..tasks)
        .map(|t| {
            let operation = operation.clone();
            tokio::spawn(async move {
                for i in (t..operations).step_by(tasks) {
                    operation(i).await;
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    operations as f64 / started.elapsed().as_secs_f64()
}

/// One bare write transaction inserting one row.
async fn bare_write(ctx: Ctx, id: String) {
    app::on_db!(&ctx.db, |p| async {
        let mut tx = p.begin().await?;
        sqlx::query("INSERT INTO bench_writes (id, note) VALUES ($1, $2)")
            .bind(&id)
            .bind("one row")
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }
    .await)
    .expect("baseline write");
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (operations, tasks, rounds) =
        (args.first().copied().unwrap_or(5_000), args.get(1).copied().unwrap_or(8), args.get(2).copied().unwrap_or(3));
    let dir = std::env::temp_dir().join(format!("alumia-bench-debits-{}", uuid::Uuid::new_v4().simple()));
    let config = Config::resolve(&Settings { data_dir: Some(dir.clone()), ..Default::default() })?;
    let ctx = server::operator_ctx(&config).await?;
    let user =
        accounts::create_user(&ctx, "bench@example.com", "bench password 1").await.map_err(anyhow::Error::msg)?;
    let org =
        orgs::create_org(&ctx, &Actor::Cli { user_id: user }, "Bench", "bench").await.map_err(anyhow::Error::msg)?;
    billing::deposit(
        &ctx,
        Deposit {
            org_id: org.id,
            kind: DepositKind::Adjustment,
            source_ref: "bench",
            micros: 1_000_000 * MICROS_PER_CREDIT,
            expires_at: None,
            actor_user_id: None,
            reason: Some("bench"),
        },
    )
    .await
    .map_err(anyhow::Error::msg)?;
    app::exec_on_db!(&ctx.db, |p| sqlx::query("CREATE TABLE bench_writes (id TEXT PRIMARY KEY, note TEXT)")
        .execute(p)
        .await)?;

    println!(
        "{operations} operations per round, {tasks} tasks, {rounds} alternating rounds, SQLite in {}",
        dir.display()
    );
    let (mut bases, mut charges) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let base = rate(operations, tasks, {
            let ctx = ctx.clone();
            move |i| bare_write(ctx.clone(), format!("{round}-{i}"))
        })
        .await;
        let charge = rate(operations, tasks, {
            let ctx = ctx.clone();
            let org = org.id;
            move |i| {
                let ctx = ctx.clone();
                async move { billing::debit(&ctx, org, &format!("bench-{round}-{i}"), 1_000).await.expect("debit") }
            }
        })
        .await;
        println!(
            "-- round {}: bare write transactions {base:>8.0}/s   debits {charge:>8.0}/s   ratio {:.3}",
            round + 1,
            charge / base
        );
        bases.push(base);
        charges.push(charge);
    }
    let ratios: Vec<f64> = charges.iter().zip(&bases).map(|(c, b)| c / b).collect();
    println!("median debits/s: {:.0} (goal >= 2000)", median(charges));
    println!("median ratio debits / bare write transactions: {:.3}", median(ratios));
    let mismatches = billing::verify(&ctx).await.map_err(anyhow::Error::msg)?;
    anyhow::ensure!(mismatches.is_empty(), "the ledger does not explain every balance: {mismatches:?}");
    println!("ledger verified");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
