//! Short-lived, in-process caches for the hottest reads: the
//! authenticated API key behind a bearer token and list pages (`/api/v1`),
//! for signed-in pages the browser session behind a cookie and the
//! signed-in user's email and memberships and the sidebar's unread count,
//! and for pages and runs alike an org's package id and its own model
//! providers.
//!
//! Writes made by this process drop what they change at once. Writes made
//! elsewhere (the `alumia admin` CLI, another instance on the same
//! PostgreSQL) are seen once an entry's time to live has passed, so a TTL
//! is the bound on staleness and is kept to seconds.
//!
//! A read that raced with a write must not put its older answer back:
//! readers take a `Ticket` before they query, and `put` refuses an answer
//! whose ticket predates the latest invalidation.
//!
//! Page data (the overview's figures and activity, the agents list and
//! their last runs, the billing page's balance and ledger) is kept in a
//! [`TableCache`] instead: with SQLite, until a commit writes one of the
//! tables it was read from, whoever wrote it (`db::changes`). With
//! PostgreSQL, whose other instances write too, it is read every time.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::accounts::LiveSession;
use super::orgs::Viewer;
use super::paging::Cursor;
use crate::model::{OrgSummary, Page, ProjectView};

/// Entries kept before the cache sheds expired ones (then all, if still
/// full): memory stays bounded whatever the traffic.
const CAPACITY: usize = 10_000;

pub struct TtlCache<K, V> {
    ttl: Duration,
    inner: RwLock<Inner<K, V>>,
}

struct Inner<K, V> {
    /// Bumped by every invalidation.
    generation: u64,
    entries: HashMap<K, (DateTime<Utc>, V)>,
}

