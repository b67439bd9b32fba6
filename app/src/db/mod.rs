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

impl Db {
    /// Opens the pool for `url` (`sqlite://…` or `postgres://…`).
    pub async fn connect(url: &str) -> Result<Db, sqlx::Error> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool =
                PgPoolOptions::new().max_connections(16).acquire_timeout(Duration::from_secs(10)).connect(url).await?;
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
            let pool =
                SqlitePoolOptions::new().max_connections(8).test_before_acquire(false).connect_with(opts).await?;
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
