//! Live signals between the parts of the server, and between server
//! processes (SPEC §2, ENGINEERING "Work that outlives a request"): "a
//! run's events were stored", "cancel this run", "a peer message reached
//! this session". A signal carries ids, never data: whoever gets it reads
//! the rows.
//!
//! In one process a signal is a broadcast. On PostgreSQL it is also a
//! `NOTIFY alumia_events, '<topic>:<id>'`, and every process runs one
//! `LISTEN` that re-broadcasts what the others send, so a browser on
//! process B follows a run process A executes, and a cancel sent to B
//! stops it, without waiting for a poll. Waiters still look at the rows
//! now and then ([`Subscription::wait`] takes a fallback), so a listener
//! reconnecting after a dropped connection only makes them slower, never
//! stuck. Runs, peer messages and (next) notifications share this path.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use uuid::Uuid;

use crate::db::Db;

/// The PostgreSQL channel every process listens on.
pub const CHANNEL: &str = "alumia_events";

/// What happened, to whom.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    /// A session's run events were stored (id: the session).
    RunEvents,
    /// Someone asked a run to stop (id: the run).
    RunCancel,
    /// A peer message was posted to a session (id: the session).
    PeerInbox,
    /// A notification was written for an org or one of its members (id:
    /// the org).
    Notification,
}

impl Topic {
    fn name(self) -> &'static str {
        match self {
            Topic::RunEvents => "run_events",
            Topic::RunCancel => "run_cancel",
            Topic::PeerInbox => "peer_inbox",
            Topic::Notification => "notification",
        }
    }

    fn parse(name: &str) -> Option<Topic> {
        [Topic::RunEvents, Topic::RunCancel, Topic::PeerInbox, Topic::Notification]
            .into_iter()
            .find(|t| t.name() == name)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Signal {
    pub topic: Topic,
    pub id: Uuid,
}

impl Signal {
    /// The NOTIFY payload: `run_cancel:<uuid>`.
    pub fn payload(&self) -> String {
        format!("{}:{}", self.topic.name(), self.id)
    }

    pub fn parse(payload: &str) -> Option<Signal> {
        let (topic, id) = payload.split_once(':')?;
        Some(Signal { topic: Topic::parse(topic)?, id: Uuid::parse_str(id).ok()? })
    }
}

/// The process's signal bus (`Ctx.events`). Subscriptions are per signal
/// (a topic and an id), so a publish wakes only who waits for that one:
/// a thousand runs flushing do not wake each other.
#[derive(Default)]
pub struct Events {
    /// Each signal someone waits for: how many subscriptions, and a
    /// counter each publish bumps.
    waiting: Mutex<HashMap<Signal, (usize, watch::Sender<u64>)>>,
}

/// One wait for a signal; dropping it stops the wait.
pub struct Subscription {
    events: Arc<Events>,
    signal: Signal,
    rx: watch::Receiver<u64>,
}

impl Subscription {
    /// Resolves at the next publish since the subscription was made or
    /// last woke.
    pub async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            // The sender lives as long as a subscription does.
            std::future::pending::<()>().await;
        }
    }

    /// [`Subscription::changed`], or `fallback` passing (the caller reads
    /// the rows either way). Answers whether the signal came.
    pub async fn wait(&mut self, fallback: Duration) -> bool {
        tokio::time::timeout(fallback, self.changed()).await.is_ok()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut waiting = self.events.lock();
        if let Some((count, _)) = waiting.get_mut(&self.signal) {
            *count -= 1;
            if *count == 0 {
                waiting.remove(&self.signal);
            }
        }
    }
}

impl Events {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Signal, (usize, watch::Sender<u64>)>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Subscribe before reading what the signal is about, so a publish
    /// between the read and the wait is not missed.
    pub fn subscribe(self: &Arc<Self>, topic: Topic, id: Uuid) -> Subscription {
        let signal = Signal { topic, id };
        let mut waiting = self.lock();
        let (count, sender) = waiting.entry(signal).or_insert_with(|| (0, watch::Sender::new(0)));
        *count += 1;
        let rx = sender.subscribe();
        drop(waiting);
        Subscription { events: self.clone(), signal, rx }
    }

