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
//!
//! Those transactions run on a connection the writer's thread opens and
//! owns (rusqlite, over the same libsqlite3 as sqlx, with the same busy
//! handler and change hooks), not on one of the pool's: through the pool
//! each one was two more thread switches (to the connection's own thread
//! and back) and a checkout. In the chat benchmark (a hundred sessions
//! in a closed loop) the server then served 17–35 % more runs a second;
//! a transaction takes 0.1 ms at the median.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use futures::future::BoxFuture;
use sqlx::sqlite::SqliteArgumentValue;
use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::Db;

/// What the writer's thread runs: any job, or the statements of one
/// transaction, sent in one trip.
enum Job {
    Any(Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>),
    Statements(Statements),
}

/// Adds one transaction's statements to a batch.
type Build = Box<dyn FnOnce(&mut Batch) + Send>;

struct Statements {
    /// The database file.
    path: PathBuf,
    build: Build,
    done: oneshot::Sender<Result<Vec<Row>, sqlx::Error>>,
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
                let mut own = Connections::default();
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
                        match job {
                            // As a task of its own, so a job that panics
                            // loses its own answer and not the thread.
                            Job::Any(job) => {
                                let _ = tokio::spawn(job()).await;
                            }
                            // Here, at once: nothing else runs on this thread.
                            Job::Statements(job) => own.run(job),
                        }
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

/// SQLite: the statements `build` adds, as one transaction (`BEGIN
/// IMMEDIATE; …; COMMIT`) run on the writer's own connection (see the
/// module's note), on `lane`. Each statement run alone would be a trip
/// between the writer's task and the database; under load every trip
/// waits for threads to be scheduled again (a run's start and end once
/// took seventeen of them, and runs queued behind them for their first
/// token). So the statements guard each other in SQL (a later one holds
/// only if an earlier one took effect) instead of in Rust between trips.
/// Answers the rows they return, in order. Binds are [`Batch::push_bind`]'s
/// positional `?`, counted across the statements.
pub async fn sqlite_transaction(
    pool: &SqlitePool,
    lane: Lane,
    build: impl FnOnce(&mut Batch) + Send + 'static,
) -> Result<Vec<Row>, sqlx::Error> {
    let path = pool.connect_options().get_filename().to_path_buf();
    let (done, answer) = oneshot::channel();
    let job = Statements { path, build: Box::new(build), done };
    let sent = match lane {
        Lane::Ahead => queues().ahead.send(job).is_ok(),
        Lane::InOrder => queues().in_order.send(Job::Statements(job)).is_ok(),
    };
    if !sent {
        return Err(sqlx::Error::WorkerCrashed);
    }
    answer.await.unwrap_or(Err(sqlx::Error::WorkerCrashed))
}

use own::Connections;
pub use own::{Batch, Row, Separated};

mod own;
