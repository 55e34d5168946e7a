//! The `sql` check: the database the services use, chosen as they choose it (Spin's SQLite
//! `default` when `database_url` is empty, Postgres when it is a `postgres://` URL), opened
//! the way they open it and asked `SELECT 1`. Nothing is created or migrated.

use std::time::Duration;

use boxoffice_shared::sql::{self, SqlError};

use crate::report::{Check, Outcome};

/// The check's name in the body.
pub const NAME: &str = "sql";

/// The schema the Postgres connection names: none of the services' own, and never made.
const SCHEMA: &str = "health";

/// `database_url` with libpq's `connect_timeout` (whole seconds, at least one) unless it is
/// empty (SQLite) or sets one already: the hosts that connect with tokio-postgres (Spin,
/// `boxoffice up`) then give up on an unreachable server within the check's time.
pub fn with_connect_timeout(database_url: &str, timeout: Duration) -> String {
    let url = database_url.trim();
    if url.is_empty() || url.contains("connect_timeout=") {
        return url.to_owned();
    }
    let seconds = timeout.as_secs_f64().ceil().max(1.0) as u64;
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}connect_timeout={seconds}")
}

/// The short reason for a failure: the error's kind, never its text (a host's message may
/// quote what it was given).
pub fn reason(opening: bool, e: &SqlError) -> &'static str {
    match (opening, e) {
        (_, SqlError::Unavailable(_)) => "the database cannot be reached",
        (true, _) => "the database cannot be opened: check database_url and the grants",
        (false, _) => "the database refused the check",
    }
}

/// Opens the database `database_url` names and runs `SELECT 1`.
pub fn check(database_url: &str, timeout: Duration) -> Check {
    let url = with_connect_timeout(database_url, timeout);
    let outcome = match sql::open(&url, SCHEMA) {
        Err(e) => failed(true, &e),
        Ok(db) => match db.query("SELECT 1 AS ok", &[]) {
            Ok(_) => Outcome::Ok,
            Err(e) => failed(false, &e),
        },
    };
    Check {
        name: NAME,
        outcome,
    }
}

fn failed(opening: bool, e: &SqlError) -> Outcome {
    eprintln!("ready: the sql check failed: {e}");
    Outcome::failed(reason(opening, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_postgres_url_gets_a_connect_timeout_in_whole_seconds() {
        assert_eq!(
            with_connect_timeout("postgres://u:p@db:5432/shop", SECOND),
            "postgres://u:p@db:5432/shop?connect_timeout=1"
        );
        assert_eq!(
            with_connect_timeout(" postgres://db/shop?sslmode=disable ", SECOND),
            "postgres://db/shop?sslmode=disable&connect_timeout=1"
        );
        assert_eq!(
            with_connect_timeout("postgres://db/shop", Duration::from_millis(1500)),
            "postgres://db/shop?connect_timeout=2"
        );
        assert_eq!(
            with_connect_timeout("postgres://db/shop", Duration::from_millis(10)),
            "postgres://db/shop?connect_timeout=1",
            "libpq reads 0 as no timeout at all"
        );
    }

    #[test]
    fn sqlite_and_an_operators_own_timeout_are_left_alone() {
        assert_eq!(with_connect_timeout("", SECOND), "");
        assert_eq!(with_connect_timeout("  ", SECOND), "");
        assert_eq!(
            with_connect_timeout("postgres://db/shop?connect_timeout=5", SECOND),
            "postgres://db/shop?connect_timeout=5"
        );
    }

    #[test]
    fn a_reason_never_repeats_the_error_text() {
        let secret = "password authentication failed for postgres://app:hunter2@db/shop";
        for e in [
            SqlError::Unavailable(secret.into()),
            SqlError::Other(secret.into()),
            SqlError::Decode(secret.into()),
            SqlError::UniqueViolation(secret.into()),
        ] {
            for opening in [true, false] {
                let reason = reason(opening, &e);
                assert!(!reason.contains("hunter2"), "{reason}");
                assert!(!reason.contains("postgres://"), "{reason}");
            }
        }
        assert_eq!(
            reason(true, &SqlError::Unavailable(secret.into())),
            "the database cannot be reached"
        );
        assert_ne!(
            reason(true, &SqlError::Other(String::new())),
            reason(false, &SqlError::Other(String::new()))
        );
    }
}
