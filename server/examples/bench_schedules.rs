//! The schedule runner's benchmark (`scripts/bench-schedules.sh`), in one
//! process on one database, as a server process runs it:
//! 1. the due scan: the time of a runner pass with nothing due, among
//!    1,000 schedules and then among 100,000 (all enabled, most due in
//!    the coming weeks) — the figure is their ratio (goal <= 1.5);
//! 2. fire lag: 1,000 schedules due at the same instant with the runner
//!    running as `launch` starts it, each firing a run against the
//!    stand-in model; behind the due time, p50 and p99: the claim (the
//!    firing's row) and the run's start (its rows written and its loop
//!    started, in the claim's transaction; goal: p99 <= 1 s), and the run's
//!    first model call as the stand-in saw it arrive (`--model-url`): the
//!    runtime's pace with every run streaming at once.
//!
//! `bench_schedules --config FILE --model fake/fast-200 --model-url http://127.0.0.1:PORT [--postgres ADMIN_URL]`
//!
//! Schedules are written in bulk with SQL (the package cap is not what is
//! measured). Each figure is printed once more as `result <name> <value>`.
//! Nothing here asserts a time.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use app::domain::schedules::runner;
use app::domain::{accounts, agents, orgs, projects, Actor, Ctx};
use server::{Config, Settings};

const SMALL: usize = 1_000;
const LARGE: usize = 100_000;
const DUE_AT_ONCE: usize = 1_000;
const PASSES: usize = 200;

