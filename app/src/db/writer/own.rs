//! The writer thread's own SQLite connections, and the batches of
//! statements it runs on them.
//!
//! A value is bound through sqlx's own encoding (`Encode<Sqlite>`), so a
//! row written here is byte for byte what the pool would have written
//! (a `Uuid` as its 16 bytes, a time as sqlx's RFC 3339 text, JSON as
//! text) and the rest of the code reads it back through sqlx unchanged.

use std::borrow::Cow;
use std::fmt::{self, Display, Write as _};
use std::panic::AssertUnwindSafe;

use chrono::{DateTime, NaiveDateTime, Utc};
use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, OpenFlags};
use serde::de::DeserializeOwned;
use sqlx::encode::IsNull;
use sqlx::error::{BoxDynError, DatabaseError, ErrorKind};
use sqlx::Sqlite;
use uuid::Uuid;

use super::{HashMap, Path, PathBuf, SqliteArgumentValue, Statements};

/// A transaction's statements: their text, with a `?` for each value.
#[derive(Default)]
pub struct Batch {
    sql: String,
    values: Vec<SqliteArgumentValue<'static>>,
    /// The first value that could not be encoded: the batch fails with it.
    error: Option<BoxDynError>,
}

impl Batch {
    pub fn push(&mut self, sql: impl Display) -> &mut Self {
        let _ = write!(self.sql, "{sql}");
        self
    }

    /// A value, as `?`.
    pub fn push_bind<T>(&mut self, value: T) -> &mut Self
    where
        T: sqlx::Encode<'static, Sqlite> + sqlx::Type<Sqlite>,
    {
        let before = self.values.len();
        match value.encode(&mut self.values) {
            Ok(IsNull::Yes) => {
                self.values.truncate(before);
                self.values.push(SqliteArgumentValue::Null);
            }
            Ok(IsNull::No) => {}
            Err(e) => {
                self.values.truncate(before);
                self.values.push(SqliteArgumentValue::Null);
                self.error.get_or_insert(e);
            }
        }
        self.sql.push('?');
        self
    }

    /// Pieces pushed through the answer are separated by `separator`.
    pub fn separated(&mut self, separator: &'static str) -> Separated<'_> {
        Separated { batch: self, separator, first: true }
    }

    /// `VALUES (…), (…)`: one tuple per item, filled by `fill`.
    pub fn push_values<I, F>(&mut self, items: I, mut fill: F) -> &mut Self
    where
        I: IntoIterator,
        F: FnMut(Separated<'_>, I::Item),
    {
        self.sql.push_str("VALUES ");
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.sql.push('(');
            fill(self.separated(", "), item);
            self.sql.push(')');
        }
        self
    }
}

/// See [`Batch::separated`].
pub struct Separated<'a> {
    batch: &'a mut Batch,
    separator: &'static str,
    first: bool,
}

impl Separated<'_> {
    fn separate(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.batch.sql.push_str(self.separator);
        }
    }

    pub fn push(&mut self, sql: impl Display) -> &mut Self {
        self.separate();
        self.batch.push(sql);
        self
    }

    pub fn push_bind<T>(&mut self, value: T) -> &mut Self
    where
        T: sqlx::Encode<'static, Sqlite> + sqlx::Type<Sqlite>,
    {
        self.separate();
        self.batch.push_bind(value);
        self
    }
}

/// One row a batch's statements answered: its columns, in order.
#[derive(Debug, Clone)]
pub struct Row(Vec<Value>);

impl Row {
    fn column(&self, at: usize) -> Result<&Value, sqlx::Error> {
        self.0.get(at).ok_or_else(|| sqlx::Error::ColumnIndexOutOfBounds { index: at, len: self.0.len() })
    }

    fn decoded<T>(&self, at: usize, what: &str, read: impl FnOnce(&Value) -> Option<T>) -> Result<T, sqlx::Error> {
        let value = self.column(at)?;
        read(value).ok_or_else(|| sqlx::Error::ColumnDecode {
            index: at.to_string(),
            source: format!("expected {what}, found {value:?}").into(),
        })
    }

    pub fn int(&self, at: usize) -> Result<i64, sqlx::Error> {
        self.decoded(at, "an integer", |v| match v {
            Value::Integer(i) => Some(*i),
            _ => None,
        })
    }

    pub fn int_or_null(&self, at: usize) -> Result<Option<i64>, sqlx::Error> {
        self.decoded(at, "an integer or null", |v| match v {
            Value::Integer(i) => Some(Some(*i)),
            Value::Null => Some(None),
            _ => None,
        })
    }

