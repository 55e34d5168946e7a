//! The rules of expiry: an order's job is scheduled once, and when due it is taken and
//! turned into `expiration:complete` in one transaction, so that it fires exactly once
//! even when two ticks overlap.

use boxoffice_shared::events::{Event, ExpirationComplete};
use boxoffice_shared::sql::{transaction, Db, SqlError};
use boxoffice_shared::{outbox, ApiError};

use crate::{storage, SERVICE};

/// How many due jobs one tick fires at most; the next tick fires the rest.
pub const BATCH: i64 = 200;

/// Schedules the expiry of order `order_id` at `expires_at_ms`, inside the event's
/// transaction `tx`; scheduling it again changes nothing.
pub fn schedule(tx: &dyn Db, order_id: &str, expires_at_ms: i64) -> Result<(), ApiError> {
    match storage::insert_job(tx, order_id, expires_at_ms) {
        Ok(()) | Err(SqlError::UniqueViolation(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Fires every job due at `now_ms`: each, in its own transaction, is deleted and its
/// `expiration:complete` queued. Returns how many fired.
pub fn run_due(db: &dyn Db, now_ms: i64) -> Result<usize, ApiError> {
    let mut fired = 0;
    for order_id in storage::due_jobs(db, now_ms, BATCH)? {
        let took = transaction(db, |tx| {
            if !storage::take_job(tx, &order_id)? {
                return Ok(false);
            }
            let event = Event::ExpirationComplete(ExpirationComplete {
                order_id: order_id.clone(),
            });
            outbox::enqueue(tx, SERVICE, &event, now_ms)?;
            Ok::<_, SqlError>(true)
        })?;
        fired += usize::from(took);
    }
    Ok(fired)
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_shared::sql::native::NativeSqlite;
    use boxoffice_shared::testing::migrate;

    fn db() -> NativeSqlite {
        let db = NativeSqlite::open_in_memory().unwrap();
        migrate(&db, &storage::migrations()).unwrap();
        db
    }

    fn published(db: &dyn Db) -> Vec<String> {
        db.query(
            "SELECT data FROM expiration_outbox ORDER BY created_at, seq",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.text("data").unwrap())
        .collect()
    }

    #[test]
    fn jobs_fire_once_when_due() {
        let db = db();
        schedule(&db, "o1", 1_000).unwrap();
        schedule(&db, "o1", 1_000).unwrap();
        schedule(&db, "o2", 2_000).unwrap();
        assert_eq!(run_due(&db, 999).unwrap(), 0);
        assert_eq!(run_due(&db, 1_000).unwrap(), 1);
        assert_eq!(published(&db), [r#"{"orderId":"o1"}"#]);
        assert_eq!(run_due(&db, 1_500).unwrap(), 0, "a fired job is gone");
        assert_eq!(run_due(&db, 5_000).unwrap(), 1);
        assert_eq!(published(&db).len(), 2);
        assert_eq!(run_due(&db, 9_000).unwrap(), 0);
    }
}
