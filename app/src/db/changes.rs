//! Which tables a committed SQLite transaction changed, as one counter
//! per watched table: what lets a page's data be kept in memory until
//! the rows it was read from change (`domain::cache::TableCache`).
//!
//! Every write path then drops what it changes without knowing who
//! reads it: SQLite itself says which table each row it writes belongs
//! to (the update hook), and when the transaction's commit has taken
//! place (the WAL hook, called after the commit, before `COMMIT` returns
//! to its caller). A counter is bumped only then, so a reader that takes
//! the counters before it queries and keeps its answer under them can
//! never keep an older answer under newer counters: it read either after
//! the commit (fresh) or before the bump (and the bump outdates it). A
//! transaction rolled back bumps nothing; a write's own request reads
//! its change, since the bump happened before its `COMMIT` returned.
//!
//! `alumia admin`, the one other process that writes the file (an
//! operator granting credits, adding a user), leaves a new mark in a file
//! beside the database when it is done (`announce`); every version read
//! here includes whether that mark changed, so its writes show at once
//! too. PostgreSQL may have several processes writing, whose commits this
//! one does not see: its caches are off.

use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// The tables page caches read from. A table not listed here is not
/// tracked: writing it costs nothing and drops nothing.
pub const WATCHED: &[&str] = &[
    "agents",
    "audit_log",
    "budget_alerts",
    "budget_spend",
    "budgets",
    "credit_buckets",
    "ledger_entries",
    "memberships",
    "orgs",
    "runs",
    "users",
];

static COUNTERS: [AtomicU64; 64] = [const { AtomicU64::new(0) }; 64];

thread_local! {
    /// Watched tables written by the transaction going on on this thread.
    /// sqlx gives each SQLite connection a thread of its own, and the
    /// hooks run on it, so this is the connection's transaction.
    static DIRTY: Cell<u64> = const { Cell::new(0) };
}

/// A set of watched tables, by their place in [`WATCHED`].
#[derive(Clone, Copy, Debug)]
pub struct Tables(u64);

impl Tables {
    /// Panics on a table not in [`WATCHED`]: a cache would never see it
    /// change (caches are made at start-up, so any test finds this).
    pub fn of(names: &[&str]) -> Tables {
        Tables(names.iter().fold(0, |mask, name| {
            let at = WATCHED.iter().position(|w| w == name);
            mask | 1 << at.unwrap_or_else(|| panic!("table {name} is not in db::changes::WATCHED"))
        }))
    }

    /// Moves with every commit that wrote one of these tables, and with
    /// every `alumia admin` command run since.
    pub fn version(self) -> u64 {
        (0..WATCHED.len())
            .filter(|i| self.0 & (1 << i) != 0)
            .map(|i| COUNTERS[i].load(Ordering::Acquire))
            .fold(external(), u64::wrapping_add)
    }
}

/// The file `alumia admin` marks beside a SQLite database (`None` for an
/// in-memory one or PostgreSQL).
fn marker_for(database_url: &str) -> Option<PathBuf> {
    let rest = database_url.strip_prefix("sqlite://").or_else(|| database_url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| PathBuf::from(format!("{path}-changed")))
}

/// The mark the server follows, opened once at start (`follow`) and kept
/// open: each check is then one `pread` of 16 bytes, where reading the file
/// by its path took five system calls, on every cache read of every page.
static MARKER: OnceLock<File> = OnceLock::new();
/// Bumped each time the mark is found changed.
static EXTERNAL: AtomicU64 = AtomicU64::new(0);
static LAST_MARK: Mutex<[u8; MARK_LEN]> = Mutex::new([0; MARK_LEN]);
const MARK_LEN: usize = 16;

/// The server follows `alumia admin`'s mark for its database. The file is
/// made here when missing, so the server and the CLI always share one
/// file, which the CLI writes in place.
pub fn follow(database_url: &str) {
    let Some(path) = marker_for(database_url) else { return };
    match OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path) {
        Ok(file) => {
            let _ = MARKER.set(file);
            external();
        }
        Err(e) => tracing::warn!(
            error = %e, path = %path.display(),
            "cannot follow `alumia admin`'s mark; what it changes shows within seconds instead of at once"
        ),
    }
}

/// `alumia admin` is done writing: a new mark, written over the old one in
/// place (a server keeps the file open, so a new file would go unseen). A
/// reader that catches the write halfway sees a changed mark all the same.
pub fn announce(database_url: &str) {
    let Some(path) = marker_for(database_url) else { return };
    let written = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .and_then(|file| file.write_all_at(uuid::Uuid::new_v4().as_bytes(), 0));
    if let Err(e) = written {
        tracing::warn!(error = %e, path = %path.display(), "could not mark the database changed; a running server shows this within seconds");
    }
}

