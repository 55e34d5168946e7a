//! The transactional outbox: an event is written to `<service>_outbox` in the same
//! transaction as the change it announces, so nothing committed is lost and nothing
//! uncommitted is published. The relay ([`relay`]) POSTs unsent rows to the broker in
//! `ORDER BY created_at, seq` order (per entity, `entity_version` breaks ties) and sets
//! `sent_at`; it stops at the first failure, so that a later event of an entity never
//! overtakes an earlier one within a run.
//!
//! After a request, the relay sends only the events that request wrote ([`relay_after`]);
//! every `boxoffice:tick` sends the oldest unsent ones, whoever wrote them, so a row left
//! unsent by a crash or a broker outage goes later. Under load, a request that relayed
//! every unsent row re-sent the rows that concurrent requests were still sending: at 32
//! concurrent orders each event went to the broker about forty times. Consumers still
//! apply each entity's events in version order, so one sent out of turn waits its turn.

use std::cell::RefCell;
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};

use spin_sdk::http::{Method, Response};

use crate::events::{self, Attributes, Event, Inbound};
use crate::http::{self, OutboundResponse};
use crate::signature::{self, SigningKey};
use crate::sql::{Db, LazyDb, SqlError, Value};
use crate::{config, ids, time, ApiRequest};

/// How many rows one relay run sends at most; the next run (a tick) sends the rest.
pub const RELAY_BATCH: i64 = 100;

/// Orders the rows written within one millisecond; Wasm instances live one request, so
/// this counts the events of one request.
static SEQUENCE: AtomicI64 = AtomicI64::new(0);

thread_local! {
    /// The events this request wrote: Wasm instances live one request, so this is the
    /// request's own record.
    static WRITTEN: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    /// The trace context of the request (its `traceparent`), which the events it writes
    /// carry on as the CloudEvents distributed tracing extension (`ce-traceparent`).
    static TRACEPARENT: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Whether this request was a tick the service acted on (`consume::tick_due`).
    static TICKED: RefCell<bool> = const { RefCell::new(false) };
}

/// Notes that this request is a tick the service acts on: the relay after it sweeps the
/// oldest unsent events. A tick not acted on sweeps nothing.
pub fn note_tick() {
    TICKED.with(|ticked| *ticked.borrow_mut() = true);
}

fn take_tick() -> bool {
    TICKED.with(|ticked| ticked.take())
}

/// Remembers the trace context of the request being answered, if it has a well-formed
/// `traceparent` (W3C Trace Context: `00-<32 hex>-<16 hex>-<2 hex>`), for the events it
/// writes.
pub fn trace_request(request: &ApiRequest) {
    let traceparent = request
        .header("traceparent")
        .filter(|value| is_traceparent(value))
        .map(str::to_owned);
    TRACEPARENT.with(|current| *current.borrow_mut() = traceparent);
}

fn is_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    parts.len() == 4
        && hex(parts[0], 2)
        && parts[0] != "ff"
        && hex(parts[1], 32)
        && parts[1].bytes().any(|b| b != b'0')
        && hex(parts[2], 16)
        && parts[2].bytes().any(|b| b != b'0')
        && hex(parts[3], 2)
}

/// Which unsent events a relay run sends.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    /// The oldest, up to [`RELAY_BATCH`] (a tick).
    Oldest,
    /// These events (those a request wrote), if they were committed and are still unsent.
    Only(Vec<String>),
}

/// The events this request wrote; the record starts again empty.
fn take_written() -> Vec<String> {
    WRITTEN.with(|written| written.take())
}

/// The outbox table of `service`.
pub fn table(service: &str) -> String {
    format!("{service}_outbox")
}

/// The trace context of each traced event, beside the outbox: a table of its own, so that
/// databases made before tracing need only a `CREATE TABLE IF NOT EXISTS`.
fn trace_table(service: &str) -> String {
    format!("{service}_outbox_trace")
}