    pub fn text(&self, at: usize) -> Result<String, sqlx::Error> {
        self.decoded(at, "text", |v| match v {
            Value::Text(t) => Some(t.clone()),
            _ => None,
        })
    }

    pub fn text_or_null(&self, at: usize) -> Result<Option<String>, sqlx::Error> {
        self.decoded(at, "text or null", |v| match v {
            Value::Text(t) => Some(Some(t.clone())),
            Value::Null => Some(None),
            _ => None,
        })
    }

    /// sqlx stores a `Uuid` as its 16 bytes.
    pub fn uuid_or_null(&self, at: usize) -> Result<Option<Uuid>, sqlx::Error> {
        self.decoded(at, "a uuid or null", |v| match v {
            Value::Blob(b) => Uuid::from_slice(b).ok().map(Some),
            Value::Null => Some(None),
            _ => None,
        })
    }

    pub fn uuid(&self, at: usize) -> Result<Uuid, sqlx::Error> {
        self.decoded(at, "a uuid", |v| match v {
            Value::Blob(b) => Uuid::from_slice(b).ok(),
            _ => None,
        })
    }

    /// A time as sqlx writes one (RFC 3339), or SQLite's own
    /// `YYYY-MM-DD HH:MM:SS` (a column's default), read as UTC.
    pub fn time(&self, at: usize) -> Result<DateTime<Utc>, sqlx::Error> {
        self.decoded(at, "a time", |v| match v {
            Value::Text(t) => DateTime::parse_from_rfc3339(t)
                .map(|t| t.with_timezone(&Utc))
                .ok()
                .or_else(|| NaiveDateTime::parse_from_str(t, "%F %T%.f").ok().map(|t| t.and_utc())),
            _ => None,
        })
    }

    /// JSON stored as text.
    pub fn json_or_null<T: DeserializeOwned>(&self, at: usize) -> Result<Option<T>, sqlx::Error> {
        match self.text_or_null(at)? {
            None => Ok(None),
            Some(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| sqlx::Error::ColumnDecode { index: at.to_string(), source: Box::new(e) }),
        }
    }
}

/// The writer thread's connections, one per database file (a test
/// process may serve several).
#[derive(Default)]
pub(super) struct Connections {
    open: HashMap<PathBuf, Connection>,
}

impl Connections {
    /// Runs one job's transaction and answers it.
    pub(super) fn run(&mut self, job: Statements) {
        let Statements { path, build, done } = job;
        let ran = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let mut batch = Batch::default();
            build(&mut batch);
            let conn = self.connection(&path)?;
            let answer = transaction(conn, batch);
            Ok::<_, sqlx::Error>((answer, conn.is_autocommit()))
        }));
        let answer = match ran {
            Ok(Ok((answer, clean))) => {
                if !clean {
                    // A transaction left open (a failed ROLLBACK): closing
                    // the connection ends it; the next job opens another.
                    self.open.remove(&path);
                }
                answer
            }
            Ok(Err(e)) => Err(e),
            Err(_) => {
                tracing::error!(path = %path.display(), "a SQLite writer job panicked");
                self.open.remove(&path);
                Err(sqlx::Error::WorkerCrashed)
            }
        };
        let _ = done.send(answer);
    }

    fn connection(&mut self, path: &Path) -> Result<&Connection, sqlx::Error> {
        if !self.open.contains_key(path) {
            let conn = open(path).map_err(database_error)?;
            self.open.insert(path.to_path_buf(), conn);
        }
        Ok(&self.open[path])
    }
}

/// Opens `path` as the pool opens its connections (`Db::connect`): the
/// file exists and is in WAL mode by then, since the pool made it.
fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")?;
    // SAFETY: the handle of the connection just opened, which this thread
    // alone uses; the hooks keep no pointer to anything but themselves.
    let handle = unsafe { conn.handle() };
    if let Some(handle) = std::ptr::NonNull::new(handle) {
        crate::db::sqlite_busy::install(handle);
        crate::db::changes::install(handle);
    }
    Ok(conn)
}

/// `BEGIN IMMEDIATE; …; COMMIT`, rolled back on any error.
fn transaction(conn: &Connection, batch: Batch) -> Result<Vec<Row>, sqlx::Error> {
    if let Some(e) = batch.error {
        return Err(sqlx::Error::Encode(e));
    }
    conn.execute_batch("BEGIN IMMEDIATE").map_err(database_error)?;
    let answer = statements(conn, &batch).and_then(|rows| {
        conn.execute_batch("COMMIT").map_err(database_error)?;
        Ok(rows)
    });
    if answer.is_err() && !conn.is_autocommit() {
        // Failed before COMMIT, or at it: what the statements did is undone.
        let _ = conn.execute_batch("ROLLBACK");
    }
    answer
}