/// How many times the mark was found changed. A read of 16 bytes (one
/// system call), not a statement: the file's time of change is too coarse
/// to tell two commands a few milliseconds apart.
fn external() -> u64 {
    let Some(file) = MARKER.get() else { return 0 };
    let mut mark = [0; MARK_LEN];
    // A short or failed read leaves zeros: a change if the mark was set.
    let _ = file.read_at(&mut mark, 0);
    let mut last = LAST_MARK.lock().unwrap_or_else(|p| p.into_inner());
    if *last != mark {
        *last = mark;
        EXTERNAL.fetch_add(1, Ordering::AcqRel);
    }
    EXTERNAL.load(Ordering::Acquire)
}

extern "C" fn row_written(_: *mut c_void, _op: c_int, _db: *const c_char, table: *const c_char, _: i64) {
    // SAFETY: SQLite passes the table's name as a NUL-terminated string
    // valid for this call.
    let table = unsafe { CStr::from_ptr(table) }.to_bytes();
    if let Some(at) = WATCHED.iter().position(|w| w.as_bytes() == table) {
        DIRTY.with(|d| d.set(d.get() | 1 << at));
    }
}

extern "C" fn committed(_: *mut c_void, db: *mut libsqlite3_sys::sqlite3, name: *const c_char, frames: c_int) -> c_int {
    let dirty = DIRTY.with(|d| d.replace(0));
    for (at, counter) in COUNTERS.iter().enumerate().take(WATCHED.len()) {
        if dirty & (1 << at) != 0 {
            counter.fetch_add(1, Ordering::AcqRel);
        }
    }
    // Installing a WAL hook replaces SQLite's own checkpoints.
    super::checkpoint::after_commit(db, name, frames);
    libsqlite3_sys::SQLITE_OK
}

extern "C" fn rolled_back(_: *mut c_void) {
    DIRTY.with(|d| d.set(0));
}

pub(super) fn install(db: NonNull<libsqlite3_sys::sqlite3>) {
    // SAFETY: `db` is the open connection sqlx holds locked for us; the
    // hooks are plain functions whose only state is thread-local or atomic.
    unsafe {
        libsqlite3_sys::sqlite3_update_hook(db.as_ptr(), Some(row_written), std::ptr::null_mut());
        libsqlite3_sys::sqlite3_rollback_hook(db.as_ptr(), Some(rolled_back), std::ptr::null_mut());
        libsqlite3_sys::sqlite3_wal_hook(db.as_ptr(), Some(committed), std::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_commit_moves_the_versions_of_the_tables_it_wrote_and_a_rollback_moves_none() {
        let path = std::env::temp_dir().join(format!("alumia-changes-{}.db", uuid::Uuid::new_v4()));
        let db = crate::db::Db::connect(&format!("sqlite://{}", path.display())).await.unwrap();
        let crate::db::Db::Sqlite(pool) = &db else { unreachable!() };
        sqlx::query("CREATE TABLE agents (id INTEGER PRIMARY KEY); CREATE TABLE runs (id INTEGER PRIMARY KEY); CREATE TABLE other (id INTEGER PRIMARY KEY)")
            .execute(pool)
            .await
            .unwrap();
        let (agents, runs) = (Tables::of(&["agents"]), Tables::of(&["runs"]));
        let before = (agents.version(), runs.version());

        sqlx::query("INSERT INTO other (id) VALUES (1)").execute(pool).await.unwrap();
        assert_eq!((agents.version(), runs.version()), before, "an unwatched table moves nothing");

        let mut tx = pool.begin().await.unwrap();
        sqlx::query("INSERT INTO agents (id) VALUES (1)").execute(&mut *tx).await.unwrap();
        assert_eq!(agents.version(), before.0, "not before the commit");
        tx.commit().await.unwrap();
        assert_ne!(agents.version(), before.0, "the commit moved agents");
        assert_eq!(runs.version(), before.1, "and not runs");

        let after = agents.version();
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("INSERT INTO agents (id) VALUES (2)").execute(&mut *tx).await.unwrap();
        tx.rollback().await.unwrap();
        sqlx::query("INSERT INTO other (id) VALUES (2)").execute(pool).await.unwrap();
        assert_eq!(agents.version(), after, "a rolled-back write moves nothing, even at the next commit");
        pool.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    #[test]
    fn the_mark_sits_beside_a_sqlite_file() {
        assert_eq!(marker_for("sqlite:///d/alumia.db"), Some(PathBuf::from("/d/alumia.db-changed")));
        assert_eq!(marker_for("sqlite:data/a.db?mode=rwc"), Some(PathBuf::from("data/a.db-changed")));
        assert_eq!(marker_for("sqlite::memory:"), None);
        assert_eq!(marker_for("postgres://h/db"), None);
    }

    #[test]
    #[should_panic(expected = "not in db::changes::WATCHED")]
    fn an_unwatched_table_is_refused() {
        Tables::of(&["no_such_table"]);
    }
}
