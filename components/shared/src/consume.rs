//! Consuming events pushed by the broker: each event applied at most once (its id is
//! recorded in `<service>_processed` in the same transaction as its effect), entity
//! updates applied only on top of the previous version, and the answers every broker
//! understands alike (ours, NATS, Knative): 204 with no body, done or already done; 503 not
//! yet (retried with backoff); 400 or 403 never (dead-lettered).

use spin_sdk::http::Response;

use crate::events::{Event, Inbound};
use crate::outbox;
use crate::service::Context;
use crate::sql::{transaction, Db, SqlError};
use crate::{ApiError, ApiRequest};

/// The table of `service` recording the ids of the events it has applied.
pub fn processed_table(service: &str) -> String {
    format!("{service}_processed")
}

/// The `CREATE TABLE IF NOT EXISTS` of `service`'s processed-event ids, for its migrations.
pub fn create_processed_table(service: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (event_id TEXT PRIMARY KEY, processed_at BIGINT NOT NULL)",
        processed_table(service)
    )
}

/// What the version rule says about an event carrying `event_version` for an entity
/// whose replica is at `replica_version` (`None`: no replica yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionCheck {
    /// The event is the next change (or the creation, version 0): apply it.
    Apply,
    /// The replica already has this version or a later one: nothing to do.
    AlreadyApplied,
    /// An earlier change is still missing: answer "not yet".
    NotYet,
}

/// The version rule: an update applies only on top of `version - 1`.
pub fn check_version(replica_version: Option<i64>, event_version: i64) -> VersionCheck {
    match replica_version {
        Some(current) if current >= event_version => VersionCheck::AlreadyApplied,
        Some(current) if current == event_version - 1 => VersionCheck::Apply,
        None if event_version == 0 => VersionCheck::Apply,
        _ => VersionCheck::NotYet,
    }
}

/// "Not yet": the event depends on one not applied yet; 503, so the broker retries it.
pub fn not_yet(why: impl Into<String>) -> ApiError {
    ApiError::BackendDown(why.into())
}

/// "Never": the event can never be applied; 400, so the broker dead-letters it.
pub fn never(why: impl Into<String>) -> ApiError {
    ApiError::bad_request(why)
}

/// Whether an event took effect now or had already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Applied by this call.
    Now,
    /// Its id was already recorded: a redelivery.
    Before,
}

enum Failure {
    Duplicate,
    Refused(ApiError),
}

impl From<SqlError> for Failure {
    fn from(e: SqlError) -> Self {
        Self::Refused(e.into())
    }
}

/// Whether `event_id` is recorded in `service`'s processed table: a redelivery, for a
/// consumer whose effect cannot be part of [`apply_once`]'s transaction (a call out).
pub fn was_processed(db: &dyn Db, service: &str, event_id: &str) -> Result<bool, ApiError> {
    Ok(!db
        .query(
            &format!(
                "SELECT event_id FROM {} WHERE event_id = $1",
                processed_table(service)
            ),
            &[event_id.into()],
        )?
        .is_empty())
}

