//! The ratings service's tables: the buyers of each product (learnt from
//! `purchase:completed`), one vote per buyer and product, and the processed-event ids.
//!
//! Both tables are keyed on `(user_id, sku)`, so learning a buyer twice and voting again
//! are each one row, whatever the concurrency. Times are unix milliseconds.

use boxoffice_shared::consume;
use boxoffice_shared::sql::{Db, Row, SqlError, Value};

use crate::SERVICE;

/// The statements creating the ratings service's tables.
pub fn migrations() -> Vec<String> {
    vec![
        "CREATE TABLE IF NOT EXISTS ratings_buyers (\
            user_id TEXT NOT NULL, \
            sku TEXT NOT NULL, \
            PRIMARY KEY (user_id, sku))"
            .to_owned(),
        "CREATE TABLE IF NOT EXISTS ratings_votes (\
            user_id TEXT NOT NULL, \
            sku TEXT NOT NULL, \
            stars BIGINT NOT NULL, \
            updated_at BIGINT NOT NULL, \
            PRIMARY KEY (user_id, sku))"
            .to_owned(),
        "CREATE INDEX IF NOT EXISTS ratings_votes_by_sku ON ratings_votes (sku, stars)".to_owned(),
        consume::create_processed_table(SERVICE),
    ]
}

/// Records that `user_id` bought `sku`; nothing when it is known already.
pub fn add_buyer(db: &dyn Db, user_id: &str, sku: &str) -> Result<(), SqlError> {
    db.execute(
        "INSERT INTO ratings_buyers (user_id, sku) VALUES ($1, $2) \
         ON CONFLICT (user_id, sku) DO NOTHING",
        &[user_id.into(), sku.into()],
    )?;
    Ok(())
}

/// Whether `user_id` bought `sku`.
pub fn is_buyer(db: &dyn Db, user_id: &str, sku: &str) -> Result<bool, SqlError> {
    let rows = db.query(
        "SELECT sku FROM ratings_buyers WHERE user_id = $1 AND sku = $2",
        &[user_id.into(), sku.into()],
    )?;
    Ok(!rows.is_empty())
}

/// Stores `user_id`'s vote of `stars` for `sku`, replacing an earlier one.
pub fn save_vote(
    db: &dyn Db,
    user_id: &str,
    sku: &str,
    stars: i64,
    now_ms: i64,
) -> Result<(), SqlError> {
    db.execute(
        "INSERT INTO ratings_votes (user_id, sku, stars, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id, sku) DO UPDATE \
         SET stars = excluded.stars, updated_at = excluded.updated_at",
        &[user_id.into(), sku.into(), stars.into(), now_ms.into()],
    )?;
    Ok(())
}

/// `user_id`'s stars for `sku`, if they voted.
pub fn vote_of(db: &dyn Db, user_id: &str, sku: &str) -> Result<Option<i64>, SqlError> {
    db.query(
        "SELECT stars FROM ratings_votes WHERE user_id = $1 AND sku = $2",
        &[user_id.into(), sku.into()],
    )?
    .first()
    .map(|row| row.int("stars"))
    .transpose()
}

/// The votes of one product: how many, and their sum of stars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// How many votes.
    pub votes: i64,
    /// Their stars, added up.
    pub stars: i64,
}

fn tally(row: &Row) -> Result<Tally, SqlError> {
    Ok(Tally {
        votes: row.int("votes")?,
        stars: row.int("stars")?,
    })
}

/// The tally of `sku`'s votes (none: zero votes).
pub fn tally_of(db: &dyn Db, sku: &str) -> Result<Tally, SqlError> {
    // SUM of a BIGINT is a NUMERIC on Postgres: cast back so both engines answer an integer.
    db.query(
        "SELECT COUNT(*) AS votes, CAST(COALESCE(SUM(stars), 0) AS BIGINT) AS stars \
         FROM ratings_votes WHERE sku = $1",
        &[sku.into()],
    )?
    .first()
    .map_or(Ok(Tally::default()), tally)
}

/// The tallies of the products of `skus` that have votes, by sku.
pub fn tallies_of(db: &dyn Db, skus: &[String]) -> Result<Vec<(String, Tally)>, SqlError> {
    if skus.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=skus.len()).map(|n| format!("${n}")).collect();
    let params: Vec<Value> = skus.iter().map(Value::from).collect();
    db.query(
        &format!(
            "SELECT sku, COUNT(*) AS votes, CAST(SUM(stars) AS BIGINT) AS stars \
             FROM ratings_votes WHERE sku IN ({}) GROUP BY sku",
            placeholders.join(", ")
        ),
        &params,
    )?
    .iter()
    .map(|row| Ok((row.text("sku")?, tally(row)?)))
    .collect()
}
