//! The broker's durable queue: accepted events and their deliveries, one per matching
//! subscription, each `pending`, `done` or `dead` (the dead-letter queue).
//!
//! [`EventStore`] is the small interface the ingress, the dispatcher and the CLI use; the
//! embedded backend is [`SqliteStore`], one SQLite file (`<state>/broker.db`) in WAL mode,
//! which the CLI may open beside a running broker. Another backend is another file here.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{params, params_from_iter, Connection};
use serde::Serialize;

use crate::QueuedEvent;

/// Milliseconds since the Unix epoch: how the store keeps time.
pub type Millis = i64;

/// The current time in [`Millis`].
pub fn now_ms() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

/// The queue's own connection settings: WAL, so the CLI reads beside a running broker,
/// and a busy timeout, so they wait for each other instead of failing.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")
}

/// The file name of the embedded store inside the state directory.
pub const DB_FILE: &str = "broker.db";

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database reported an error.
    #[error("broker database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The CLI was pointed at a state directory where no broker has run.
    #[error("no broker database at {0} (has the broker run with this --state-dir?)")]
    Missing(PathBuf),
    /// A replay named events that have no dead-lettered delivery.
    #[error("no dead-lettered delivery for event id {}", .0.join(", "))]
    UnknownEvents(Vec<String>),
    /// A stored value is not what the broker writes.
    #[error("broker database: corrupt row: {0}")]
    Corrupt(String),
    /// The blocking task running a query failed.
    #[error("broker database task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// NATS JetStream failed or did not answer.
    #[error("NATS JetStream: {0}")]
    Nats(String),
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// The subscriber answered 2xx.
    Done,
    /// In the dead-letter queue.
    Dead,
}

impl DeliveryStatus {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Done => "done",
            DeliveryStatus::Dead => "dead",
        }
    }

    fn parse(s: &str) -> Result<DeliveryStatus, StoreError> {
        match s {
            "pending" => Ok(DeliveryStatus::Pending),
            "done" => Ok(DeliveryStatus::Done),
            "dead" => Ok(DeliveryStatus::Dead),
            other => Err(StoreError::Corrupt(format!("delivery status `{other}`"))),
        }
    }
}

/// What accepting an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// A new event, with this many deliveries queued.
    New(usize),
    /// An event with this (source, id) was already stored: nothing was queued.
    Duplicate,
}

/// A pending delivery handed to the dispatcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The delivery's row id.
    pub id: i64,
    /// The subscription it goes to.
    pub subscription: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// The event.
    pub event: QueuedEvent,
}

/// How an attempt ended, as the store records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Delivered.
    Done,
    /// Failed; try again at `due_at`.
    Retry {
        /// Failed attempts, this one included.
        attempts: u32,
        /// When to try again.
        due_at: Millis,
        /// What went wrong.
        error: String,
    },
    /// Failed for good: into the dead-letter queue.
    Dead {
        /// Failed attempts, this one included.
        attempts: u32,
        /// What went wrong.
        error: String,
    },
}

/// One entry of the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    /// The event's `id`.
    pub event_id: String,
    /// The event's `source`.
    pub source: String,
    /// The event's `type`.
    #[serde(rename = "type")]
    pub ty: String,
    /// The subscription it failed to reach.
    pub subscription: String,
    /// Attempts made.
    pub attempts: u32,
    /// The last answer or error.
    pub last_error: String,
    /// When it was dead-lettered.
    pub dead_at: Millis,
}

/// Which dead letters to re-queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// Every one.
    All,
    /// Those of these event ids (all their dead deliveries); every id must have one.
    Events(Vec<String>),
}

/// The number of deliveries of one subscription in one status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusCount {
    /// The subscription.
    pub subscription: String,
    /// The status.
    pub status: DeliveryStatus,
    /// How many deliveries.
    pub count: u64,
}

/// What the ingress and the operator's commands need of the broker's queue, whatever
/// keeps it (the embedded [`SqliteStore`] or NATS JetStream).
#[async_trait]
pub trait EventQueue: Send + Sync {
    /// Stores `event` durably, to be delivered to each of `subscriptions`, all or nothing.
    /// An event whose (source, id) is already stored changes nothing.
    async fn accept(
        &self,
        event: QueuedEvent,
        subscriptions: Vec<String>,
        now: Millis,
    ) -> Result<Accepted, StoreError>;

    /// The dead-letter queue, oldest first.
    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError>;