fn statements(conn: &Connection, batch: &Batch) -> Result<Vec<Row>, sqlx::Error> {
    let mut values = batch.values.iter();
    let mut rows = Vec::new();
    let mut each = rusqlite::Batch::new(conn, &batch.sql);
    while let Some(mut statement) = each.next().map_err(database_error)? {
        for at in 1..=statement.parameter_count() {
            let value = values.next().ok_or_else(|| miscounted("more `?` than values"))?;
            statement.raw_bind_parameter(at, bound(value)).map_err(database_error)?;
        }
        let columns = statement.column_count();
        let mut answered = statement.raw_query();
        while let Some(row) = answered.next().map_err(database_error)? {
            let row = (0..columns).map(|at| row.get::<_, Value>(at)).collect::<Result<_, _>>();
            rows.push(Row(row.map_err(database_error)?));
        }
    }
    if values.next().is_some() {
        return Err(miscounted("more values than `?`"));
    }
    Ok(rows)
}

fn miscounted(what: &str) -> sqlx::Error {
    sqlx::Error::Protocol(format!("a writer batch has {what}"))
}

fn bound<'a>(value: &'a SqliteArgumentValue<'static>) -> ToSqlOutput<'a> {
    ToSqlOutput::Borrowed(match value {
        SqliteArgumentValue::Null => ValueRef::Null,
        SqliteArgumentValue::Text(t) => ValueRef::Text(t.as_bytes()),
        SqliteArgumentValue::Blob(b) => ValueRef::Blob(b),
        SqliteArgumentValue::Double(d) => ValueRef::Real(*d),
        SqliteArgumentValue::Int(i) => ValueRef::Integer(i64::from(*i)),
        SqliteArgumentValue::Int64(i) => ValueRef::Integer(*i),
    })
}

/// SQLite's error as sqlx's, so callers tell a unique violation the same
/// way whichever connection ran the statement (`db::is_unique_violation`).
fn database_error(e: rusqlite::Error) -> sqlx::Error {
    match e {
        rusqlite::Error::SqliteFailure(failure, message) => sqlx::Error::Database(Box::new(WriterError {
            code: failure.extended_code,
            message: message.unwrap_or_else(|| failure.to_string()),
        })),
        other => sqlx::Error::Protocol(other.to_string()),
    }
}

#[derive(Debug)]
struct WriterError {
    /// SQLite's extended result code.
    code: i32,
    message: String,
}

impl Display for WriterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for WriterError {}

