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
//! Here the commit only asks, once per 1,000 frames written; a thread with
//! a connection of its own runs `PRAGMA wal_checkpoint(PASSIVE)`, which
//! takes no lock a writer waits for, so writers go on meanwhile. The first
//! commit after it checkpoints the few frames written since itself (SQLite
//! starts the WAL again only for a writer that began with all of it
//! copied, and a busy writer is never that lucky otherwise: the WAL grew to
//! its backstop). Past 4,000 frames the commit checkpoints itself as
//! before, so the WAL stays bounded whatever happens. A thread idle for a
//! minute closes its connection and ends; the next request starts another.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// Frames in the WAL at which a commit asks for a checkpoint, and again
/// after as many more: SQLite's default (`wal_autocheckpoint`), which
/// installing a WAL hook replaces.
const ASK_FRAMES: c_int = 1000;

/// Frames at which the commit checkpoints itself, as SQLite would. The WAL
/// starts again from its beginning only when a writer finds all of it
/// copied; a writer that never pauses can outrun the thread, and the file
/// must not grow without bound.
const BACKSTOP_FRAMES: c_int = 4 * ASK_FRAMES;

/// How long a checkpoint thread waits for work before it ends.
const IDLE: Duration = Duration::from_secs(60);

/// A database file's thread: whether a checkpoint is wanted, and its
/// wake-up call.
#[derive(Default)]
struct Wanted {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    pending: bool,
    /// The WAL's frames at the last request.
    asked_at: c_int,
    /// The WAL's frames at the last commit: fewer now means it started
    /// again from its beginning.
    seen: c_int,
    /// The thread has copied what the WAL held when it was asked.
    copied: bool,
}

/// What a commit past `ASK_FRAMES` is to do.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// Nothing: the thread has been asked, or is busy with an earlier ask.
    Nothing,
    /// Checkpoint here: the thread has copied most of the WAL, and a
    /// checkpoint on the writing connection itself, of the few frames
    /// written since, lets its next transaction start the WAL again (SQLite
    /// does that only for a writer that began with the WAL all copied).
    Finish,
}

/// The running threads, by database file.
fn threads() -> MutexGuard<'static, HashMap<PathBuf, Arc<Wanted>>> {
    static THREADS: OnceLock<Mutex<HashMap<PathBuf, Arc<Wanted>>>> = OnceLock::new();
    THREADS.get_or_init(Default::default).lock().unwrap_or_else(PoisonError::into_inner)
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Called by the WAL hook (`db::changes`) after every commit, with the
/// frames it left in the WAL: from `ASK_FRAMES` on, the database file's
/// thread is asked to checkpoint, or the commit does it itself when the
/// thread has just copied, the WAL is past the backstop or the database
/// has no file.
pub(super) fn after_commit(db: *mut libsqlite3_sys::sqlite3, name: *const c_char, frames: c_int) {
    let next = match ask(db, name, frames) {
        _ if frames >= BACKSTOP_FRAMES => Next::Finish,
        Some(next) => next,
        None if frames >= ASK_FRAMES => Next::Finish,
        None => Next::Nothing,
    };
    if next == Next::Finish {
        // SAFETY: the connection and schema name SQLite handed the hook.
        unsafe { libsqlite3_sys::sqlite3_wal_checkpoint(db, name) };
    }
}

/// None when the database has no file or no thread could be started.
fn ask(db: *mut libsqlite3_sys::sqlite3, name: *const c_char, frames: c_int) -> Option<Next> {
    // SAFETY: the connection and schema name SQLite handed the hook; the
    // answer is NULL or a NUL-terminated string valid while the
    // connection is open, read at once.
    let file = unsafe { libsqlite3_sys::sqlite3_db_filename(db, name) };
    if file.is_null() {
        return None;
    }
    // SAFETY: non-null, NUL-terminated, as above.
    let file = unsafe { CStr::from_ptr(file) }.to_bytes();
    if file.is_empty() {
        return None;
    }
    request(Path::new(OsStr::from_bytes(file)), frames)
}