    /// Re-queues dead deliveries (attempts reset, due `now`); returns how many.
    async fn replay(&self, which: Replay, now: Millis) -> Result<usize, StoreError>;

    /// Delivery counts per subscription and status.
    async fn stats(&self) -> Result<Vec<StatusCount>, StoreError>;

    /// The counts of [`Self::stats`] that are not done (waiting and dead), for the
    /// metrics, which read them at every scrape.
    async fn backlog(&self) -> Result<Vec<StatusCount>, StoreError> {
        let mut counts = self.stats().await?;
        counts.retain(|c| c.status != DeliveryStatus::Done);
        Ok(counts)
    }
}

/// A queue that also keeps each delivery's state, for the [`EmbeddedDispatcher`]
/// (`crate::dispatch`): one pending delivery per matching subscription, due at a time.
///
/// [`EmbeddedDispatcher`]: crate::dispatch::EmbeddedDispatcher
#[async_trait]
pub trait EventStore: EventQueue {
    /// Up to `limit` pending deliveries to `subscriptions` due by `now`, oldest first,
    /// leaving out the ids in `skip` (those already in flight).
    async fn due(
        &self,
        subscriptions: &[String],
        now: Millis,
        limit: usize,
        skip: &HashSet<i64>,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// The earliest due time after `now` of a pending delivery to `subscriptions`.
    async fn next_due_after(
        &self,
        subscriptions: &[String],
        now: Millis,
    ) -> Result<Option<Millis>, StoreError>;

    /// Records how an attempt of delivery `id` ended.
    async fn finish(&self, id: i64, transition: Transition, now: Millis) -> Result<(), StoreError>;
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    source       TEXT NOT NULL,
    id           TEXT NOT NULL,
    type         TEXT NOT NULL,
    attributes   TEXT NOT NULL,
    content_type TEXT,
    data         BLOB NOT NULL,
    received_at  INTEGER NOT NULL,
    UNIQUE (source, id)
);
CREATE TABLE IF NOT EXISTS deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    event_seq    INTEGER NOT NULL REFERENCES events (seq),
    subscription TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'done', 'dead')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    due_at       INTEGER NOT NULL,
    last_error   TEXT,
    updated_at   INTEGER NOT NULL,
    UNIQUE (event_seq, subscription)
);
CREATE INDEX IF NOT EXISTS deliveries_by_status_due ON deliveries (status, due_at);
PRAGMA user_version = 1;
";

/// The embedded backend: `<state>/broker.db`.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `state_dir`.
    pub fn open(state_dir: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_file(&state_dir.join(DB_FILE))
    }

    /// Opens the store of a broker that has run in `state_dir`; the CLI uses this so that a
    /// mistyped directory is an error, not an empty queue.
    pub fn open_existing(state_dir: &Path) -> Result<SqliteStore, StoreError> {
        let path = state_dir.join(DB_FILE);
        if !path.is_file() {
            return Err(StoreError::Missing(path));
        }
        SqliteStore::open_file(&path)
    }

    fn open_file(path: &Path) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open(path)?;
        configure(&conn)?;
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn with_conn<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut conn)
        })
        .await?
    }
}

