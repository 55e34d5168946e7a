//! The expiration service's tables: one job per order still to expire (its order id and
//! when, unix milliseconds), and the outbox and processed-event ids.

use boxoffice_shared::sql::{Db, SqlError};
use boxoffice_shared::{consume, outbox};

use crate::SERVICE;

/// The statements creating the expiration service's tables.
pub fn migrations() -> Vec<String> {
    vec![
        "CREATE TABLE IF NOT EXISTS expiration_jobs (\
            order_id TEXT PRIMARY KEY, \
            expires_at BIGINT NOT NULL)"
            .to_owned(),
        "CREATE INDEX IF NOT EXISTS expiration_jobs_by_time ON expiration_jobs (expires_at)"
            .to_owned(),
        consume::create_processed_table(SERVICE),
    ]
    .into_iter()
    .chain(outbox::migrations(SERVICE))
    .collect()
}

/// Adds the job of order `order_id`; a [`SqlError::UniqueViolation`] if it exists.
pub fn insert_job(db: &dyn Db, order_id: &str, expires_at_ms: i64) -> Result<(), SqlError> {
    db.execute(
        "INSERT INTO expiration_jobs (order_id, expires_at) VALUES ($1, $2)",
        &[order_id.into(), expires_at_ms.into()],
    )?;
    Ok(())
}

/// The orders whose job is due at `now_ms`, earliest first, at most `limit`.
pub fn due_jobs(db: &dyn Db, now_ms: i64, limit: i64) -> Result<Vec<String>, SqlError> {
    db.query(
        "SELECT order_id FROM expiration_jobs WHERE expires_at <= $1 \
         ORDER BY expires_at, order_id LIMIT $2",
        &[now_ms.into(), limit.into()],
    )?
    .iter()
    .map(|row| row.text("order_id"))
    .collect()
}

/// Deletes the job of order `order_id`; false if another run took it first.
pub fn take_job(db: &dyn Db, order_id: &str) -> Result<bool, SqlError> {
    Ok(db.execute(
        "DELETE FROM expiration_jobs WHERE order_id = $1",
        &[order_id.into()],
    )? == 1)
}
