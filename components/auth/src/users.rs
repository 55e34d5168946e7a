//! The rules of sign-up and sign-in, on already validated input.

use std::net::IpAddr;

use boxoffice_shared::session::SessionUser;
use boxoffice_shared::sql::{Db, SqlError};
use boxoffice_shared::validate::email_key;
use boxoffice_shared::{ids, ApiError};

use crate::storage::{self, StoredUser};
use crate::{password, throttle};

/// Creates a user; 400 "Email in use" when the email (case-insensitively) is taken; 429
/// when `client` has made too many attempts ([`throttle`]).
pub fn sign_up(
    db: &dyn Db,
    email: &str,
    password: &str,
    client: Option<IpAddr>,
    now_ms: i64,
) -> Result<SessionUser, ApiError> {
    throttle::sign_up(db, client, now_ms)?;
    let user = StoredUser {
        id: ids::new_id(),
        email: email.to_owned(),
        password_hash: password::hash(password)?,
    };
    match storage::insert_user(db, &user, &email_key(email), now_ms) {
        Ok(()) => Ok(SessionUser {
            id: user.id,
            email: user.email,
        }),
        Err(SqlError::UniqueViolation(_)) => Err(ApiError::bad_request("Email in use")),
        Err(e) => Err(e.into()),
    }
}

/// Checks a user's credentials; unknown email and wrong password are the same 400
/// "Invalid credentials", after the same work (a password hash), so that neither the
/// answer nor its time tells whether an email has an account; too many attempts are a 429
/// ([`throttle`]).
pub fn sign_in(
    db: &dyn Db,
    email: &str,
    password: &str,
    client: Option<IpAddr>,
    now_ms: i64,
) -> Result<SessionUser, ApiError> {
    let key = email_key(email);
    throttle::sign_in(db, &key, client, now_ms)?;
    let user = storage::find_by_email_key(db, &key)?;
    let verified = match &user {
        Some(user) => password::verify(password, &user.password_hash)?,
        None => {
            // As long as a check, whose answer is no.
            password::hash(password)?;
            false
        }
    };
    match user {
        Some(user) if verified => {
            throttle::succeeded(db, &key, client)?;
            Ok(SessionUser {
                id: user.id,
                email: user.email,
            })
        }
        _ => Err(ApiError::bad_request("Invalid credentials")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_shared::sql::native::NativeSqlite;
    use boxoffice_shared::testing::migrate;

    const HOME: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 1)));

    fn db() -> NativeSqlite {
        let db = NativeSqlite::open_in_memory().unwrap();
        migrate(&db, &storage::migrations()).unwrap();
        db
    }

    #[test]
    fn emails_are_unique_whatever_their_case() {
        let db = db();
        let user = sign_up(&db, "Test@Test.com", "password", HOME, 0).unwrap();
        assert_eq!(user.email, "Test@Test.com");
        assert!(ids::is_well_formed(&user.id));
        let again = sign_up(&db, "test@test.COM", "password", HOME, 0).unwrap_err();
        assert_eq!(again, ApiError::bad_request("Email in use"));
    }

    #[test]
    fn sign_in_checks_the_password_and_hides_which_part_is_wrong() {
        let db = db();
        let user = sign_up(&db, "test@test.com", "password", HOME, 0).unwrap();
        assert_eq!(
            sign_in(&db, "TEST@test.com", "password", HOME, 0).unwrap(),
            user
        );
        let wrong = sign_in(&db, "test@test.com", "nope", HOME, 0).unwrap_err();
        let unknown = sign_in(&db, "who@test.com", "password", HOME, 0).unwrap_err();
        assert_eq!(wrong, ApiError::bad_request("Invalid credentials"));
        assert_eq!(unknown, wrong);
    }

    #[test]
    fn repeated_failures_are_throttled_for_the_guesser_not_the_owner() {
        let db = db();
        sign_up(&db, "test@test.com", "password", HOME, 0).unwrap();
        let guesser = Some("203.0.113.66".parse().unwrap());
        for _ in 0..throttle::PER_ACCOUNT_AND_ADDRESS {
            let guess = sign_in(&db, "test@test.com", "bad", guesser, 0);
            assert_eq!(guess.unwrap_err().status(), 400);
        }
        let refused = sign_in(&db, "test@test.com", "password", guesser, 0).unwrap_err();
        assert_eq!(refused.status(), 429);
        assert!(sign_in(&db, "test@test.com", "password", HOME, 0).is_ok());
        let later = throttle::WINDOW_MS;
        assert!(sign_in(&db, "test@test.com", "password", guesser, later).is_ok());
    }
}