/// Runs `apply` in one transaction with the recording of `event_id` in `service`'s
/// processed table, unless it is recorded already. When `apply` fails nothing is
/// recorded, so the event can come again.
pub fn apply_once(
    db: &dyn Db,
    service: &str,
    event_id: &str,
    now_ms: i64,
    apply: impl FnOnce(&dyn Db) -> Result<(), ApiError>,
) -> Result<Applied, ApiError> {
    let outcome = transaction(db, |tx| {
        let recorded = tx.execute(
            &format!(
                "INSERT INTO {} (event_id, processed_at) VALUES ($1, $2)",
                processed_table(service)
            ),
            &[event_id.into(), now_ms.into()],
        );
        match recorded {
            Err(SqlError::UniqueViolation(_)) => return Err(Failure::Duplicate),
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
        apply(tx).map_err(Failure::Refused)
    });
    match outcome {
        Ok(()) => Ok(Applied::Now),
        Err(Failure::Duplicate) => Ok(Applied::Before),
        Err(Failure::Refused(e)) => Err(e),
    }
}

/// The shortest time between two ticks a service acts on. Ticks are unsigned (Knative's
/// PingSource cannot sign), and a service's event route may be reached by others: a flood
/// of ticks then does no more timed work and no more outbox sweeps than the broker's clock
/// (1 s; a minute in Kubernetes).
pub const MIN_TICK_INTERVAL_MS: i64 = 500;

/// The row of `<service>_processed` that holds when `service` last acted on a tick.
const TICK_ROW: &str = "boxoffice:tick";

/// Whether `service` acts on a tick at `now_ms` (its own clock): at most once per
/// [`MIN_TICK_INTERVAL_MS`], decided in one statement so that concurrent ticks agree. A
/// tick acted on is noted for the relay that follows ([`outbox::note_tick`]).
pub fn tick_due(db: &dyn Db, service: &str, now_ms: i64) -> Result<bool, ApiError> {
    let table = processed_table(service);
    let rows = db.query(
        &format!(
            "INSERT INTO {table} (event_id, processed_at) VALUES ($1, $2) \
             ON CONFLICT (event_id) DO UPDATE SET processed_at = excluded.processed_at \
             WHERE {table}.processed_at <= $3 \
             RETURNING processed_at"
        ),
        &[
            TICK_ROW.into(),
            now_ms.into(),
            (now_ms - MIN_TICK_INTERVAL_MS).into(),
        ],
    )?;
    let due = !rows.is_empty();
    if due {
        outbox::note_tick();
    }
    Ok(due)
}

/// Applies what the broker delivered to `service`: a tick, when due ([`tick_due`]), runs
/// `on_tick` (its timed work, if any; the relay after it sends the oldest unsent events);
/// an event runs `apply` once, in the transaction that records its id.
pub fn receive(
    db: &dyn Db,
    service: &str,
    delivery: &Inbound,
    now_ms: i64,
    on_tick: impl FnOnce() -> Result<(), ApiError>,
    apply: impl Fn(&dyn Db, &Event) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    match delivery {
        Inbound::Tick if tick_due(db, service, now_ms)? => on_tick(),
        Inbound::Tick => Ok(()),
        Inbound::Event(event) => {
            apply_once(db, service, &event.id, now_ms, |tx| apply(tx, &event.event)).map(drop)
        }
    }
}

/// "Never" for an event of a type `service` does not consume.
pub fn not_consumed(service: &str, event: &Event) -> ApiError {
    never(format!("{service} does not consume {}", event.event_type()))
}

/// The answer of `service`'s event route: `request` read as an [`Inbound`] and, for an
/// event, verified with the context's event keys; then `listen` applies it.
pub fn event_route(
    service: &str,
    request: &ApiRequest,
    ctx: &Context,
    listen: impl FnOnce(&dyn Db, &Inbound, i64) -> Result<(), ApiError>,
) -> Response {
    let received = (|| {
        let inbound = Inbound::read(request, ctx.event_keys()?)?;
        listen(ctx.db.get()?, &inbound, ctx.now_ms)
    })();
    answer(service, received)
}

/// The answer to the broker for a delivery: 204 with no body when done (or already done),
/// the error's own status otherwise (503 not yet, 400 or 403 never, logged).
///
/// Knative's broker passes a 2xx on only when its body is empty or a CloudEvent (any other
/// body is a 502, retried and then dead-lettered), and it retries 404, 408, 409, 429 and
/// 5xx where our broker dead-letters 404 and 409: so a handler's 404 (an `ApiError` has no
/// 409), which no rule here makes, is answered as the 400 it means on our broker, the same
/// on every one.
pub fn answer(service: &str, result: Result<(), ApiError>) -> Response {
    match result {
        Ok(()) => Response::builder().status(204).build(),
        Err(e) => {
            if e.status() < 500 {
                eprintln!("{service}: event refused for good: {e}");
            }
            if e.status() == 404 {
                never(e.to_string()).to_response()
            } else {
                e.to_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::native::NativeSqlite;
    use crate::testing::migrate;

    #[test]
    fn updates_apply_only_on_top_of_the_previous_version() {
        assert_eq!(check_version(None, 0), VersionCheck::Apply);
        assert_eq!(check_version(None, 1), VersionCheck::NotYet);
        assert_eq!(check_version(Some(0), 0), VersionCheck::AlreadyApplied);
        assert_eq!(check_version(Some(0), 1), VersionCheck::Apply);
        assert_eq!(check_version(Some(0), 2), VersionCheck::NotYet);
        assert_eq!(check_version(Some(3), 2), VersionCheck::AlreadyApplied);
        assert_eq!(check_version(Some(3), 3), VersionCheck::AlreadyApplied);
    }

    fn db() -> NativeSqlite {
        let db = NativeSqlite::open_in_memory().unwrap();
        migrate(
            &db,
            &[
                create_processed_table("test"),
                "CREATE TABLE IF NOT EXISTS test_effects (n BIGINT)".to_owned(),
            ],
        )
        .unwrap();
        db
    }

    fn effects(db: &dyn Db) -> usize {
        db.query("SELECT n FROM test_effects", &[]).unwrap().len()
    }

    fn effect(tx: &dyn Db) -> Result<(), ApiError> {
        tx.execute("INSERT INTO test_effects (n) VALUES (1)", &[])?;
        Ok(())
    }

    #[test]
    fn a_flood_of_ticks_does_the_timed_work_no_more_often_than_the_clock() {
        let db = db();
        let ticks = std::cell::Cell::new(0);
        let tick = |now_ms| {
            receive(
                &db,
                "test",
                &Inbound::Tick,
                now_ms,
                || {
                    ticks.set(ticks.get() + 1);
                    Ok(())
                },
                |_, _| Ok(()),
            )
        };
        // A hundred ticks within one interval: one acted on, every one answered.
        for n in 0..100 {
            assert_eq!(tick(1_000 + n), Ok(()));
        }
        assert_eq!(ticks.get(), 1);
        tick(1_000 + MIN_TICK_INTERVAL_MS).unwrap();
        assert_eq!(ticks.get(), 2, "the next interval's tick is acted on");
        // A clock set back acts on nothing until it passes the last tick again.
        tick(10).unwrap();
        assert_eq!(ticks.get(), 2);
        assert!(!was_processed(&db, "test", "e1").unwrap());
    }

    #[test]
    fn an_event_takes_effect_once() {
        let db = db();
        assert_eq!(apply_once(&db, "test", "e1", 1, effect), Ok(Applied::Now));
        assert_eq!(
            apply_once(&db, "test", "e1", 2, effect),
            Ok(Applied::Before)
        );
        assert_eq!(effects(&db), 1);
        assert_eq!(apply_once(&db, "test", "e2", 3, effect), Ok(Applied::Now));
        assert_eq!(effects(&db), 2);
    }

    #[test]
    fn a_refused_event_leaves_nothing_behind_and_can_come_again() {
        let db = db();
        let refused = apply_once(&db, "test", "e1", 1, |tx| {
            effect(tx)?;
            Err(not_yet("the ticket is not known yet"))
        });
        assert_eq!(refused.unwrap_err().status(), 503);
        assert_eq!(effects(&db), 0);
        assert_eq!(apply_once(&db, "test", "e1", 2, effect), Ok(Applied::Now));
        assert_eq!(effects(&db), 1);
    }

    #[test]
    fn answers_say_done_not_yet_or_never() {
        let done = answer("test", Ok(()));
        assert_eq!(*done.status(), 204);
        assert!(done.body().is_empty() && done.headers().next().is_none());
        assert_eq!(*answer("test", Err(not_yet("later"))).status(), 503);
        assert_eq!(*answer("test", Err(never("bad"))).status(), 400);
        let forged = ApiError::Forbidden("Event refused".into());
        assert_eq!(*answer("test", Err(forged)).status(), 403);
        // Knative retries these; ours would not: never, the same everywhere.
        for error in [ApiError::NoRoute, ApiError::NotFound] {
            assert_eq!(*answer("test", Err(error)).status(), 400);
        }
    }
}