    fn wake_signal(&self, signal: Signal) {
        if let Some((_, sender)) = self.lock().get(&signal) {
            sender.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Tells this process only: for what other processes hear of another
    /// way (a notification's row: PostgreSQL's trigger NOTIFYs at commit).
    pub fn wake(&self, topic: Topic, id: Uuid) {
        self.wake_signal(Signal { topic, id });
    }

    /// Tells this process at once, and the others through PostgreSQL. A
    /// failed NOTIFY is logged: the others find out at their next look.
    pub async fn publish(&self, db: &Db, topic: Topic, id: Uuid) {
        let signal = Signal { topic, id };
        self.wake_signal(signal);
        if let Db::Postgres(pool) = db {
            let sent = sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(signal.payload()).execute(pool).await;
            if let Err(e) = sent {
                tracing::warn!(error = %e, signal = %signal.payload(), "NOTIFY failed");
            }
        }
    }

    /// Re-broadcasts what other processes NOTIFY (PostgreSQL only; SQLite
    /// is one process). Reconnects with a pause when the connection drops.
    /// A notification's signal also drops the org's cached unread counts
    /// (`caches`), whichever process wrote it.
    pub fn spawn_listener(self: &Arc<Self>, db: &Db, caches: Arc<super::cache::Caches>) {
        let Db::Postgres(pool) = db else { return };
        let (pool, events) = (pool.clone(), self.clone());
        tokio::spawn(async move {
            loop {
                match sqlx::postgres::PgListener::connect_with(&pool).await {
                    Ok(mut listener) => match listener.listen(CHANNEL).await {
                        Ok(()) => loop {
                            match listener.recv().await {
                                Ok(note) => {
                                    if let Some(signal) = Signal::parse(note.payload()) {
                                        if signal.topic == Topic::Notification {
                                            caches.notifications_written(signal.id);
                                        }
                                        events.wake_signal(signal);
                                    }
                                }
                                Err(e) => {
                                    tracing::warn!(error = %e, "the LISTEN connection dropped; reconnecting");
                                    break;
                                }
                            }
                        },
                        Err(e) => tracing::warn!(error = %e, "LISTEN failed"),
                    },
                    Err(e) => tracing::warn!(error = %e, "connecting the LISTEN connection failed"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_carry_a_topic_and_an_id() {
        let signal = Signal { topic: Topic::RunCancel, id: Uuid::nil() };
        assert_eq!(signal.payload(), "run_cancel:00000000-0000-0000-0000-000000000000");
        assert_eq!(Signal::parse(&signal.payload()), Some(signal));
        assert_eq!(Signal::parse("nope:00000000-0000-0000-0000-000000000000"), None);
        assert_eq!(Signal::parse("run_events:not-a-uuid"), None);
    }

    #[tokio::test]
    async fn a_waiter_wakes_on_its_signal_and_not_on_others() {
        let events = Arc::new(Events::default());
        let (mine, other) = (Uuid::new_v4(), Uuid::new_v4());
        let mut sub = events.subscribe(Topic::RunEvents, mine);
        events.wake_signal(Signal { topic: Topic::RunEvents, id: other });
        events.wake_signal(Signal { topic: Topic::RunCancel, id: mine });
        assert!(!sub.wait(Duration::from_millis(20)).await, "not its signal");
        events.wake_signal(Signal { topic: Topic::RunEvents, id: mine });
        assert!(sub.wait(Duration::from_secs(5)).await, "published before the wait: still seen");
        assert!(!sub.wait(Duration::from_millis(20)).await, "once");
        drop(sub);
        assert!(events.lock().is_empty(), "nobody waits: nothing kept");
    }
}