impl DatabaseError for WriterError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Owned(self.code.to_string()))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        use libsqlite3_sys::{
            SQLITE_CONSTRAINT_CHECK, SQLITE_CONSTRAINT_FOREIGNKEY, SQLITE_CONSTRAINT_NOTNULL,
            SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE,
        };
        match self.code {
            SQLITE_CONSTRAINT_UNIQUE | SQLITE_CONSTRAINT_PRIMARYKEY => ErrorKind::UniqueViolation,
            SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
            SQLITE_CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
            SQLITE_CONSTRAINT_CHECK => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use sqlx::types::Json;

    use super::super::{sqlite_transaction, Lane};
    use crate::db::changes::Tables;

    /// A database file with one table, through the pool as the server
    /// opens it; removed when dropped.
    struct Scratch {
        path: std::path::PathBuf,
        pool: sqlx::SqlitePool,
    }

    impl Scratch {
        async fn new(table: &str) -> Scratch {
            let path = std::env::temp_dir().join(format!("alumia-writer-{}.db", uuid::Uuid::new_v4()));
            let db = crate::db::Db::connect(&format!("sqlite://{}", path.display())).await.unwrap();
            let crate::db::Db::Sqlite(pool) = db else { unreachable!() };
            sqlx::query(&format!(
                "CREATE TABLE {table} (id BLOB PRIMARY KEY, at TEXT NOT NULL, doc TEXT, n INTEGER NOT NULL, note TEXT)"
            ))
            .execute(&pool)
            .await
            .unwrap();
            Scratch { path, pool }
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
            }
        }
    }

    #[tokio::test]
    async fn what_a_batch_writes_reads_back_through_sqlx_as_it_was_bound() {
        let s = Scratch::new("t").await;
        let (id, at) = (uuid::Uuid::new_v4(), chrono::Utc::now());
        let doc = json!({ "text": "a \"quoted\" word", "n": [1, 2] });
        let bound = doc.clone();
        let rows = sqlite_transaction(&s.pool, Lane::InOrder, move |q| {
            q.push("INSERT INTO t (id, at, doc, n, note) ");
            q.push_values([(id, at)], |mut b, (id, at)| {
                b.push_bind(id)
                    .push_bind(at)
                    .push_bind(Json(bound.clone()))
                    .push_bind(-7_i64)
                    .push_bind(None::<String>);
            });
            q.push("; SELECT id, at, doc, n, note FROM t WHERE id = ").push_bind(id);
        })
        .await
        .unwrap();

        let (read_id, read_at, read_doc, n, note): (
            uuid::Uuid,
            chrono::DateTime<chrono::Utc>,
            Json<serde_json::Value>,
            i64,
            Option<String>,
        ) = sqlx::query_as("SELECT id, at, doc, n, note FROM t").fetch_one(&s.pool).await.unwrap();
        assert_eq!((read_id, read_at, read_doc.0, n, note), (id, at, doc.clone(), -7, None));
        // And as the writer's own rows read them.
        let row = &rows[0];
        assert_eq!(rows.len(), 1);
        assert_eq!((row.uuid(0).unwrap(), row.time(1).unwrap(), row.int(3).unwrap()), (id, at, -7));
        assert_eq!(row.json_or_null::<serde_json::Value>(2).unwrap(), Some(doc));
        assert_eq!(row.text_or_null(4).unwrap(), None);
        assert!(row.text(4).is_err() && row.int(1).is_err(), "a column of another type is an error");
    }

    #[tokio::test]
    async fn a_failing_statement_undoes_the_whole_batch_and_reads_as_sqlx_would() {
        let s = Scratch::new("t").await;
        let id = uuid::Uuid::new_v4();
        let insert = move |q: &mut super::Batch, id: uuid::Uuid, n: i64| {
            q.push("INSERT INTO t (id, at, n) VALUES (").push_bind(id).push(", 'now', ").push_bind(n).push(")");
        };
        sqlite_transaction(&s.pool, Lane::InOrder, move |q| insert(q, id, 1)).await.unwrap();
        let failed = sqlite_transaction(&s.pool, Lane::Ahead, move |q| {
            insert(q, uuid::Uuid::new_v4(), 2);
            q.push("; ");
            insert(q, id, 3);
        })
        .await
        .unwrap_err();
        assert!(crate::db::is_unique_violation(&failed, "t.id"), "{failed:?}");
        let ns: Vec<i64> = sqlx::query_scalar("SELECT n FROM t").fetch_all(&s.pool).await.unwrap();
        assert_eq!(ns, vec![1], "the first statement of the failed batch was undone");

        // A `?` pushed as text, with no value for it, fails its batch too;
        // the connection is usable after each failure.
        let miscounted = sqlite_transaction(&s.pool, Lane::InOrder, move |q| {
            insert(q, uuid::Uuid::new_v4(), 4);
            q.push("; SELECT ?");
        })
        .await
        .unwrap_err();
        assert!(miscounted.to_string().contains("more `?` than values"), "{miscounted}");
        sqlite_transaction(&s.pool, Lane::InOrder, move |q| insert(q, uuid::Uuid::new_v4(), 6)).await.unwrap();
        let ns: Vec<i64> = sqlx::query_scalar("SELECT n FROM t ORDER BY n").fetch_all(&s.pool).await.unwrap();
        assert_eq!(ns, vec![1, 6]);
    }

    #[tokio::test]
    async fn a_committed_batch_moves_its_tables_versions_and_a_failed_one_does_not() {
        // A watched table's name: page caches must see the writer's commits.
        let s = Scratch::new("budgets").await;
        let budgets = Tables::of(&["budgets"]);
        let before = budgets.version();
        let id = uuid::Uuid::new_v4();
        let write = move |q: &mut super::Batch| {
            q.push("INSERT INTO budgets (id, at, n) VALUES (").push_bind(id).push(", 'now', 1)");
        };
        sqlite_transaction(&s.pool, Lane::InOrder, write).await.unwrap();
        let after = budgets.version();
        assert_ne!(after, before, "the commit moved budgets");
        sqlite_transaction(&s.pool, Lane::InOrder, write).await.unwrap_err();
        assert_eq!(budgets.version(), after, "a batch rolled back moves nothing");
    }
}