/// The statements that make `service`'s outbox, for its migrations: the table, and a
/// partial index of what is not sent yet, so that the relay's look for unsent events costs
/// the same however many events were ever published (without it, every request that
/// publishes scanned the whole history).
pub fn migrations(service: &str) -> [String; 3] {
    [
        create_table(service),
        create_unsent_index(service),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (event_id TEXT PRIMARY KEY, traceparent TEXT NOT NULL)",
            trace_table(service)
        ),
    ]
}

fn create_unsent_index(service: &str) -> String {
    let table = table(service);
    format!(
        "CREATE INDEX IF NOT EXISTS {table}_unsent ON {table} (created_at, seq, entity_version) \
         WHERE sent_at IS NULL"
    )
}

fn create_table(service: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (\
            event_id TEXT PRIMARY KEY, \
            entity_id TEXT NOT NULL, \
            entity_version BIGINT, \
            event_type TEXT NOT NULL, \
            data TEXT NOT NULL, \
            created_at BIGINT NOT NULL, \
            seq BIGINT NOT NULL, \
            sent_at BIGINT)",
        table(service)
    )
}

/// Writes `event` to `service`'s outbox through `tx` (the caller's transaction) and
/// returns the event id that will travel as `ce-id`.
pub fn enqueue(tx: &dyn Db, service: &str, event: &Event, now_ms: i64) -> Result<String, SqlError> {
    let event_id = ids::new_id();
    let data = event
        .data()
        .map_err(|e| SqlError::Other(format!("event payload: {e}")))?
        .to_string();
    tx.execute(
        &format!(
            "INSERT INTO {} (event_id, entity_id, entity_version, event_type, data, created_at, seq, sent_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
            table(service)
        ),
        &[
            Value::from(&event_id),
            event.entity_id().into(),
            event.entity_version().into(),
            event.event_type().as_str().into(),
            data.into(),
            now_ms.into(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed).into(),
        ],
    )?;
    if let Some(traceparent) = TRACEPARENT.with(|current| current.borrow().clone()) {
        tx.execute(
            &format!(
                "INSERT INTO {} (event_id, traceparent) VALUES ($1, $2)",
                trace_table(service)
            ),
            &[Value::from(&event_id), traceparent.into()],
        )?;
    }
    WRITTEN.with(|written| written.borrow_mut().push(event_id.clone()));
    Ok(event_id)
}

/// Why a relay run stopped early; the unsent rows stay for the next run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RelayError {
    /// Reading or marking the outbox failed.
    #[error(transparent)]
    Sql(#[from] SqlError),
    /// The broker did not accept an event (no answer, or not a 2xx).
    #[error("the broker did not take event {event_id}: {reason}")]
    Broker {
        /// The event that stopped the run.
        event_id: String,
        /// What went wrong.
        reason: String,
    },
}

/// An outbox row not yet accepted by the broker.
#[derive(Debug, Clone, PartialEq)]
struct Unsent {
    event_id: String,
    entity_id: String,
    event_type: String,
    data: String,
    created_at: i64,
    traceparent: Option<String>,
}

/// The columns the relay reads: the outbox row `o`, and its trace context `t` if any.
fn unsent_columns(service: &str) -> String {
    format!(
        "SELECT o.event_id, o.entity_id, o.event_type, o.data, o.created_at, t.traceparent \
         FROM {} o LEFT JOIN {} t ON t.event_id = o.event_id",
        table(service),
        trace_table(service)
    )
}

/// The oldest unsent events of `service`, at most `$1` of them.
fn unsent_query(service: &str) -> String {
    format!(
        "{} WHERE o.sent_at IS NULL ORDER BY o.created_at, o.seq, o.entity_version LIMIT $1",
        unsent_columns(service)
    )
}

/// The events of `service` with the `count` ids `$1, $2, ...`, if committed and unsent.
fn unsent_of_query(service: &str, count: usize) -> String {
    let ids: Vec<String> = (1..=count).map(|n| format!("${n}")).collect();
    format!(
        "{} WHERE o.event_id IN ({}) AND o.sent_at IS NULL \
         ORDER BY o.created_at, o.seq, o.entity_version",
        unsent_columns(service),
        ids.join(", ")
    )
}

