//! The sessions auth has issued, by user, so that a user can sign out everywhere: each
//! token's digest is kept with its user and expiry until it expires; signing out
//! everywhere revokes every one of them in the store every service checks.

use boxoffice_shared::session::{self, SessionConfig, SessionUser};
use boxoffice_shared::sql::Db;
use boxoffice_shared::ApiError;

/// The statement creating the table of issued sessions.
pub fn migration() -> String {
    "CREATE TABLE IF NOT EXISTS auth_sessions (\
        token_digest TEXT PRIMARY KEY, \
        user_id TEXT NOT NULL, \
        expires_at BIGINT NOT NULL)"
        .to_owned()
}

/// A new session for `user` at `now_ms`: its token, recorded as the user's (the user's
/// expired ones are forgotten on the way).
pub fn issue(
    db: &dyn Db,
    config: &SessionConfig,
    user: &SessionUser,
    now_ms: i64,
) -> Result<String, ApiError> {
    let token = config.issue(user, now_ms)?;
    let expires_at = now_ms / 1000 + i64::try_from(config.ttl_seconds()).unwrap_or(i64::MAX / 2);
    db.execute(
        "DELETE FROM auth_sessions WHERE user_id = $1 AND expires_at < $2",
        &[user.id.as_str().into(), (now_ms / 1000).into()],
    )?;
    db.execute(
        "INSERT INTO auth_sessions (token_digest, user_id, expires_at) VALUES ($1, $2, $3)",
        &[
            session::digest(&token).into(),
            user.id.as_str().into(),
            expires_at.into(),
        ],
    )?;
    Ok(token)
}

/// Revokes every live session of `user_id`, wherever its cookie is; how many there were.
pub fn revoke_all(
    db: &dyn Db,
    config: &SessionConfig,
    user_id: &str,
    now_ms: i64,
) -> Result<usize, ApiError> {
    let rows = db.query(
        "SELECT token_digest, expires_at FROM auth_sessions WHERE user_id = $1 AND expires_at >= $2",
        &[user_id.into(), (now_ms / 1000).into()],
    )?;
    for row in &rows {
        let expires_at = u64::try_from(row.int("expires_at")?).unwrap_or(0);
        config.revoke_digest(&row.text("token_digest")?, expires_at)?;
    }
    // Only once every one is revoked: a failure leaves them listed, to be revoked again.
    db.execute(
        "DELETE FROM auth_sessions WHERE user_id = $1",
        &[user_id.into()],
    )?;
    Ok(rows.len())
}
