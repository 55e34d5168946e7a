//! The tickets table, the reservations orders have made, and the outbox and
//! processed-event ids that carry the tickets' events in and out.
//!
//! Money is integer cents, times unix milliseconds. `order_id` is set while an order
//! reserves the ticket; `version` goes up by exactly 1 on every change. A reservation row
//! per order remembers that its `order:created` was applied (and `released_at` that its
//! `order:cancelled` was), so that a cancellation arriving before the creation waits.

use boxoffice_shared::consume;
use boxoffice_shared::money::Price;
use boxoffice_shared::outbox;
use boxoffice_shared::sql::{Db, Row, SqlError};

use crate::model::Ticket;
use crate::SERVICE;

/// The statements creating the tickets service's tables.
pub fn migrations() -> Vec<String> {
    vec![
        "CREATE TABLE IF NOT EXISTS tickets_tickets (\
            id TEXT PRIMARY KEY, \
            title TEXT NOT NULL, \
            price_cents BIGINT NOT NULL, \
            user_id TEXT NOT NULL, \
            version BIGINT NOT NULL, \
            order_id TEXT, \
            created_at BIGINT NOT NULL, \
            updated_at BIGINT NOT NULL)"
            .to_owned(),
        "CREATE TABLE IF NOT EXISTS tickets_reservations (\
            order_id TEXT PRIMARY KEY, \
            ticket_id TEXT NOT NULL, \
            reserved_at BIGINT NOT NULL, \
            released_at BIGINT)"
            .to_owned(),
        // The listing reads the tickets on sale in order from here: its cost follows what
        // is on sale, not every ticket ever sold.
        "CREATE INDEX IF NOT EXISTS tickets_for_sale ON tickets_tickets (created_at, id) \
            WHERE order_id IS NULL"
            .to_owned(),
        consume::create_processed_table(SERVICE),
    ]
    .into_iter()
    .chain(outbox::migrations(SERVICE))
    .collect()
}

const COLUMNS: &str = "id, title, price_cents, user_id, version, order_id";

fn ticket(row: &Row) -> Result<Ticket, SqlError> {
    Ok(Ticket {
        id: row.text("id")?,
        title: row.text("title")?,
        price: Price::from_cents(row.int("price_cents")?),
        user_id: row.text("user_id")?,
        version: row.int("version")?,
        order_id: row.opt_text("order_id")?,
    })
}

/// Inserts a new ticket.
pub fn insert(db: &dyn Db, ticket: &Ticket, now_ms: i64) -> Result<(), SqlError> {
    db.execute(
        "INSERT INTO tickets_tickets \
         (id, title, price_cents, user_id, version, order_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        &[
            (&ticket.id).into(),
            (&ticket.title).into(),
            ticket.price.cents().into(),
            (&ticket.user_id).into(),
            ticket.version.into(),
            ticket.order_id.as_deref().into(),
            now_ms.into(),
        ],
    )?;
    Ok(())
}

/// The ticket `id`, if any.
pub fn find(db: &dyn Db, id: &str) -> Result<Option<Ticket>, SqlError> {
    db.query(
        &format!("SELECT {COLUMNS} FROM tickets_tickets WHERE id = $1"),
        &[id.into()],
    )?
    .first()
    .map(ticket)
    .transpose()
}

fn unreserved_query() -> String {
    format!("SELECT {COLUMNS} FROM tickets_tickets WHERE order_id IS NULL ORDER BY created_at, id")
}

/// The tickets of `ids` that exist, reserved or not, in no particular order.
pub fn find_many(db: &dyn Db, ids: &[String]) -> Result<Vec<Ticket>, SqlError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|n| format!("${n}")).collect();
    let params: Vec<_> = ids.iter().map(Into::into).collect();
    db.query(
        &format!(
            "SELECT {COLUMNS} FROM tickets_tickets WHERE id IN ({})",
            placeholders.join(", ")
        ),
        &params,
    )?
    .iter()
    .map(ticket)
    .collect()
}

/// The tickets that no order holds, oldest first.
pub fn list_unreserved(db: &dyn Db, limit: i64, offset: i64) -> Result<Vec<Ticket>, SqlError> {
    db.query(
        &format!("{} LIMIT $1 OFFSET $2", unreserved_query()),
        &[limit.into(), offset.into()],
    )?
    .iter()
    .map(ticket)
    .collect()
}

/// How many tickets no order holds.
pub fn count_unreserved(db: &dyn Db) -> Result<i64, SqlError> {
    db.query(
        "SELECT COUNT(*) AS n FROM tickets_tickets WHERE order_id IS NULL",
        &[],
    )?
    .first()
    .map_or(Ok(0), |row| row.int("n"))
}

/// Stores `ticket` (whose version is already the new one) if the stored version is
/// still the one before; false if someone else changed it first.
pub fn save_next_version(db: &dyn Db, ticket: &Ticket, now_ms: i64) -> Result<bool, SqlError> {
    let changed = db.execute(
        "UPDATE tickets_tickets \
         SET title = $1, price_cents = $2, order_id = $3, version = $4, updated_at = $5 \
         WHERE id = $6 AND version = $7",
        &[
            (&ticket.title).into(),
            ticket.price.cents().into(),
            ticket.order_id.as_deref().into(),
            ticket.version.into(),
            now_ms.into(),
            (&ticket.id).into(),
            (ticket.version - 1).into(),
        ],
    )?;
    Ok(changed == 1)
}

/// A reservation an order made: its ticket and whether it was released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The reserved ticket.
    pub ticket_id: String,
    /// Whether the order's cancellation was applied.
    pub released: bool,
}

/// The reservation of order `order_id`, if its `order:created` was applied.
pub fn find_reservation(db: &dyn Db, order_id: &str) -> Result<Option<Reservation>, SqlError> {
    db.query(
        "SELECT ticket_id, released_at FROM tickets_reservations WHERE order_id = $1",
        &[order_id.into()],
    )?
    .first()
    .map(|row| {
        Ok(Reservation {
            ticket_id: row.text("ticket_id")?,
            released: row.opt_int("released_at")?.is_some(),
        })
    })
    .transpose()
}

/// Records that order `order_id` reserved ticket `ticket_id`.
pub fn insert_reservation(
    db: &dyn Db,
    order_id: &str,
    ticket_id: &str,
    now_ms: i64,
) -> Result<(), SqlError> {
    db.execute(
        "INSERT INTO tickets_reservations (order_id, ticket_id, reserved_at, released_at) \
         VALUES ($1, $2, $3, NULL)",
        &[order_id.into(), ticket_id.into(), now_ms.into()],
    )?;
    Ok(())
}

/// Records that order `order_id` released its ticket.
pub fn mark_released(db: &dyn Db, order_id: &str, now_ms: i64) -> Result<(), SqlError> {
    db.execute(
        "UPDATE tickets_reservations SET released_at = $1 WHERE order_id = $2",
        &[now_ms.into(), order_id.into()],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_shared::sql::native::NativeSqlite;
    use boxoffice_shared::testing::migrate;

    #[test]
    fn the_listing_reads_the_index_of_tickets_on_sale() {
        let db = NativeSqlite::open_in_memory().unwrap();
        migrate(&db, &migrations()).unwrap();
        boxoffice_shared::testing::assert_reads_index(
            &db,
            &unreserved_query(),
            &[],
            "tickets_for_sale",
        );
    }
}