fn unsent(db: &dyn Db, service: &str, scope: &Scope) -> Result<Vec<Unsent>, SqlError> {
    let rows = match scope {
        Scope::Oldest => db.query(&unsent_query(service), &[RELAY_BATCH.into()])?,
        Scope::Only(ids) if ids.is_empty() => Vec::new(),
        Scope::Only(ids) => {
            let params: Vec<Value> = ids.iter().map(Value::from).collect();
            db.query(&unsent_of_query(service, ids.len()), &params)?
        }
    };
    rows.iter()
        .map(|row| {
            Ok(Unsent {
                event_id: row.text("event_id")?,
                entity_id: row.text("entity_id")?,
                event_type: row.text("event_type")?,
                data: row.text("data")?,
                created_at: row.int("created_at")?,
                traceparent: row.opt_text("traceparent")?,
            })
        })
        .collect()
}

/// The URL events are POSTed to: `broker_url` as given, with a `/` when it has no path
/// (the broker's ingress is its root).
pub fn ingress_url(broker_url: &str) -> String {
    let url = broker_url.trim();
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    if after_scheme.contains('/') {
        url.to_owned()
    } else {
        format!("{url}/")
    }
}

/// Sends `service`'s unsent events in `scope`, oldest first, to the broker at `broker_url`
/// as binary-mode CloudEvents signed with `key` through `post`, marking each sent on a
/// 2xx; stops at the first failure. Returns how many were sent.
pub async fn relay_with<P, F>(
    db: &dyn Db,
    service: &str,
    scope: &Scope,
    broker_url: &str,
    key: &SigningKey,
    post: P,
) -> Result<usize, RelayError>
where
    P: Fn(String, Vec<(String, String)>, Vec<u8>) -> F,
    F: Future<Output = Result<OutboundResponse, String>>,
{
    let url = ingress_url(broker_url);
    let source = events::source(service);
    let rows = unsent(db, service, scope)?;
    let mut sent = 0;
    for row in rows {
        let mut headers = events::binary_headers(
            &Attributes {
                id: &row.event_id,
                event_type: &row.event_type,
                source: &source,
                time: &time::rfc3339(row.created_at),
                subject: &row.entity_id,
            },
            row.data.as_bytes(),
            key,
        );
        // Not signed: tracing is not something a consumer decides anything by, and the
        // CloudEvents extension lets intermediaries update it.
        if let Some(traceparent) = row.traceparent {
            headers.push(("ce-traceparent".to_owned(), traceparent));
        }
        let reason = match post(url.clone(), headers, row.data.into_bytes()).await {
            Ok(response) if (200..300).contains(&response.status) => None,
            Ok(response) => Some(format!(
                "status {}: {}",
                response.status,
                String::from_utf8_lossy(&response.body)
            )),
            Err(e) => Some(e),
        };
        if let Some(reason) = reason {
            return Err(RelayError::Broker {
                event_id: row.event_id,
                reason,
            });
        }
        db.execute(
            &format!(
                "UPDATE {} SET sent_at = $1 WHERE event_id = $2",
                table(service)
            ),
            &[time::now_ms().into(), row.event_id.into()],
        )?;
        sent += 1;
    }
    Ok(sent)
}

/// [`relay_with`] through the host's outgoing HTTP.
pub async fn relay(
    db: &dyn Db,
    service: &str,
    scope: &Scope,
    broker_url: &str,
    key: &SigningKey,
) -> Result<usize, RelayError> {
    relay_with(
        db,
        service,
        scope,
        broker_url,
        key,
        |url, headers, body| async move { http::post(&url, &headers, body).await },
    )
    .await
}