/// Asks for the database at `path` to be checkpointed soon, by its thread,
/// started if there is none, unless the thread has just done it; `frames`
/// is the WAL's length. None when no thread could be started.
fn request(path: &Path, frames: c_int) -> Option<Next> {
    let mut threads = threads();
    let wanted = match threads.get(path) {
        Some(wanted) => wanted.clone(),
        // No thread until one is needed.
        None if frames < ASK_FRAMES => return Some(Next::Nothing),
        None => {
            let wanted = Arc::new(Wanted::default());
            let spawned = std::thread::Builder::new().name("sqlite-checkpoint".into()).spawn({
                let (path, wanted) = (path.to_path_buf(), wanted.clone());
                move || run(&path, &wanted)
            });
            if spawned.is_err() {
                return None;
            }
            threads.insert(path.to_path_buf(), wanted.clone());
            wanted
        }
    };
    // Set while the map is held: a thread ending looks at `pending` under
    // the same lock, so it never ends with a request it has not seen.
    let mut state = lock(&wanted.state);
    if frames < state.seen {
        // The WAL started again: what the thread copied went with it, and
        // finishing that copy here would copy a whole WAL on this thread.
        state.copied = false;
        state.asked_at = 0;
    }
    state.seen = frames;
    if frames < ASK_FRAMES {
        return Some(Next::Nothing);
    }
    if std::mem::take(&mut state.copied) {
        return Some(Next::Finish);
    }
    // Every commit until the WAL starts again finds it past the mark; one
    // checkpoint per `ASK_FRAMES` written, as SQLite's own, since each one
    // syncs the file.
    if frames >= state.asked_at + ASK_FRAMES {
        state.asked_at = frames;
        state.pending = true;
        wanted.wake.notify_one();
    }
    Some(Next::Nothing)
}

fn run(path: &Path, wanted: &Wanted) {
    let mut conn: Option<Connection> = None;
    loop {
        let mut state = lock(&wanted.state);
        while !state.pending {
            let (next, waited) = wanted.wake.wait_timeout(state, IDLE).unwrap_or_else(PoisonError::into_inner);
            state = next;
            if waited.timed_out() && !state.pending {
                drop(state);
                let mut threads = threads();
                if !lock(&wanted.state).pending {
                    threads.remove(path);
                    return;
                }
                state = lock(&wanted.state);
            }
        }
        state.pending = false;
        drop(state);
        if conn.is_none() {
            conn = open(path)
                .map_err(|e| tracing::warn!(error = %e, path = %path.display(), "could not open the database to checkpoint it"))
                .ok();
        }
        if let Some(c) = &conn {
            // (busy, frames in the WAL, frames copied): nothing to act on;
            // a checkpoint cut short by a reader is asked for again.
            match c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                Ok(()) => lock(&wanted.state).copied = true,
                Err(e) => {
                    tracing::warn!(error = %e, path = %path.display(), "a WAL checkpoint failed");
                    conn = None;
                }
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

    /// A database in WAL mode with SQLite's own checkpoints off, holding
    /// 100 rows of 2 KB, all still in the WAL.
    fn rows_in_the_wal() -> (PathBuf, Connection) {
        let path = std::env::temp_dir().join(format!("alumia-checkpoint-{}.db", uuid::Uuid::new_v4()));
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (v TEXT);")
            .unwrap();
        for _ in 0..100 {
            writer.execute("INSERT INTO t VALUES (?1)", ["x".repeat(2000)]).unwrap();
        }
        assert!(std::fs::metadata(&path).unwrap().len() < 50 * 1024, "the rows are in the WAL only");
        (path, writer)
    }

    #[test]
    fn a_request_copies_the_wal_into_the_database_from_another_thread() {
        let (path, writer) = rows_in_the_wal();
        let size = || std::fs::metadata(&path).unwrap().len();

        assert_eq!(request(&path, ASK_FRAMES), Some(Next::Nothing));
        // 100 rows of 2 KB: the file holds them once the checkpoint has run.
        let copied = (0..300).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            size() > 150 * 1024
        });
        assert!(copied, "the database file received the WAL's pages");
        let rows: i64 = writer.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 100);
        // The next commit finishes the copy itself, so its connection's next
        // write can start the WAL again; the one after that waits for 1,000
        // more frames.
        let finished = (0..300).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            request(&path, ASK_FRAMES + 10) == Some(Next::Finish)
        });
        assert!(finished);
        assert_eq!(request(&path, ASK_FRAMES + 20), Some(Next::Nothing));
        // Copied again, then the WAL starts again before a commit past the
        // mark: that copy is forgotten, not finished on the commit's thread.
        assert_eq!(request(&path, 2 * ASK_FRAMES + 20), Some(Next::Nothing));
        let copied_again = (0..300).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            lock(&threads()[path.as_path()].state).copied
        });
        assert!(copied_again);
        assert_eq!(request(&path, 3), Some(Next::Nothing));
        assert_eq!(request(&path, ASK_FRAMES + 5), Some(Next::Nothing), "asked, not finished");
        drop(writer);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn past_the_backstop_the_commit_checkpoints_itself() {
        let (path, writer) = rows_in_the_wal();
        let size = || std::fs::metadata(&path).unwrap().len();
        // SAFETY: the open connection's handle, used on this thread only.
        let handle = unsafe { writer.handle() };
        after_commit(handle, c"main".as_ptr(), BACKSTOP_FRAMES);
        assert!(size() > 150 * 1024, "copied before after_commit returned");
        drop(writer);
        let _ = std::fs::remove_file(&path);
    }
}
