//! The users table. Uniqueness of emails is the database's job: `email_key` (trimmed,
//! lower-cased) is UNIQUE, so two simultaneous sign-ups cannot both win.

use boxoffice_shared::sql::{Db, SqlError};

/// The statements creating the auth service's tables.
pub fn migrations() -> Vec<String> {
    vec![
        "CREATE TABLE IF NOT EXISTS auth_users (\
            id TEXT PRIMARY KEY, \
            email TEXT NOT NULL, \
            email_key TEXT NOT NULL UNIQUE, \
            password_hash TEXT NOT NULL, \
            created_at BIGINT NOT NULL)"
            .to_owned(),
        crate::throttle::migration(),
        crate::sessions::migration(),
    ]
}

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUser {
    /// Id.
    pub id: String,
    /// Email as the user typed it (trimmed).
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
}

/// Inserts a user; a taken `email_key` is a [`SqlError::UniqueViolation`].
pub fn insert_user(
    db: &dyn Db,
    user: &StoredUser,
    email_key: &str,
    now_ms: i64,
) -> Result<(), SqlError> {
    db.execute(
        "INSERT INTO auth_users (id, email, email_key, password_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
        &[
            (&user.id).into(),
            (&user.email).into(),
            email_key.into(),
            (&user.password_hash).into(),
            now_ms.into(),
        ],
    )?;
    Ok(())
}

/// The user whose `email_key` is `email_key`, if any.
pub fn find_by_email_key(db: &dyn Db, email_key: &str) -> Result<Option<StoredUser>, SqlError> {
    let rows = db.query(
        "SELECT id, email, password_hash FROM auth_users WHERE email_key = $1",
        &[email_key.into()],
    )?;
    rows.first()
        .map(|row| {
            Ok(StoredUser {
                id: row.text("id")?,
                email: row.text("email")?,
                password_hash: row.text("password_hash")?,
            })
        })
        .transpose()
}