/// What the relay after `request` sends, given the events it `written`: after a tick acted
/// on, the oldest unsent (whoever wrote them); after anything else, what it wrote. Nothing
/// after a read, a failure, or a tick that came too soon after the last.
fn scope_after(request: &ApiRequest, response: &Response, written: Vec<String>) -> Option<Scope> {
    let success = (200..300).contains(response.status());
    if request.method == Method::Get || request.method == Method::Head || !success {
        return None;
    }
    if Inbound::is_tick(request) {
        return take_tick().then_some(Scope::Oldest);
    }
    (!written.is_empty()).then_some(Scope::Only(written))
}

/// Relays `service`'s outbox after a request that may have committed events (see
/// [`scope_after`]). A failure is logged and never fails the request: the rows stay unsent
/// for the next tick.
pub async fn relay_after(request: &ApiRequest, response: &Response, db: &LazyDb, service: &str) {
    let Some(scope) = scope_after(request, response, take_written()) else {
        return;
    };
    let signer = signature::signing_key_from_variables(service);
    let outcome = match (config::broker_url(), signer, db.get()) {
        (Ok(url), Ok(key), Ok(db)) => relay(db, service, &scope, &url, &key).await.map(drop),
        (Err(e), _, _) | (_, Err(e), _) => Err(RelayError::Broker {
            event_id: String::new(),
            reason: e.to_string(),
        }),
        (_, _, Err(e)) => Err(e.into()),
    };
    if let Err(e) = outcome {
        eprintln!("{service}: outbox relay stopped, will retry on the next tick: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Event, ExpirationComplete};
    use crate::signature::PublicKeys;
    use crate::sql::native::NativeSqlite;
    use crate::testing;
    use crate::testing::migrate;
    use std::cell::RefCell;

    #[test]
    fn events_are_written_unsent_in_order() {
        let db = NativeSqlite::open_in_memory().unwrap();
        migrate(&db, &migrations("test")).unwrap();
        for order in ["o1", "o2"] {
            let event = Event::ExpirationComplete(ExpirationComplete {
                order_id: order.into(),
            });
            enqueue(&db, "test", &event, 42).unwrap();
        }
        let rows = db
            .query(
                "SELECT entity_id, entity_version, event_type, data, sent_at FROM test_outbox \
                 ORDER BY created_at, seq",
                &[],
            )
            .unwrap();
        let entities: Vec<String> = rows.iter().map(|r| r.text("entity_id").unwrap()).collect();
        assert_eq!(entities, ["o1", "o2"]);
        assert_eq!(rows[0].opt_int("entity_version").unwrap(), None);
        assert_eq!(rows[0].text("event_type").unwrap(), "expiration:complete");
        assert_eq!(rows[0].text("data").unwrap(), r#"{"orderId":"o1"}"#);
        assert_eq!(rows[0].opt_int("sent_at").unwrap(), None);
    }

    fn expired(db: &dyn Db, order: &str) -> String {
        let event = Event::ExpirationComplete(ExpirationComplete {
            order_id: order.into(),
        });
        enqueue(db, "test", &event, 1_714_564_800_000).unwrap()
    }

    /// What the fake broker received: url, headers, body.
    type Received = Vec<(String, Vec<(String, String)>, String)>;

    /// Relays with a fake broker answering `statuses` in turn (0: no answer).
    fn relay_to(db: &dyn Db, statuses: &[u16]) -> (Result<usize, RelayError>, Received) {
        let received = RefCell::new(Vec::new());
        let answers = RefCell::new(statuses.to_vec());
        let result = futures::executor::block_on(relay_with(
            db,
            "test",
            &Scope::Oldest,
            "http://broker:3001",
            &testing::signing_key("test"),
            |url, headers, body| {
                received
                    .borrow_mut()
                    .push((url, headers, String::from_utf8(body).unwrap()));
                let status = answers.borrow_mut().remove(0);
                async move {
                    match status {
                        0 => Err("connection refused".to_owned()),
                        status => Ok(OutboundResponse {
                            status,
                            ..Default::default()
                        }),
                    }
                }
            },
        ));
        (result, received.into_inner())
    }

    fn unsent_ids(db: &dyn Db) -> Vec<String> {
        unsent(db, "test", &Scope::Oldest)
            .unwrap()
            .into_iter()
            .map(|row| row.event_id)
            .collect()
    }

    #[test]
    fn the_relay_posts_binary_cloudevents_in_order_and_marks_them_sent() {
        let db = NativeSqlite::open_in_memory().unwrap();
        migrate(&db, &migrations("test")).unwrap();
        let first = expired(&db, "o1");
        let second = expired(&db, "o2");
        let (result, received) = relay_to(&db, &[202, 200]);
        assert_eq!(result, Ok(2));
        assert_eq!(received.len(), 2);
        let (url, headers, body) = &received[0];
        assert_eq!(url, "http://broker:3001/");
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header("ce-specversion"), Some("1.0"));
        assert_eq!(header("ce-id"), Some(first.as_str()));
        assert_eq!(header("ce-type"), Some("expiration:complete"));
        assert_eq!(header("ce-source"), Some("/boxoffice/test"));
        assert_eq!(header("ce-time"), Some("2024-05-01T12:00:00.000Z"));
        assert_eq!(header("ce-subject"), Some("o1"));
        assert_eq!(header("content-type"), Some("application/json"));
        assert_eq!(body, r#"{"orderId":"o1"}"#);
        let attributes = Attributes {
            id: &first,
            event_type: "expiration:complete",
            source: "/boxoffice/test",
            subject: "o1",
            time: "2024-05-01T12:00:00.000Z",
        };
        assert_eq!(
            PublicKeys::of([("test", &testing::signing_key("test"))]).verify(
                "test",
                &attributes,
                body.as_bytes(),
                header("ce-boxofficesig")
            ),
            Ok(()),
            "every relayed event is signed"
        );
        assert!(received[1].1.contains(&("ce-id".to_owned(), second)));
        assert!(unsent_ids(&db).is_empty());
        assert_eq!(relay_to(&db, &[]).0, Ok(0), "nothing is sent twice");
    }

    #[test]
    fn events_carry_the_trace_context_of_the_request_that_wrote_them() {
        const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let db = NativeSqlite::open_in_memory().unwrap();
        migrate(&db, &migrations("test")).unwrap();
        let traced = |value: Option<&str>| {
            let mut request = ApiRequest::new(Method::Post, "/api/orders");
            if let Some(value) = value {
                request = request.with_header("traceparent", value);
            }
            trace_request(&request);
        };
        traced(Some(PARENT));
        expired(&db, "o1");
        // Not W3C trace contexts: an all-zero trace id, a bad version, too short.
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f35-00f067aa0ba902b7-01",
        ] {
            traced(Some(bad));
            expired(&db, "o2");
        }
        traced(None);
        expired(&db, "o3");
        let (result, received) = relay_to(&db, &[202; 5]);
        assert_eq!(result, Ok(5));
        let traceparents: Vec<Option<&str>> = received
            .iter()
            .map(|(_, headers, _)| {
                headers
                    .iter()
                    .find(|(n, _)| n == "ce-traceparent")
                    .map(|(_, v)| v.as_str())
            })
            .collect();
        assert_eq!(traceparents, [Some(PARENT), None, None, None, None]);
        take_written();
    }

    #[test]
    fn the_relay_stops_at_the_first_failure() {
        let db = NativeSqlite::open_in_memory().unwrap();
        migrate(&db, &migrations("test")).unwrap();
        let first = expired(&db, "o1");
        let second = expired(&db, "o2");
        let (result, received) = relay_to(&db, &[503]);
        assert!(
            matches!(result, Err(RelayError::Broker { ref event_id, .. }) if *event_id == first)
        );
        assert_eq!(received.len(), 1, "the second event waits for the first");
        assert_eq!(unsent_ids(&db), [first.clone(), second.clone()]);
        let (result, _) = relay_to(&db, &[200, 0]);
        assert!(
            matches!(result, Err(RelayError::Broker { ref event_id, .. }) if *event_id == second)
        );
        assert_eq!(unsent_ids(&db), [second]);
    }

    #[test]
    fn after_a_request_the_relay_sends_only_what_it_wrote_and_committed() {
        let db = NativeSqlite::open_in_memory().unwrap();
        migrate(&db, &migrations("test")).unwrap();
        let before = expired(&db, "o0");
        take_written();
        db.execute("BEGIN", &[]).unwrap();
        let rolled_back = expired(&db, "lost");
        db.execute("ROLLBACK", &[]).unwrap();
        let mine = [expired(&db, "o1"), expired(&db, "o2")];
        let written = take_written();
        assert_eq!(written, [rolled_back, mine[0].clone(), mine[1].clone()]);
        assert!(take_written().is_empty(), "taken once");
        let sent: Vec<String> = unsent(&db, "test", &Scope::Only(written))
            .unwrap()
            .into_iter()
            .map(|row| row.event_id)
            .collect();
        assert_eq!(sent, mine, "not the rolled-back one, not another request's");
        assert_eq!(unsent_ids(&db), [before, mine[0].clone(), mine[1].clone()]);
        assert!(unsent(&db, "test", &Scope::Only(Vec::new()))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_tick_sweeps_the_oldest_unsent_and_a_read_or_failure_relays_nothing() {
        let ok = http::json(200, &serde_json::json!({})).unwrap();
        let mine = || vec!["e1".to_owned()];
        let tick = testing::tick("/internal/events/payments");
        note_tick();
        assert_eq!(scope_after(&tick, &ok, Vec::new()), Some(Scope::Oldest));
        note_tick();
        assert_eq!(scope_after(&tick, &ok, mine()), Some(Scope::Oldest));
        // A tick that came too soon after the last sweeps nothing.
        assert_eq!(scope_after(&tick, &ok, Vec::new()), None);
        let order = ApiRequest::new(Method::Post, "/api/orders");
        assert_eq!(scope_after(&order, &ok, mine()), Some(Scope::Only(mine())));
        assert_eq!(scope_after(&order, &ok, Vec::new()), None, "wrote nothing");
        let refused = http::json(400, &serde_json::json!({})).unwrap();
        assert_eq!(scope_after(&order, &refused, mine()), None);
        let read = ApiRequest::new(Method::Get, "/api/orders");
        assert_eq!(scope_after(&read, &ok, mine()), None);
    }

    #[test]
    fn finding_own_events_searches_the_primary_key_and_sorts_only_those() {
        let db = NativeSqlite::open_in_memory().unwrap();
        migrate(&db, &migrations("test")).unwrap();
        let plan: Vec<String> = db
            .query(
                &format!("EXPLAIN QUERY PLAN {}", unsent_of_query("test", 2)),
                &["a".into(), "b".into()],
            )
            .unwrap()
            .iter()
            .map(|step| step.text("detail").unwrap())
            .collect();
        assert!(
            plan[0].starts_with("SEARCH o USING INDEX sqlite_autoindex_test_outbox_1"),
            "{plan:?}"
        );
        assert!(
            plan[1].starts_with("SEARCH t USING INDEX sqlite_autoindex_test_outbox_trace_1"),
            "the trace context is found by its event's id: {plan:?}"
        );
        assert!(!plan.iter().any(|step| step.contains("SCAN")), "{plan:?}");
    }

    #[test]
    fn the_ingress_is_the_brokers_root_unless_a_path_is_given() {
        assert_eq!(
            ingress_url("http://127.0.0.1:3001"),
            "http://127.0.0.1:3001/"
        );
        assert_eq!(ingress_url("http://broker/"), "http://broker/");
        assert_eq!(
            ingress_url("http://broker.knative/default/boxoffice"),
            "http://broker.knative/default/boxoffice"
        );
    }

    #[test]
    fn finding_unsent_events_reads_the_partial_index_not_the_history() {
        let db = NativeSqlite::open_in_memory().unwrap();
        migrate(&db, &migrations("test")).unwrap();
        crate::testing::assert_reads_index(
            &db,
            &unsent_query("test"),
            &[1.into()],
            "test_outbox_unsent",
        );
    }
}
