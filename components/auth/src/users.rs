//! The rules of sign-up and sign-in, on already validated input.

use boxoffice_shared::kv::KeyValue;
use boxoffice_shared::session::SessionUser;
use boxoffice_shared::sql::{Db, SqlError};
use boxoffice_shared::validate::email_key;
use boxoffice_shared::{ids, ApiError};

use crate::storage::{self, StoredUser};
use crate::{password, throttle};

/// Creates a user; 400 "Email in use" when the email (case-insensitively) is taken.
pub fn sign_up(
    db: &dyn Db,
    email: &str,
    password: &str,
    now_ms: i64,
) -> Result<SessionUser, ApiError> {
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
/// "Invalid credentials", and too many failures for one email are a 429.
pub fn sign_in(
    db: &dyn Db,
    kv: &dyn KeyValue,
    email: &str,
    password: &str,
    now_ms: i64,
) -> Result<SessionUser, ApiError> {
    let key = email_key(email);
    throttle::check(kv, &key, now_ms)?;
    let user = storage::find_by_email_key(db, &key)?;
    match user {
        Some(user) if password::verify(password, &user.password_hash)? => {
            throttle::clear(kv, &key)?;
            Ok(SessionUser {
                id: user.id,
                email: user.email,
            })
        }
        _ => {
            throttle::record_failure(kv, &key, now_ms)?;
            Err(ApiError::bad_request("Invalid credentials"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_shared::kv::MemoryKv;
    use boxoffice_shared::sql::native::NativeSqlite;
    use boxoffice_shared::testing::migrate;

    fn db() -> NativeSqlite {
        let db = NativeSqlite::open_in_memory().unwrap();
        migrate(&db, &storage::migrations()).unwrap();
        db
    }

    #[test]
    fn emails_are_unique_whatever_their_case() {
        let db = db();
        let user = sign_up(&db, "Test@Test.com", "password", 0).unwrap();
        assert_eq!(user.email, "Test@Test.com");
        assert!(ids::is_well_formed(&user.id));
        let again = sign_up(&db, "test@test.COM", "password", 0).unwrap_err();
        assert_eq!(again, ApiError::bad_request("Email in use"));
    }

    #[test]
    fn sign_in_checks_the_password_and_hides_which_part_is_wrong() {
        let (db, kv) = (db(), MemoryKv::default());
        let user = sign_up(&db, "test@test.com", "password", 0).unwrap();
        assert_eq!(
            sign_in(&db, &kv, "TEST@test.com", "password", 0).unwrap(),
            user
        );
        let wrong = sign_in(&db, &kv, "test@test.com", "nope", 0).unwrap_err();
        let unknown = sign_in(&db, &kv, "who@test.com", "password", 0).unwrap_err();
        assert_eq!(wrong, ApiError::bad_request("Invalid credentials"));
        assert_eq!(unknown, wrong);
    }

    #[test]
    fn repeated_failures_are_throttled() {
        let (db, kv) = (db(), MemoryKv::default());
        sign_up(&db, "test@test.com", "password", 0).unwrap();
        for _ in 0..throttle::MAX_FAILURES {
            assert_eq!(
                sign_in(&db, &kv, "test@test.com", "bad", 0)
                    .unwrap_err()
                    .status(),
                400
            );
        }
        let refused = sign_in(&db, &kv, "test@test.com", "password", 0).unwrap_err();
        assert_eq!(refused.status(), 429);
        assert!(sign_in(&db, &kv, "test@test.com", "password", throttle::WINDOW_MS).is_ok());
    }
}