/// Runs `f` with commits synced to disk (`synchronous=FULL`): a 202 promises the event
/// survives a crash of the machine, not only of the process. Everything else commits
/// without a sync (`NORMAL`): a delivery marked done and then lost to a power cut is only
/// sent again, which consumers take as a duplicate. A sync also makes durable every commit
/// before it. Before, every delivery's outcome was synced too: an order (two events, four
/// deliveries) cost six syncs instead of two.
fn durably<R>(
    conn: &mut Connection,
    f: impl FnOnce(&mut Connection) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    conn.pragma_update(None, "synchronous", "FULL")?;
    let result = f(conn);
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    result
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

#[async_trait]
impl EventQueue for SqliteStore {
    async fn accept(
        &self,
        event: QueuedEvent,
        subscriptions: Vec<String>,
        now: Millis,
    ) -> Result<Accepted, StoreError> {
        self.with_conn(move |conn| {
            durably(conn, |conn| {
                let tx = conn.transaction()?;
                let attributes = serde_json::to_string(&event.attributes)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let inserted = tx.execute(
                    "INSERT OR IGNORE INTO events
                     (source, id, type, attributes, content_type, data, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        event.source,
                        event.id,
                        event.ty,
                        attributes,
                        event.content_type,
                        event.data.as_ref(),
                        now
                    ],
                )?;
                if inserted == 0 {
                    return Ok(Accepted::Duplicate);
                }
                let seq = tx.last_insert_rowid();
                for subscription in &subscriptions {
                    tx.execute(
                    "INSERT INTO deliveries (event_seq, subscription, status, due_at, updated_at)
                     VALUES (?1, ?2, 'pending', ?3, ?3)",
                    params![seq, subscription, now],
                )?;
                }
                tx.commit()?;
                Ok(Accepted::New(subscriptions.len()))
            })
        })
        .await
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare(
                "SELECT e.id, e.source, e.type, d.subscription, d.attempts,
                        COALESCE(d.last_error, ''), d.updated_at
                 FROM deliveries d JOIN events e ON e.seq = d.event_seq
                 WHERE d.status = 'dead' ORDER BY d.updated_at, d.id",
            )?;
            let rows = stmt.query_map([], |row| {
                Ok(DeadLetter {
                    event_id: row.get(0)?,
                    source: row.get(1)?,
                    ty: row.get(2)?,
                    subscription: row.get(3)?,
                    attempts: row.get(4)?,
                    last_error: row.get(5)?,
                    dead_at: row.get(6)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn replay(&self, which: Replay, now: Millis) -> Result<usize, StoreError> {
        self.with_conn(move |conn| {
            durably(conn, |conn| {
                let tx = conn.transaction()?;
                let requeue = "UPDATE deliveries
                 SET status = 'pending', attempts = 0, due_at = ?1, last_error = NULL,
                     updated_at = ?1
                 WHERE status = 'dead'";
                let count = match which {
                    Replay::All => tx.execute(requeue, params![now])?,
                    Replay::Events(ids) => {
                        let mut unknown = Vec::new();
                        let mut count = 0;
                        for id in &ids {
                            let n = tx.execute(
                                &format!(
                                "{requeue} AND event_seq IN (SELECT seq FROM events WHERE id = ?2)"
                            ),
                                params![now, id],
                            )?;
                            if n == 0 {
                                unknown.push(id.clone());
                            }
                            count += n;
                        }
                        if !unknown.is_empty() {
                            return Err(StoreError::UnknownEvents(unknown));
                        }
                        count
                    }
                };
                tx.commit()?;
                Ok(count)
            })
        })
        .await
    }

    async fn stats(&self) -> Result<Vec<StatusCount>, StoreError> {
        self.counts(
            "SELECT subscription, status, COUNT(*) FROM deliveries
             GROUP BY subscription, status ORDER BY subscription, status",
        )
        .await
    }

    async fn backlog(&self) -> Result<Vec<StatusCount>, StoreError> {
        // The status index skips the done deliveries, however many there are.
        self.counts(
            "SELECT subscription, status, COUNT(*) FROM deliveries
             WHERE status IN ('pending', 'dead')
             GROUP BY subscription, status ORDER BY subscription, status",
        )
        .await
    }
}

impl SqliteStore {
    /// Runs a `subscription, status, count` query.
    async fn counts(&self, query: &'static str) -> Result<Vec<StatusCount>, StoreError> {
        self.with_conn(move |conn| {
            let mut stmt = conn.prepare(query)?;
            let rows = stmt.query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (subscription, status, count) = row?;
                out.push(StatusCount {
                    subscription,
                    status: DeliveryStatus::parse(&status)?,
                    count: count as u64,
                });
            }
            Ok(out)
        })
        .await
    }
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn due(
        &self,
        subscriptions: &[String],
        now: Millis,
        limit: usize,
        skip: &HashSet<i64>,
    ) -> Result<Vec<Delivery>, StoreError> {
        if subscriptions.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let subscriptions = subscriptions.to_vec();
        let skip = skip.clone();
        self.with_conn(move |conn| {
            let sql = format!(
                "SELECT d.id, d.subscription, d.attempts,
                        e.id, e.source, e.type, e.attributes, e.content_type, e.data
                 FROM deliveries d JOIN events e ON e.seq = d.event_seq
                 WHERE d.status = 'pending' AND d.due_at <= ? AND d.subscription IN ({})
                 ORDER BY d.due_at, d.id LIMIT ?",
                placeholders(subscriptions.len())
            );
            let mut values: Vec<rusqlite::types::Value> = vec![now.into()];
            values.extend(subscriptions.into_iter().map(Into::into));
            values.push(((limit + skip.len()) as i64).into());
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(values), |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, u32>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, String>(5)?,
                    row.get::<_, String>(6)?,
                    row.get::<_, Option<String>>(7)?,
                    row.get::<_, Vec<u8>>(8)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, subscription, attempts, event_id, source, ty, attributes, ct, data) = row?;
                if skip.contains(&id) {
                    continue;
                }
                let attributes = serde_json::from_str(&attributes)
                    .map_err(|e| StoreError::Corrupt(format!("event attributes: {e}")))?;
                out.push(Delivery {
                    id,
                    subscription,
                    attempts,
                    event: QueuedEvent {
                        id: event_id,
                        source,
                        ty,
                        attributes,
                        content_type: ct,
                        data: data.into(),
                    },
                });
                if out.len() == limit {
                    break;
                }
            }
            Ok(out)
        })
        .await
    }

    async fn next_due_after(
        &self,
        subscriptions: &[String],
        now: Millis,
    ) -> Result<Option<Millis>, StoreError> {
        if subscriptions.is_empty() {
            return Ok(None);
        }
        let subscriptions = subscriptions.to_vec();
        self.with_conn(move |conn| {
            let sql = format!(
                "SELECT MIN(due_at) FROM deliveries
                 WHERE status = 'pending' AND due_at > ? AND subscription IN ({})",
                placeholders(subscriptions.len())
            );
            let mut values: Vec<rusqlite::types::Value> = vec![now.into()];
            values.extend(subscriptions.into_iter().map(Into::into));
            Ok(conn
                .prepare_cached(&sql)?
                .query_row(params_from_iter(values), |row| row.get(0))?)
        })
        .await
    }

    async fn finish(&self, id: i64, transition: Transition, now: Millis) -> Result<(), StoreError> {
        self.with_conn(move |conn| {
            match transition {
                Transition::Done => conn.execute(
                    "UPDATE deliveries SET status = 'done', last_error = NULL, updated_at = ?2
                     WHERE id = ?1 AND status = 'pending'",
                    params![id, now],
                )?,
                Transition::Retry {
                    attempts,
                    due_at,
                    error,
                } => conn.execute(
                    "UPDATE deliveries SET attempts = ?2, due_at = ?3, last_error = ?4,
                         updated_at = ?5
                     WHERE id = ?1 AND status = 'pending'",
                    params![id, attempts, due_at, error, now],
                )?,
                Transition::Dead { attempts, error } => conn.execute(
                    "UPDATE deliveries SET status = 'dead', attempts = ?2, last_error = ?3,
                         updated_at = ?4
                     WHERE id = ?1 AND status = 'pending'",
                    params![id, attempts, error, now],
                )?,
            };
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, ty: &str) -> QueuedEvent {
        QueuedEvent::new(id, "/test", ty, b"{}".to_vec(), Some("application/json"))
    }

    fn subs(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn open() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        (dir, store)
    }

    async fn count(store: &SqliteStore, sub: &str, status: DeliveryStatus) -> u64 {
        let stats = store.stats().await.unwrap();
        stats
            .iter()
            .find(|c| c.subscription == sub && c.status == status)
            .map_or(0, |c| c.count)
    }

    #[tokio::test]
    async fn a_duplicate_source_and_id_queues_nothing() {
        let (_dir, store) = open();
        let all = subs(&["a", "b"]);
        let first = store
            .accept(event("1", "x"), all.clone(), 10)
            .await
            .unwrap();
        assert_eq!(first, Accepted::New(2));
        let again = store
            .accept(event("1", "x"), all.clone(), 11)
            .await
            .unwrap();
        assert_eq!(again, Accepted::Duplicate);
        let mut other_source = event("1", "x");
        other_source.source = "/elsewhere".into();
        let other = store.accept(other_source, all.clone(), 12).await.unwrap();
        assert_eq!(other, Accepted::New(2));
        let due = store.due(&all, 100, 10, &HashSet::new()).await.unwrap();
        assert_eq!(due.len(), 4);
        assert_eq!(due[0].event, event("1", "x"));
    }

    #[tokio::test]
    async fn due_respects_time_subscriptions_skip_and_limit() {
        let (_dir, store) = open();
        store
            .accept(event("1", "x"), subs(&["a", "b"]), 10)
            .await
            .unwrap();
        store
            .accept(event("2", "x"), subs(&["a"]), 20)
            .await
            .unwrap();
        assert!(store
            .due(&subs(&["a"]), 5, 10, &HashSet::new())
            .await
            .unwrap()
            .is_empty());
        let due = store
            .due(&subs(&["a"]), 20, 10, &HashSet::new())
            .await
            .unwrap();
        assert_eq!(
            due.iter().map(|d| d.event.id.as_str()).collect::<Vec<_>>(),
            ["1", "2"]
        );
        let skip = HashSet::from([due[0].id]);
        let due = store.due(&subs(&["a"]), 20, 1, &skip).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].event.id, "2");
        assert_eq!(
            store.next_due_after(&subs(&["a"]), 10).await.unwrap(),
            Some(20)
        );
        assert_eq!(store.next_due_after(&subs(&["c"]), 0).await.unwrap(), None);
    }

    #[tokio::test]
    async fn deliveries_move_from_pending_to_done_or_dead() {
        let (_dir, store) = open();
        store
            .accept(event("1", "x"), subs(&["a", "b", "c"]), 0)
            .await
            .unwrap();
        let due = store
            .due(&subs(&["a", "b", "c"]), 0, 10, &HashSet::new())
            .await
            .unwrap();
        let by_sub = |name: &str| due.iter().find(|d| d.subscription == name).unwrap().id;
        store
            .finish(by_sub("a"), Transition::Done, 1)
            .await
            .unwrap();
        let retry = Transition::Retry {
            attempts: 1,
            due_at: 500,
            error: "HTTP 503".into(),
        };
        store.finish(by_sub("b"), retry, 1).await.unwrap();
        let dead = Transition::Dead {
            attempts: 1,
            error: "HTTP 400".into(),
        };
        store.finish(by_sub("c"), dead, 2).await.unwrap();

        assert_eq!(count(&store, "a", DeliveryStatus::Done).await, 1);
        assert_eq!(count(&store, "b", DeliveryStatus::Pending).await, 1);
        assert_eq!(count(&store, "c", DeliveryStatus::Dead).await, 1);
        let later = store
            .due(&subs(&["a", "b", "c"]), 499, 10, &HashSet::new())
            .await
            .unwrap();
        assert!(later.is_empty());
        let later = store
            .due(&subs(&["a", "b", "c"]), 500, 10, &HashSet::new())
            .await
            .unwrap();
        assert_eq!(later.len(), 1);
        assert_eq!(later[0].attempts, 1);

        // A finished delivery is not reopened by a late report.
        store
            .finish(by_sub("a"), Transition::Done, 3)
            .await
            .unwrap();
        store
            .finish(
                by_sub("c"),
                Transition::Retry {
                    attempts: 2,
                    due_at: 0,
                    error: "x".into(),
                },
                3,
            )
            .await
            .unwrap();
        assert_eq!(count(&store, "c", DeliveryStatus::Dead).await, 1);

        let letters = store.dead_letters().await.unwrap();
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].event_id, "1");
        assert_eq!(letters[0].subscription, "c");
        assert_eq!(letters[0].last_error, "HTTP 400");
        assert_eq!(letters[0].dead_at, 2);
    }

    #[tokio::test]
    async fn replay_requeues_dead_letters_with_attempts_reset() {
        let (_dir, store) = open();
        for id in ["1", "2"] {
            store.accept(event(id, "x"), subs(&["a"]), 0).await.unwrap();
        }
        for d in store
            .due(&subs(&["a"]), 0, 10, &HashSet::new())
            .await
            .unwrap()
        {
            let dead = Transition::Dead {
                attempts: 3,
                error: "HTTP 503".into(),
            };
            store.finish(d.id, dead, 1).await.unwrap();
        }
        let err = store
            .replay(Replay::Events(vec!["1".into(), "nope".into()]), 5)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        assert_eq!(
            store.dead_letters().await.unwrap().len(),
            2,
            "all or nothing"
        );

        assert_eq!(
            store
                .replay(Replay::Events(vec!["1".into()]), 5)
                .await
                .unwrap(),
            1
        );
        let due = store
            .due(&subs(&["a"]), 5, 10, &HashSet::new())
            .await
            .unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].event.id.as_str(), due[0].attempts), ("1", 0));
        assert_eq!(store.replay(Replay::All, 6).await.unwrap(), 1);
        assert_eq!(store.replay(Replay::All, 7).await.unwrap(), 0);
        assert!(store.dead_letters().await.unwrap().is_empty());
    }

    #[test]
    fn the_cli_does_not_create_a_store() {
        let dir = tempfile::tempdir().unwrap();
        let err = SqliteStore::open_existing(dir.path()).err().unwrap();
        assert!(err.to_string().contains("broker.db"), "{err}");
    }
}
