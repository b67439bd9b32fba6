//! tower-sessions over whichever database the server runs on, and the
//! resolution of the browser session in front of pages and server
//! functions.

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tower_sessions::cookie::time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions::Session;
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use app::api::support::{self, BrowserAuth};
use app::db::Db;
use app::domain::cache::{TtlCache, TTL_SECONDS};
use app::domain::Ctx;

#[derive(Clone, Debug)]
enum Backend {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

/// The store, with the records it loaded remembered for a few seconds
/// (`cache::TTL_SECONDS`): a signed-in page would otherwise read its
/// record from the database on every request. Every save, creation and
/// deletion through this store drops what it holds at once (signing in,
/// out, a step-up, a ceremony's state); a record another instance on the
/// same PostgreSQL changed is seen within the TTL.
#[derive(Clone)]
pub struct DbSessionStore {
    backend: Backend,
    records: Arc<TtlCache<Id, Record>>,
}

impl std::fmt::Debug for DbSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbSessionStore").field("backend", &self.backend).finish_non_exhaustive()
    }
}

impl DbSessionStore {
    /// Opens the store on `db` and creates its table when missing.
    pub async fn open(db: &Db) -> Result<Self, sqlx::Error> {
        let backend = match db {
            Db::Sqlite(p) => {
                let store = SqliteStore::new(p.clone());
                store.migrate().await?;
                Backend::Sqlite(store)
            }
            Db::Postgres(p) => {
                let store = PostgresStore::new(p.clone());
                store.migrate().await?;
                Backend::Postgres(store)
            }
        };
        Ok(Self { backend, records: Arc::new(TtlCache::new(chrono::Duration::seconds(TTL_SECONDS))) })
    }

    fn forget(&self, id: &Id) {
        self.records.invalidate(|cached| cached == id);
    }
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let created = match &self.backend {
            Backend::Sqlite(s) => s.create(record).await,
            Backend::Postgres(s) => s.create(record).await,
        };
        self.forget(&record.id);
        created
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let saved = match &self.backend {
            Backend::Sqlite(s) => s.save(record).await,
            Backend::Postgres(s) => s.save(record).await,
        };
        self.forget(&record.id);
        saved
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let now = chrono::Utc::now();
        if let Some(record) = self.records.get(id, now) {
            if record.expiry_date > OffsetDateTime::now_utc() {
                return Ok(Some(record));
            }
            self.forget(id);
        }
        let ticket = self.records.ticket();
        let loaded = match &self.backend {
            Backend::Sqlite(s) => s.load(id).await,
            Backend::Postgres(s) => s.load(id).await,
        }?;
        if let Some(record) = &loaded {
            self.records.put(ticket, *id, record.clone(), now);
        }
        Ok(loaded)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let deleted = match &self.backend {
            Backend::Sqlite(s) => s.delete(id).await,
            Backend::Postgres(s) => s.delete(id).await,
        };
        self.forget(id);
        deleted
    }
}

#[async_trait]
impl ExpiredDeletion for DbSessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match &self.backend {
            Backend::Sqlite(s) => s.delete_expired().await,
            Backend::Postgres(s) => s.delete_expired().await,
        }
    }
}

/// In front of every page and server function: resolves the browser
/// session once and puts the `BrowserAuth` in the request's extensions,
/// where the org gate, the step-up gate and every server function the
/// page resolves (`support::current_actor`) read it.
/// When the database fails, nothing is put there and each reader resolves
/// (and fails) on its own, as without this layer.
pub async fn resolve_browser(State(ctx): State<Ctx>, session: Session, mut req: Request<Body>, next: Next) -> Response {
    if let Ok(auth) = support::resolve_browser(&ctx, &session).await {
        req.extensions_mut().insert::<BrowserAuth>(auth);
    }
    next.run(req).await
}
