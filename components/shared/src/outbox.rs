//! The transactional outbox: an event is written to `<service>_outbox` in the same
//! transaction as the change it announces, so nothing committed is lost and nothing
//! uncommitted is published. A relay (not here yet) POSTs unsent rows to the broker in
//! `ORDER BY created_at, seq` order (per entity, `entity_version` orders them too) and
//! sets `sent_at`.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::events::Event;
use crate::ids;
use crate::sql::{Db, SqlError, Value};

/// Orders the rows written within one millisecond; Wasm instances live one request, so
/// this counts the events of one request.
static SEQUENCE: AtomicI64 = AtomicI64::new(0);

/// The outbox table of `service`.
pub fn table(service: &str) -> String {
    format!("{service}_outbox")
}

/// The `CREATE TABLE IF NOT EXISTS` of `service`'s outbox, for its migrations.
pub fn create_table(service: &str) -> String {
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
    Ok(event_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Event, ExpirationComplete};
    use crate::sql::migrate;
    use crate::sql::native::NativeSqlite;

    #[test]
    fn events_are_written_unsent_in_order() {
        let db = NativeSqlite::open_in_memory().unwrap();
        migrate(&db, &[&create_table("test")]).unwrap();
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
}
