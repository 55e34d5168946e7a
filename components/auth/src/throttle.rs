//! Throttling of sign-ins and sign-ups, so that password guessing stays slow and cannot be
//! turned against an account's owner.
//!
//! Every attempt takes its place in the counters before the password is hashed or
//! checked, with one atomic statement per counter (an upsert that counts and reads back in
//! one step), so a hundred parallel guesses are a hundred counts, not ten. The counters,
//! per [`WINDOW_MS`] from their first attempt:
//! - one email from one client address: [`PER_ACCOUNT_AND_ADDRESS`] sign-ins, then 429
//!   until the window is over (a success starts the count again). Keyed by the address
//!   too, so a guesser elsewhere cannot lock the owner out: their own address is another
//!   count;
//! - one client address: [`PER_ADDRESS`] sign-ins and sign-ups together (a bot trying
//!   many accounts, or making many: each sign-up is a password hash).
//!
//! The client address is the one the host saw, or, through the pages and GraphQL, the one
//! they act for ([`boxoffice_shared::ApiRequest::client_address`]).

use std::net::IpAddr;

use boxoffice_shared::sql::Db;
use boxoffice_shared::ApiError;

/// Sign-ins of one email from one address within a window.
pub const PER_ACCOUNT_AND_ADDRESS: i64 = 10;
/// Sign-ins and sign-ups from one address within a window.
pub const PER_ADDRESS: i64 = 100;
/// The window, from a counter's first attempt: 15 minutes.
pub const WINDOW_MS: i64 = 15 * 60 * 1000;

/// The table of counters.
pub fn migration() -> String {
    "CREATE TABLE IF NOT EXISTS auth_attempts (\
        key TEXT PRIMARY KEY, \
        count BIGINT NOT NULL, \
        since BIGINT NOT NULL)"
        .to_owned()
}

fn address(client: Option<IpAddr>) -> String {
    client.map_or_else(|| "unknown".to_owned(), |a| a.to_string())
}

fn account_key(email_key: &str, client: Option<IpAddr>) -> String {
    format!("account:{email_key}|{}", address(client))
}

/// Counts one attempt under `key`; 429 when it is over `limit` in its window.
fn take(db: &dyn Db, key: &str, limit: i64, now_ms: i64) -> Result<(), ApiError> {
    let rows = db.query(
        "INSERT INTO auth_attempts (key, count, since) VALUES ($1, 1, $2) \
         ON CONFLICT (key) DO UPDATE SET \
         count = CASE WHEN auth_attempts.since <= $3 THEN 1 ELSE auth_attempts.count + 1 END, \
         since = CASE WHEN auth_attempts.since <= $3 THEN $2 ELSE auth_attempts.since END \
         RETURNING count, since",
        &[key.into(), now_ms.into(), (now_ms - WINDOW_MS).into()],
    )?;
    let row = rows
        .first()
        .ok_or_else(|| ApiError::internal("the attempt counter answered no row"))?;
    let (count, since) = (row.int("count")?, row.int("since")?);
    if count > limit {
        let minutes = ((since + WINDOW_MS - now_ms).max(0) + 59_999) / 60_000;
        return Err(ApiError::TooManyRequests(format!(
            "Too many attempts; try again in {minutes} minute{}",
            if minutes == 1 { "" } else { "s" }
        )));
    }
    Ok(())
}

/// Takes the places of a sign-in of `email_key` from `client`, before its password is
/// checked.
pub fn sign_in(
    db: &dyn Db,
    email_key: &str,
    client: Option<IpAddr>,
    now_ms: i64,
) -> Result<(), ApiError> {
    take(
        db,
        &format!("address:{}", address(client)),
        PER_ADDRESS,
        now_ms,
    )?;
    take(
        db,
        &account_key(email_key, client),
        PER_ACCOUNT_AND_ADDRESS,
        now_ms,
    )
}

/// Takes the place of a sign-up from `client`, before its password is hashed.
pub fn sign_up(db: &dyn Db, client: Option<IpAddr>, now_ms: i64) -> Result<(), ApiError> {
    take(
        db,
        &format!("address:{}", address(client)),
        PER_ADDRESS,
        now_ms,
    )
}

/// Starts the count of `email_key` from `client` again after a successful sign-in.
pub fn succeeded(db: &dyn Db, email_key: &str, client: Option<IpAddr>) -> Result<(), ApiError> {
    db.execute(
        "DELETE FROM auth_attempts WHERE key = $1",
        &[account_key(email_key, client).into()],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_shared::sql::native::NativeSqlite;

    fn db() -> NativeSqlite {
        let db = NativeSqlite::open_in_memory().unwrap();
        db.execute(&migration(), &[]).unwrap();
        db
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn the_eleventh_sign_in_of_an_account_from_one_address_waits_out_the_window() {
        let db = db();
        for _ in 0..PER_ACCOUNT_AND_ADDRESS {
            sign_in(&db, "a@b.c", ip("198.51.100.1"), 0).unwrap();
        }
        let refused = sign_in(&db, "a@b.c", ip("198.51.100.1"), 1_000).unwrap_err();
        assert_eq!(
            refused,
            ApiError::TooManyRequests("Too many attempts; try again in 15 minutes".into())
        );
        // The owner, elsewhere, is not locked out; nor is another account.
        sign_in(&db, "a@b.c", ip("203.0.113.7"), 1_000).unwrap();
        sign_in(&db, "other@b.c", ip("198.51.100.1"), 1_000).unwrap();
        // The window passes.
        sign_in(&db, "a@b.c", ip("198.51.100.1"), WINDOW_MS).unwrap();
    }

    #[test]
    fn a_success_starts_the_count_again() {
        let db = db();
        for _ in 0..PER_ACCOUNT_AND_ADDRESS {
            sign_in(&db, "a@b.c", ip("198.51.100.1"), 0).unwrap();
        }
        succeeded(&db, "a@b.c", ip("198.51.100.1")).unwrap();
        sign_in(&db, "a@b.c", ip("198.51.100.1"), 0).unwrap();
    }

    #[test]
    fn one_address_makes_at_most_a_hundred_attempts_whatever_the_accounts() {
        let db = db();
        for n in 0..PER_ADDRESS {
            if n % 2 == 0 {
                sign_up(&db, ip("198.51.100.1"), 0).unwrap();
            } else {
                sign_in(&db, &format!("u{n}@b.c"), ip("198.51.100.1"), 0).unwrap();
            }
        }
        assert_eq!(
            sign_up(&db, ip("198.51.100.1"), 0).unwrap_err().status(),
            429
        );
        assert_eq!(
            sign_in(&db, "new@b.c", ip("198.51.100.1"), 0)
                .unwrap_err()
                .status(),
            429
        );
        sign_up(&db, ip("198.51.100.2"), 0).unwrap();
        sign_up(&db, None, 0).unwrap();
    }
}
