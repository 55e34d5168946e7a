//! Fair sharing of what can be reserved: a cap on the live reservations one buyer holds
//! at a time (ticket orders at orders, the cart's purchases at cart), so that a script with
//! a free account cannot hold the whole shop by re-reserving everything each window.
//!
//! A reservation is live while its status is `created` (or `awaiting:payment`) and its
//! window has not lapsed. Concurrent reservations of one buyer are serialized on the
//! buyer's row in `<service>_buyers` (the upsert takes its lock in Postgres; SQLite runs
//! one writer at a time), so a burst of parallel requests cannot pass the cap together.

use crate::sql::{Db, SqlError};
use crate::ApiError;

/// The cap when `max_live_reservations` is unset.
pub const DEFAULT_MAX_LIVE: u64 = 10;

/// The variable that sets the cap.
pub const VARIABLE: &str = "max_live_reservations";

/// The statement creating `service`'s table of buyers.
pub fn create_buyers_table(service: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {service}_buyers (\
            user_id TEXT PRIMARY KEY, \
            touched_at BIGINT NOT NULL)"
    )
}

/// The refusal of a reservation over the cap.
pub fn over_cap(max_live: i64) -> ApiError {
    ApiError::bad_request(format!(
        "You already hold {max_live} reservations; pay for or cancel one first"
    ))
}

/// Admits one more reservation of `user_id` in `service`'s transaction `tx`, whose live
/// reservations are the rows of `table` (columns `user_id`, `status`, `expires_at`):
/// [`over_cap`] when the buyer holds `max_live` at `now_ms` already.
pub fn admit(
    tx: &dyn Db,
    service: &str,
    table: &str,
    user_id: &str,
    max_live: i64,
    now_ms: i64,
) -> Result<(), ApiError> {
    tx.execute(
        &format!(
            "INSERT INTO {service}_buyers (user_id, touched_at) VALUES ($1, $2) \
             ON CONFLICT (user_id) DO UPDATE SET touched_at = $2"
        ),
        &[user_id.into(), now_ms.into()],
    )?;
    if live(tx, table, user_id, now_ms)? >= max_live {
        return Err(over_cap(max_live));
    }
    Ok(())
}

/// How many live reservations `user_id` holds in `table` at `now_ms`.
pub fn live(tx: &dyn Db, table: &str, user_id: &str, now_ms: i64) -> Result<i64, SqlError> {
    let rows = tx.query(
        &format!(
            "SELECT COUNT(*) AS n FROM {table} WHERE user_id = $1 \
             AND status IN ('created', 'awaiting:payment') AND expires_at > $2"
        ),
        &[user_id.into(), now_ms.into()],
    )?;
    rows.first().map_or(Ok(0), |row| row.int("n"))
}

/// How long a reservation holds what it reserves when `reservation_window_seconds` is
/// unset.
pub const DEFAULT_WINDOW_SECONDS: u64 = 900;

/// The terms of reserving: how long a reservation holds, and how many one buyer may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    /// How long a new reservation holds, milliseconds.
    pub window_ms: i64,
    /// How many live reservations one buyer may hold (at least 1).
    pub max_live: i64,
}

impl Terms {
    /// The terms set by `reservation_window_seconds` and `max_live_reservations`.
    pub fn from_variables() -> Result<Terms, ApiError> {
        let seconds = crate::config::number("reservation_window_seconds", DEFAULT_WINDOW_SECONDS)?;
        let max = crate::config::number(VARIABLE, DEFAULT_MAX_LIVE)?.max(1);
        Ok(Terms {
            window_ms: i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX / 2),
            max_live: i64::try_from(max).unwrap_or(i64::MAX),
        })
    }
}

#[cfg(all(test, feature = "native-sqlite"))]
mod tests {
    use super::*;
    use crate::sql::native::NativeSqlite;

    #[test]
    fn a_buyer_holds_at_most_the_cap_of_live_reservations() {
        let db = NativeSqlite::open_in_memory().unwrap();
        db.execute(&create_buyers_table("t"), &[]).unwrap();
        db.execute(
            "CREATE TABLE t_holds (user_id TEXT, status TEXT, expires_at BIGINT)",
            &[],
        )
        .unwrap();
        let hold = |user: &str, status: &str, expires_at: i64| {
            db.execute(
                "INSERT INTO t_holds VALUES ($1, $2, $3)",
                &[user.into(), status.into(), expires_at.into()],
            )
            .unwrap();
        };
        hold("ada", "created", 2_000);
        hold("ada", "awaiting:payment", 2_000);
        hold("ada", "created", 500); // lapsed at 1 000
        hold("ada", "cancelled", 2_000);
        hold("ada", "complete", 2_000);
        hold("bob", "created", 2_000);
        assert_eq!(live(&db, "t_holds", "ada", 1_000).unwrap(), 2);
        assert_eq!(admit(&db, "t", "t_holds", "ada", 3, 1_000), Ok(()));
        assert_eq!(
            admit(&db, "t", "t_holds", "ada", 2, 1_000),
            Err(over_cap(2))
        );
        assert_eq!(admit(&db, "t", "t_holds", "bob", 2, 1_000), Ok(()));
        assert_eq!(
            over_cap(2).to_string(),
            "You already hold 2 reservations; pay for or cancel one first"
        );
    }
}