/// The generation a reader saw before it queried.
#[derive(Clone, Copy)]
pub struct Ticket(u64);

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, inner: RwLock::new(Inner { generation: 0, entries: HashMap::new() }) }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner<K, V>> {
        self.inner.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner<K, V>> {
        self.inner.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn get(&self, key: &K, now: DateTime<Utc>) -> Option<V> {
        let inner = self.read();
        let (stored_at, value) = inner.entries.get(key)?;
        (now - *stored_at < self.ttl && now >= *stored_at).then(|| value.clone())
    }

    pub fn ticket(&self) -> Ticket {
        Ticket(self.read().generation)
    }

    /// Stores `value` read under `ticket`, unless something was
    /// invalidated since.
    pub fn put(&self, ticket: Ticket, key: K, value: V, now: DateTime<Utc>) {
        let mut inner = self.write();
        if inner.generation != ticket.0 {
            return;
        }
        if inner.entries.len() >= CAPACITY {
            let ttl = self.ttl;
            inner.entries.retain(|_, (stored_at, _)| now - *stored_at < ttl);
            if inner.entries.len() >= CAPACITY {
                inner.entries.clear();
            }
        }
        inner.entries.insert(key, (now, value));
    }

    /// Changes a cached value in place (keeping its age), if present.
    pub fn update(&self, key: &K, change: impl FnOnce(&mut V)) {
        if let Some((_, value)) = self.write().entries.get_mut(key) {
            change(value);
        }
    }

    /// Drops the entries `doomed` picks and turns away answers read before.
    pub fn invalidate(&self, doomed: impl Fn(&K) -> bool) {
        self.invalidate_entries(|k, _| doomed(k));
    }

    /// Like `invalidate`, choosing by key and value.
    pub fn invalidate_entries(&self, doomed: impl Fn(&K, &V) -> bool) {
        let mut inner = self.write();
        inner.generation += 1;
        inner.entries.retain(|k, (_, v)| !doomed(k, v));
    }

    pub fn clear(&self) {
        self.invalidate(|_| true);
    }
}

/// Values read from some tables, each answered from memory until a commit
/// writes one of those tables (`db::changes`), or its time to live passes
/// (what changes with the clock alone, like "runs in the last 30 days",
/// and writes by `alumia admin` from another process).
pub struct TableCache<K, V> {
    tables: crate::db::changes::Tables,
    /// Kept for the time to live and the grace after it.
    entries: TtlCache<K, Entry<V>>,
}

#[derive(Clone)]
struct Entry<V> {
    /// The tables' version it was read under.
    version: u64,
    read_at: DateTime<Utc>,
    value: V,
    /// Set by the one caller reading it again once its time is past.
    refreshing: Arc<AtomicBool>,
}

/// After an entry's time to live, while its tables have not moved, how
/// long it is still answered to everyone but the one caller reading it
/// again. Entries read together expire together, and without this every
/// request asking for them then went to the database at once; with it,
/// one does.
const GRACE_MILLIS: i64 = 1_000;

impl<K: Eq + Hash, V: Clone> TableCache<K, V> {
    /// `tables`: every table `load` reads (each in `db::changes::WATCHED`).
    pub fn new(tables: &[&str]) -> Self {
        let kept = Duration::seconds(TTL_SECONDS) + Duration::milliseconds(GRACE_MILLIS);
        Self { tables: crate::db::changes::Tables::of(tables), entries: TtlCache::new(kept) }
    }

    /// The value under `key`, from memory if none of its tables changed
    /// since it was read, else from `load`.
    pub async fn get_or_load<E, Fut>(&self, key: K, now: DateTime<Utc>, load: impl FnOnce() -> Fut) -> Result<V, E>
    where
        Fut: Future<Output = Result<V, E>>,
    {
        // Taken before the read: a commit that lands during it outdates
        // what it answers (see `db::changes`).
        let version = self.tables.version();
        if let Some(entry) = self.entries.get(&key, now) {
            if entry.version == version {
                let fresh = now - entry.read_at < Duration::seconds(TTL_SECONDS);
                // Past its time: this caller reads it again, unless another
                // already does (then the answer is at most the grace older).
                if fresh || entry.refreshing.swap(true, Ordering::AcqRel) {
                    return Ok(entry.value);
                }
            }
        }
        let ticket = self.entries.ticket();
        let value = load().await?;
        let entry = Entry { version, read_at: now, value: value.clone(), refreshing: Arc::default() };
        self.entries.put(ticket, key, entry, now);
        Ok(value)
    }
}

/// `cache`'s value under `key`, or `load`'s answer when there is no cache
/// (PostgreSQL).
pub async fn through<K: Eq + Hash, V: Clone, E, Fut>(
    cache: &Option<TableCache<K, V>>,
    key: K,
    now: DateTime<Utc>,
    load: impl FnOnce() -> Fut,
) -> Result<V, E>
where
    Fut: Future<Output = Result<V, E>>,
{
    match cache {
        Some(cache) => cache.get_or_load(key, now, load).await,
        None => load().await,
    }
}

/// An API key as `authenticate` found it, keyed by the token's SHA-256.
#[derive(Clone)]
pub struct AuthenticatedKey {
    pub key_id: Uuid,
    pub user_id: Uuid,
    pub scopes: Vec<String>,
    pub org: OrgSummary,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A cached answer shared by every request that reads it, with its JSON
/// made once, on first need: serializing a page cost more than the rest
/// of a cached request.
pub struct Shared<T> {
    pub value: T,
    json: OnceLock<Vec<u8>>,
}

impl<T: serde::Serialize> Shared<T> {
    pub fn new(value: T) -> Arc<Self> {
        Arc::new(Self { value, json: OnceLock::new() })
    }

    pub fn json(&self) -> &[u8] {
        self.json.get_or_init(|| serde_json::to_vec(&self.value).expect("plain data serializes"))
    }
}

/// Which page of an org's list.
pub type PageKey = (Uuid, i64, Option<Cursor>);

pub struct Caches {
    /// Revocations and membership changes in this process clear it.
    pub keys: TtlCache<[u8; 32], AuthenticatedKey>,
    /// `None` on PostgreSQL, where other instances may write projects
    /// and a list must show them at once; with SQLite this process is the
    /// only writer of projects.
    pub project_pages: Option<TtlCache<PageKey, Arc<Shared<Page<ProjectView>>>>>,
    /// Live browser sessions by `user_sessions` id. Signing out (this
    /// session or the others) and a step-up drop them.
    pub sessions: TtlCache<Uuid, LiveSession>,
    /// A signed-in user's email and memberships, by user id: what the org
    /// gate, the frame and every org page check. Creating an org, joining
    /// one and every membership change drop them.
    pub viewers: TtlCache<Uuid, Arc<Viewer>>,
    /// An org's package id (`None`: the default package), read by every
    /// org page, every model call and every cap check. Changing the
    /// package (a webhook, `alumia admin set-package`) drops it.
    pub packages: TtlCache<Uuid, Option<String>>,
    /// An org's own model providers as stored (keys still sealed), read by
    /// the agents page and before every run. Adding or removing one drops
    /// them.
    pub byok: TtlCache<Uuid, Arc<Vec<super::byok::Row>>>,
    /// How many notifications a member has not read, by (org, member): the
    /// sidebar's badge on every org page. A notification written (by this
    /// process, or on PostgreSQL by any: its trigger's NOTIFY) drops the
    /// org's entries; the member reading some drops theirs.
    pub unread: TtlCache<(Uuid, Uuid), i64>,
    /// Page data, with SQLite only (see [`TableCache`]); each is read by
    /// its page on every visit. An org's overview figures and recent
    /// activity:
    pub overview: Option<TableCache<Uuid, Arc<super::orgs::OverviewData>>>,
    /// An org's live agents, first page of the list, and each one's
    /// latest run:
    pub agents: Option<TableCache<Uuid, Arc<Page<crate::model::AgentView>>>>,
    /// One agent by (org, id), `None` when it is not live: read before
    /// every run.
    pub agent: Option<TableCache<(Uuid, Uuid), Option<crate::model::AgentView>>>,
    pub last_runs: Option<TableCache<Uuid, Arc<Vec<crate::model::AgentLastRun>>>>,
    /// The billing page's balance (with its package and budgets), usage
    /// chart and latest ledger entries:
    pub billing: Option<TableCache<Uuid, Arc<super::billing::LedgerData>>>,
}

/// Seconds an entry lives: how long a key revoked, a session signed out or
/// a membership changed by another process (the CLI, another instance) may
/// still be honoured.
pub const TTL_SECONDS: i64 = 5;

impl Caches {
    pub fn new(single_process_database: bool) -> Self {
        let ttl = Duration::seconds(TTL_SECONDS);
        Self {
            keys: TtlCache::new(ttl),
            project_pages: single_process_database.then(|| TtlCache::new(ttl)),
            sessions: TtlCache::new(ttl),
            viewers: TtlCache::new(ttl),
            packages: TtlCache::new(ttl),
            byok: TtlCache::new(ttl),
            unread: TtlCache::new(ttl),
            overview: single_process_database
                .then(|| TableCache::new(&["memberships", "agents", "runs", "credit_buckets", "audit_log", "users"])),
            agents: single_process_database.then(|| TableCache::new(&["agents"])),
            agent: single_process_database.then(|| TableCache::new(&["agents"])),
            last_runs: single_process_database.then(|| TableCache::new(&["runs"])),
            billing: single_process_database.then(|| {
                TableCache::new(&[
                    "credit_buckets",
                    "ledger_entries",
                    "orgs",
                    "budgets",
                    "budget_spend",
                    "budget_alerts",
                ])
            }),
        }
    }

    /// An org's notifications changed: its members' unread counts go.
    pub fn notifications_written(&self, org_id: Uuid) {
        self.unread.invalidate(|(org, _)| *org == org_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn entries_expire_after_their_ttl() {
        let cache = TtlCache::new(Duration::seconds(5));
        cache.put(cache.ticket(), "k", 1, at(0));
        assert_eq!(cache.get(&"k", at(4)), Some(1));
        assert_eq!(cache.get(&"k", at(5)), None);
    }

    #[test]
    fn a_read_that_raced_an_invalidation_is_not_stored() {
        let cache = TtlCache::new(Duration::seconds(5));
        let ticket = cache.ticket();
        cache.invalidate(|_: &&str| true);
        cache.put(ticket, "k", 1, at(0));
        assert_eq!(cache.get(&"k", at(0)), None);
        cache.put(cache.ticket(), "k", 2, at(0));
        assert_eq!(cache.get(&"k", at(0)), Some(2));
    }

    /// Once an entry's time is past, the first caller reads it again while
    /// the others keep the answer they had, for the grace at most.
    #[tokio::test]
    async fn one_caller_refreshes_an_expired_entry_while_others_keep_it() {
        let cache = TableCache::new(&["agents"]);
        let load = |n: i32| move || async move { Ok::<_, ()>(n) };
        assert_eq!(cache.get_or_load("k", at(0), load(1)).await, Ok(1));
        assert_eq!(cache.get_or_load("k", at(4), load(2)).await, Ok(1), "fresh");
        // Past the TTL: the first caller's load is under way when a second asks.
        let (started, release) = (tokio::sync::Notify::new(), tokio::sync::Notify::new());
        let refresh = cache.get_or_load("k", at(5), || async {
            started.notify_one();
            release.notified().await;
            Ok::<_, ()>(3)
        });
        let other = async {
            started.notified().await;
            let kept = cache.get_or_load("k", at(5), load(4)).await;
            release.notify_one();
            kept
        };
        let (refreshed, kept) = tokio::join!(refresh, other);
        assert_eq!((refreshed, kept), (Ok(3), Ok(1)), "one reads again, the other keeps the old answer");
        assert_eq!(cache.get_or_load("k", at(6), load(5)).await, Ok(3), "the new answer is kept");
        // Beyond the grace nobody keeps an old answer.
        assert_eq!(cache.get_or_load("k", at(12), load(6)).await, Ok(6));
    }

    #[test]
    fn shared_json_is_the_values_json() {
        let shared = Shared::new(serde_json::json!({"a": [1, "two"]}));
        assert_eq!(shared.json(), br#"{"a":[1,"two"]}"#);
    }

    #[test]
    fn invalidation_by_value_drops_only_what_it_names() {
        let cache = TtlCache::new(Duration::seconds(5));
        cache.put(cache.ticket(), "a", 1, at(0));
        cache.put(cache.ticket(), "b", 2, at(0));
        cache.invalidate_entries(|_, v| *v == 2);
        assert_eq!(cache.get(&"a", at(0)), Some(1));
        assert_eq!(cache.get(&"b", at(0)), None);
    }

    #[test]
    fn invalidation_drops_only_what_it_names() {
        let cache = TtlCache::new(Duration::seconds(5));
        cache.put(cache.ticket(), ("a", 1), 1, at(0));
        cache.put(cache.ticket(), ("b", 1), 2, at(0));
        cache.invalidate(|k| k.0 == "a");
        assert_eq!(cache.get(&("a", 1), at(0)), None);
        assert_eq!(cache.get(&("b", 1), at(0)), Some(2));
    }
}
