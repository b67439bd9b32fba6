//! SQLite's busiest writes, one after the other on a thread of their own.
//!
//! SQLite takes one writer at a time, and a write transaction holds the
//! lock across every statement in it. Run from a request's task, each
//! statement is a hop to the connection's thread and back onto the async
//! workers, which under load (a hundred chats streaming) are busy relaying
//! tokens: a transaction of four statements held the lock for milliseconds,
//! mostly waiting to be scheduled, while other writers queued on the lock
//! holding the pool's connections. Here the chat's writes (a run's start,
//! its event batches, its steps and its end) queue in order and run on a
//! dedicated thread, whose own small runtime does nothing else: the lock
//! is held for the statements' own time, and writers queued here hold no
//! connection. PostgreSQL, with row locks and many writers, runs them in
//! place.
//!
//! A run's start is waited on by its first token, so it does not queue
//! behind other runs' event batches: `sqlite_transaction` with
//! `Lane::Ahead` goes before everything queued in order.

use std::future::Future;
use std::sync::OnceLock;

use futures::future::BoxFuture;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::Db;

/// What the writer's thread runs: any job, or the statements of one
/// transaction, sent in one trip.
enum Job {
    Any(Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>),
    Statements(Statements),
}

/// Adds one transaction's statements to a query.
type Build = Box<dyn FnOnce(&mut QueryBuilder<'static, Sqlite>) + Send>;

struct Statements {
    pool: SqlitePool,
    build: Build,
    done: oneshot::Sender<Result<Vec<SqliteRow>, sqlx::Error>>,
}

/// Where a transaction joins the writer's queue.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Someone waits on it (a run's start, before its first token): before
    /// every write queued in order.
    Ahead,
    /// Bookkeeping (events, messages, a run's end): in order with every
    /// other write.
    InOrder,
}

struct Queues {
    in_order: mpsc::UnboundedSender<Job>,
    ahead: mpsc::UnboundedSender<Statements>,
}

fn queues() -> &'static Queues {
    static QUEUES: OnceLock<Queues> = OnceLock::new();
    QUEUES.get_or_init(|| {
        let (in_order, mut rx) = mpsc::unbounded_channel::<Job>();
        let (ahead, mut ahead_rx) = mpsc::unbounded_channel::<Statements>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the SQLite writer's runtime starts");
                runtime.block_on(async move {
                    loop {
                        let job = tokio::select! {
                            biased;
                            Some(first) = ahead_rx.recv() => Job::Statements(first),
                            job = rx.recv() => match job {
                                Some(job) => job,
                                None => break,
                            },
                        };
                        // As a task of its own, so a job that panics loses
                        // its own answer and not the thread.
                        let _ = match job {
                            Job::Any(job) => tokio::spawn(job()).await,
                            Job::Statements(job) => tokio::spawn(run_statements(job)).await,
                        };
                    }
                });
            })
            .expect("the SQLite writer's thread starts");
        Queues { in_order, ahead }
    })
}

/// Runs `job` with the database: on SQLite queued on the writer thread
/// (see the module's note), on PostgreSQL here. The job owns what it
/// writes; it should only write (waiting on anything else would hold up
/// every write queued behind it).
pub async fn write<T, F, Fut>(db: &Db, job: F) -> Result<T, sqlx::Error>
where
    T: Send + 'static,
    F: FnOnce(Db) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, sqlx::Error>> + Send + 'static,
{
    if matches!(db, Db::Postgres(_)) {
        return job(db.clone()).await;
    }
    let (done, answer) = oneshot::channel();
    let db = db.clone();
    let job = Job::Any(Box::new(move || {
        Box::pin(async move {
            let _ = done.send(job(db).await);
        })
    }));
    if queues().in_order.send(job).is_err() {
        return Err(sqlx::Error::WorkerCrashed);
    }
    answer.await.unwrap_or(Err(sqlx::Error::WorkerCrashed))
}

/// SQLite: the statements `build` adds, as one transaction sent to the
/// connection's thread in one trip (`BEGIN IMMEDIATE; …; COMMIT`), on
/// `lane`. Each statement sent alone is a round trip between the writer's
/// thread and the connection's, and under load every trip waits for both
/// threads to be scheduled again: a run's start and end took seventeen of
/// them, and runs queued behind them for their first token. So the
/// statements guard each other in SQL (a later one holds only if an
/// earlier one took effect) instead of in Rust between trips. Answers the
/// rows they return. Binds are `push_bind`'s positional `?`, counted
/// across the statements.
pub async fn sqlite_transaction(
    pool: &SqlitePool,
    lane: Lane,
    build: impl FnOnce(&mut QueryBuilder<'static, Sqlite>) + Send + 'static,
) -> Result<Vec<SqliteRow>, sqlx::Error> {
    let (done, answer) = oneshot::channel();
    let job = Statements { pool: pool.clone(), build: Box::new(build), done };
    let sent = match lane {
        Lane::Ahead => queues().ahead.send(job).is_ok(),
        Lane::InOrder => queues().in_order.send(Job::Statements(job)).is_ok(),
    };
    if !sent {
        return Err(sqlx::Error::WorkerCrashed);
    }
    answer.await.unwrap_or(Err(sqlx::Error::WorkerCrashed))
}

async fn run_statements(job: Statements) {
    let mut query = QueryBuilder::new("BEGIN IMMEDIATE; ");
    (job.build)(&mut query);
    query.push("; COMMIT");
    let _ = job.done.send(run(&job.pool, query.build()).await);
}

/// Runs a `BEGIN …; COMMIT` text; on an error, rolls back before the
/// connection goes back to the pool (one that cannot is closed instead).
async fn run<'q>(
    pool: &SqlitePool,
    query: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
) -> Result<Vec<SqliteRow>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let result = query.fetch_all(&mut *conn).await;
    if result.is_err() {
        // Failed before COMMIT, or at it: what the statements did is undone.
        // "No transaction is active" (BEGIN itself failed) is fine too.
        if let Err(e) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
            if !e.to_string().contains("no transaction is active") {
                conn.close_on_drop();
            }
        }
    }
    result
}
