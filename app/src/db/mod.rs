//! One SQL text, two backends (ENGINEERING §2). `Db` wraps whichever pool
//! `DATABASE_URL` chose; `on_db!` runs the same query text on it.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$p` bound to the pool inside `$db`; the body is
/// written once and compiled for both backends.
#[macro_export]
macro_rules! on_db {
    ($db:expr, |$p:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($p) => $body,
            $crate::db::Db::Postgres($p) => $body,
        }
    };
}
pub use on_db;

/// `on_db!` for statements: the backends' result types differ, so this
/// answers the number of rows affected.
#[macro_export]
macro_rules! exec_on_db {
    ($db:expr, |$p:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($p) => $body.map(|r| r.rows_affected()),
            $crate::db::Db::Postgres($p) => $body.map(|r| r.rows_affected()),
        }
    };
}
pub use exec_on_db;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

pub mod changes;
mod checkpoint;
pub mod writer;

mod sqlite_busy {
    //! What a connection does while another holds SQLite's write lock.
    //!
    //! SQLite's own busy handler (what `busy_timeout` installs) sleeps 1,
    //! 2, 5, 10, 15, 20, 25, 25, 25, 50, 50 then 100 ms between tries: a
    //! writer that finds the lock taken for a millisecond may sleep for
    //! 100. Under many small writes (a hundred chats starting at once)
    //! those sleeps, not the writes, were the wait: the pool's connections
    //! spent most of their time asleep with the lock free. This handler
    //! tries again after 50 µs for the first 50 ms, then every 2 ms, and
    //! gives up after 10 s as before. It runs on the connection's own
    //! thread (sqlx gives each SQLite connection one), so sleeping there
    //! blocks no async task.

    use std::ffi::{c_int, c_void};
    use std::ptr::NonNull;
    use std::time::Duration;

    const FAST_TRIES: c_int = 1_000;
    const FAST_WAIT: Duration = Duration::from_micros(50);
    const SLOW_WAIT: Duration = Duration::from_millis(2);
    /// 50 ms of fast tries, then slow ones to 10 s in all.
    const MAX_TRIES: c_int = FAST_TRIES + 4_975;

    extern "C" fn wait(_: *mut c_void, tries: c_int) -> c_int {
        if tries >= MAX_TRIES {
            return 0;
        }
        std::thread::sleep(if tries < FAST_TRIES { FAST_WAIT } else { SLOW_WAIT });
        1
    }

    pub(super) fn install(db: NonNull<libsqlite3_sys::sqlite3>) {
        // SAFETY: `db` is the open connection sqlx holds locked for us;
        // the handler is a plain function with no state.
        unsafe {
            libsqlite3_sys::sqlite3_busy_handler(db.as_ptr(), Some(wait), std::ptr::null_mut());
        }
    }
}

impl Db {
    /// Opens the pool for `url` (`sqlite://…` or `postgres://…`).
    pub async fn connect(url: &str) -> Result<Db, sqlx::Error> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // sqlx pings a connection each time one is released to the pool,
            // so a ping before each checkout as well (its default) would
            // only add a third round trip to every query.
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .test_before_acquire(false)
                .connect(url)
                .await?;
            Ok(Db::Postgres(pool))
        } else {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
            // An embedded file cannot hang up: sqlx's ping before every
            // checkout would only add a trip to the connection's thread.
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .test_before_acquire(false)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        let mut handle = conn.lock_handle().await?;
                        sqlite_busy::install(handle.as_raw_handle());
                        changes::install(handle.as_raw_handle());
                        Ok(())
                    })
                })
                .connect_with(opts)
                .await?;
            Ok(Db::Sqlite(pool))
        }
    }

    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match self {
            Db::Sqlite(p) => SQLITE_MIGRATOR.run(p).await,
            Db::Postgres(p) => POSTGRES_MIGRATOR.run(p).await,
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// `/readyz`: a round trip to the database.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        exec_on_db!(self, |p| sqlx::query("SELECT 1").execute(p).await).map(|_| ())
    }
}

/// Whether an error is a unique-constraint violation on `constraint`
/// (PostgreSQL names the constraint, SQLite names the columns; callers pass
/// a fragment that appears in both).
pub fn is_unique_violation(err: &sqlx::Error, fragment: &str) -> bool {
    match err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            db.constraint().map(|c| c.contains(fragment)).unwrap_or(false) || db.message().contains(fragment)
        }
        _ => false,
    }
}