/// A firing's due time, its claim's start and its run's start.
type FiringTimes = (DateTime<Utc>, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

fn flag(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Writes `count` enabled schedules of the agent, due at random times in
/// the next 30 days, 500 to a statement.
async fn seed(ctx: &Ctx, org: Uuid, agent: Uuid, project: Uuid, count: usize) -> anyhow::Result<()> {
    let now = ctx.clock.now();
    let mut left = count;
    while left > 0 {
        let batch = left.min(500);
        left -= batch;
        let rows: Vec<(Uuid, DateTime<Utc>)> = (0..batch)
            .map(|_| {
                let minutes = 1 + (rand_u64() % (30 * 24 * 60)) as i64;
                (Uuid::new_v4(), now + chrono::Duration::minutes(minutes))
            })
            .collect();
        app::on_db!(&ctx.db, |p| {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO schedules (id, org_id, name, cron, timezone, prompt, agent_id, project_id, enabled, \
                 missed_runs, max_duration_seconds, next_run_at, created_at, updated_at) ",
            );
            q.push_values(&rows, |mut b, (id, next)| {
                b.push_bind(*id)
                    .push_bind(org)
                    .push_bind("Bench")
                    .push_bind("0 9 * * *")
                    .push_bind("UTC")
                    .push_bind("Say hello.")
                    .push_bind(agent)
                    .push_bind(project)
                    .push_bind(true)
                    .push_bind("skip")
                    .push_bind(900_i64)
                    .push_bind(*next)
                    .push_bind(now)
                    .push_bind(now);
            });
            q.build().execute(p).await.map(|_| ())
        })?;
    }
    Ok(())
}

fn rand_u64() -> u64 {
    u64::from_le_bytes(Uuid::new_v4().as_bytes()[..8].try_into().unwrap())
}

/// The time of one runner pass with nothing due, over `PASSES` passes:
/// (median, p99) in milliseconds.
async fn scan_time(ctx: &Ctx) -> anyhow::Result<(f64, f64)> {
    let mut times = Vec::with_capacity(PASSES);
    for _ in 0..PASSES {
        let started = Instant::now();
        let tick = runner::tick(ctx).await.map_err(|e| anyhow::anyhow!(e.message))?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(tick.due == 0, "nothing should be due");
    }
    times.sort_by(f64::total_cmp);
    Ok((percentile(&times, 50.0), percentile(&times, 99.0)))
}

/// When each call reached the stand-in model (Unix microseconds).
async fn model_arrivals(model_url: &str) -> anyhow::Result<Vec<i64>> {
    let answer: serde_json::Value = reqwest::get(format!("{model_url}/stats/arrivals")).await?.json().await?;
    Ok(answer["arrivals"].as_array().map(|a| a.iter().filter_map(|t| t.as_i64()).collect()).unwrap_or_default())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config_file = flag("--config").map(std::path::PathBuf::from);
    let model = flag("--model").unwrap_or_else(|| "fake/fast-200".into());
    let dir = std::env::temp_dir().join(format!("alumia-bench-schedules-{}", Uuid::new_v4().simple()));
    let mut database_url = None;
    let mut made_database = None;
    if let Some(admin) = flag("--postgres") {
        let name = format!("bench_schedules_{}", Uuid::new_v4().simple());
        let pool = sqlx::PgPool::connect(&admin).await?;
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&pool).await?;
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b).to_string();
        database_url = Some(format!("{base}/{name}"));
        made_database = Some((pool, name));
    }
    let settings = Settings {
        data_dir: Some(dir.clone()),
        config: config_file,
        database_url: database_url.clone(),
        ollama_url: Some("off".into()),
        ..Default::default()
    };
    let config = Config::resolve(&settings)?;
    let backend = if database_url.is_some() { "postgres" } else { "sqlite" };
    let ctx = server::operator_ctx(&config).await?;
    let fail = |e: app::model::AppError| anyhow::anyhow!(e.message);
    let user = accounts::create_user(&ctx, "bench@example.com", "bench password 1").await.map_err(fail)?;
    let actor = Actor::Cli { user_id: user };
    let org = orgs::create_org(&ctx, &actor, "Bench", "bench").await.map_err(fail)?;
    let agent_input = serde_json::from_value(json!({ "name": "Bench", "model": model }))?;
    let agent = agents::create(&ctx, &actor, &org, agent_input).await.map_err(fail)?;
    let project_input = projects::NewProject { name: "Bench".into(), ..Default::default() };
    let project = projects::create(&ctx, &actor, &org, project_input).await.map_err(fail)?;

    println!("== {backend}: the due scan (a runner pass with nothing due, {PASSES} passes)");
    seed(&ctx, org.id, agent.id, project.id, SMALL).await?;
    let (small_p50, small_p99) = scan_time(&ctx).await?;
    println!("{SMALL:>7} schedules: pass p50 {small_p50:.3} ms, p99 {small_p99:.3} ms");
    seed(&ctx, org.id, agent.id, project.id, LARGE - SMALL).await?;
    let (large_p50, large_p99) = scan_time(&ctx).await?;
    println!("{LARGE:>7} schedules: pass p50 {large_p50:.3} ms, p99 {large_p99:.3} ms");
    let ratio = large_p50 / small_p50;
    println!("ratio {LARGE} / {SMALL}: {ratio:.2}x (goal <= 1.5x)");
    println!("result {backend}_scan_small_p50_ms {small_p50:.3}");
    println!("result {backend}_scan_large_p50_ms {large_p50:.3}");
    println!("result {backend}_scan_ratio {ratio:.2}");

    println!("== {backend}: fire lag, {DUE_AT_ONCE} schedules due at the same instant among {LARGE}");
    // Due on a whole second, a little ahead; the runner sleeps until then.
    let now = ctx.clock.now();
    let due = DateTime::from_timestamp(now.timestamp() + 3, 0).expect("a time");
    app::on_db!(&ctx.db, |p| sqlx::query(
        "UPDATE schedules SET next_run_at = $1 WHERE id IN (SELECT id FROM schedules ORDER BY id LIMIT $2)"
    )
    .bind(due)
    .bind(DUE_AT_ONCE as i64)
    .execute(p)
    .await
    .map(|_| ()))?;
    // The stand-in serves both databases' runs: only later calls count.
    let model_url = flag("--model-url").ok_or_else(|| anyhow::anyhow!("--model-url is required"))?;
    let seen_before = model_arrivals(&model_url).await?.len();
    runner::spawn(&ctx, Duration::from_secs(1));
    let deadline = Instant::now() + Duration::from_secs(120);
    let (claimed, started): (Vec<f64>, Vec<f64>) = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rows: Vec<FiringTimes> = app::on_db!(&ctx.db, |p| sqlx::query_as(
            "SELECT f.scheduled_for, f.started_at, r.started_at FROM schedule_runs f \
                 LEFT JOIN runs r ON r.id = f.run_id WHERE f.scheduled_for = $1"
        )
        .bind(due)
        .fetch_all(p)
        .await)?;
        let done = rows.iter().filter(|r| r.2.is_some()).count();
        if done >= DUE_AT_ONCE || Instant::now() > deadline {
            let lag = |t: Option<DateTime<Utc>>, s: DateTime<Utc>| {
                t.map(|t| (t - s).num_microseconds().unwrap_or(0) as f64 / 1000.0)
            };
            let mut claimed: Vec<f64> = rows.iter().filter_map(|r| lag(r.1, r.0)).collect();
            let mut started: Vec<f64> = rows.iter().filter_map(|r| lag(r.2, r.0)).collect();
            claimed.sort_by(f64::total_cmp);
            started.sort_by(f64::total_cmp);
            break (claimed, started);
        }
    };
    // Every run's first call has reached the stand-in once its row is
    // there and its loop had a moment; the scan phases called it never.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let arrivals = model_arrivals(&model_url).await?;
    let mut called: Vec<f64> = arrivals
        .into_iter()
        .skip(seen_before)
        .map(|micros| (micros - due.timestamp_micros()) as f64 / 1000.0)
        .collect();
    called.sort_by(f64::total_cmp);
    println!(
        "fired {} of {DUE_AT_ONCE}; runs recorded {}; first model calls {}",
        claimed.len(),
        started.len(),
        called.len()
    );
    let (c50, c99) = (percentile(&claimed, 50.0), percentile(&claimed, 99.0));
    let (s50, s99) = (percentile(&started, 50.0), percentile(&started, 99.0));
    let (m50, m99) = (percentile(&called, 50.0), percentile(&called, 99.0));
    println!("claim lag: p50 {c50:.0} ms, p99 {c99:.0} ms");
    println!("run start lag: p50 {s50:.0} ms, p99 {s99:.0} ms (goal p99 <= 1000 ms)");
    println!("first model call lag: p50 {m50:.0} ms, p99 {m99:.0} ms");
    println!("result {backend}_claim_lag_p99_ms {c99:.0}");
    println!("result {backend}_recorded_lag_p99_ms {s99:.0}");
    println!("result {backend}_model_call_lag_p50_ms {m50:.0}");
    println!("result {backend}_model_call_lag_p99_ms {m99:.0}");
    println!("result {backend}_model_calls {}", called.len());
    // Let the runs end before the database goes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    ctx.hub.cancel_all();
    if let Some((pool, name)) = made_database {
        if let app::db::Db::Postgres(own) = &ctx.db {
            own.close().await;
        }
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&pool).await;
    }
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}
