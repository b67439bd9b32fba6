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

use std::future::Future;
use std::sync::OnceLock;

use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use super::Db;

type Job = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;

fn queue() -> &'static mpsc::UnboundedSender<Job> {
    static QUEUE: OnceLock<mpsc::UnboundedSender<Job>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the SQLite writer's runtime starts");
                runtime.block_on(async move {
                    while let Some(job) = rx.recv().await {
                        // As a task of its own, so a job that panics loses
                        // its own answer and not the thread.
                        let _ = tokio::spawn(job()).await;
                    }
                });
            })
            .expect("the SQLite writer's thread starts");
        tx
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
    let job: Job = Box::new(move || {
        Box::pin(async move {
            let _ = done.send(job(db).await);
        })
    });
    if queue().send(job).is_err() {
        return Err(sqlx::Error::WorkerCrashed);
    }
    answer.await.unwrap_or(Err(sqlx::Error::WorkerCrashed))
}
