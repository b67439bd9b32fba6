//! SQLite's WAL checkpoints, on a thread of their own per database file.
//!
//! A checkpoint copies the WAL's pages into the database and syncs both
//! files: a few milliseconds, tens under load. SQLite runs it in the
//! commit that finds the WAL past 1,000 frames, on the committing
//! connection, and that connection is usually the writer's (`writer/own.rs`):
//! every write queued behind it — a run's claim, which the first token waits
//! for — waited those milliseconds too (strace of the chat benchmark: 259
//! syncs in 25 s, all on the writer's thread, up to 22 ms each).
//!
//! Here the commit only asks; a thread with a connection of its own runs
//! `PRAGMA wal_checkpoint(PASSIVE)`, which takes no lock a writer waits
//! for, so writers go on meanwhile. A thread idle for a minute closes its
//! connection and ends; the next request starts another.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// How long a checkpoint thread waits for work before it ends.
const IDLE: Duration = Duration::from_secs(60);

/// Whether a checkpoint is wanted, and the thread's wake-up call.
#[derive(Default)]
struct Wanted {
    pending: Mutex<bool>,
    wake: Condvar,
}

/// The running threads, by database file.
fn threads() -> MutexGuard<'static, HashMap<PathBuf, Arc<Wanted>>> {
    static THREADS: OnceLock<Mutex<HashMap<PathBuf, Arc<Wanted>>>> = OnceLock::new();
    THREADS.get_or_init(Default::default).lock().unwrap_or_else(PoisonError::into_inner)
}

fn lock(pending: &Mutex<bool>) -> MutexGuard<'_, bool> {
    pending.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Asks for the database at `path` to be checkpointed soon, by its thread,
/// started if there is none. False when no thread could be started (the
/// caller then checkpoints itself, as SQLite would).
pub(super) fn request(path: &Path) -> bool {
    let mut threads = threads();
    let wanted = match threads.get(path) {
        Some(wanted) => wanted.clone(),
        None => {
            let wanted = Arc::new(Wanted::default());
            let spawned = std::thread::Builder::new().name("sqlite-checkpoint".into()).spawn({
                let (path, wanted) = (path.to_path_buf(), wanted.clone());
                move || run(&path, &wanted)
            });
            if spawned.is_err() {
                return false;
            }
            threads.insert(path.to_path_buf(), wanted.clone());
            wanted
        }
    };
    // Set while the map is held: a thread ending looks at `pending` under
    // the same lock, so it never ends with a request it has not seen.
    *lock(&wanted.pending) = true;
    wanted.wake.notify_one();
    true
}

fn run(path: &Path, wanted: &Wanted) {
    let mut conn: Option<Connection> = None;
    loop {
        let mut pending = lock(&wanted.pending);
        while !*pending {
            let (next, waited) = wanted.wake.wait_timeout(pending, IDLE).unwrap_or_else(PoisonError::into_inner);
            pending = next;
            if waited.timed_out() && !*pending {
                drop(pending);
                let mut threads = threads();
                if !*lock(&wanted.pending) {
                    threads.remove(path);
                    return;
                }
                pending = lock(&wanted.pending);
            }
        }
        *pending = false;
        drop(pending);
        if conn.is_none() {
            conn = open(path).map_err(|e| tracing::warn!(error = %e, path = %path.display(), "could not open the database to checkpoint it")).ok();
        }
        if let Some(c) = &conn {
            // (busy, frames in the WAL, frames copied): nothing to act on;
            // a checkpoint cut short by a reader is asked for again by the
            // next commit.
            if let Err(e) = c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::warn!(error = %e, path = %path.display(), "a WAL checkpoint failed");
                conn = None;
            }
        }
    }
}

/// A connection that only checkpoints: no hooks (it writes no row), and
/// the pool's `synchronous`, which decides how a checkpoint syncs.
fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.execute_batch("PRAGMA synchronous = NORMAL;")?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_copies_the_wal_into_the_database_from_another_thread() {
        let path = std::env::temp_dir().join(format!("alumia-checkpoint-{}.db", uuid::Uuid::new_v4()));
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (v TEXT);")
            .unwrap();
        for _ in 0..100 {
            writer.execute("INSERT INTO t VALUES (?1)", ["x".repeat(2000)]).unwrap();
        }
        let size = || std::fs::metadata(&path).unwrap().len();
        assert!(size() < 50 * 1024, "with checkpoints off the rows are in the WAL only");

        assert!(request(&path));
        // 100 rows of 2 KB: the file holds them once the checkpoint has run.
        let copied = (0..300).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            size() > 150 * 1024
        });
        assert!(copied, "the database file received the WAL's pages");
        let rows: i64 = writer.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 100);
        drop(writer);
        let _ = std::fs::remove_file(&path);
    }
}
