//! The orders service's tables: its replica of tickets, the orders, the live-ticket
//! claims that let exactly one live order hold a ticket, and the outbox and
//! processed-event ids that carry its events out and in.
//!
//! Money is integer cents, times unix milliseconds. `orders_live_tickets` has one row per
//! ticket held by an order that is created, awaiting payment or complete: its primary key
//! is what refuses a second order for a ticket, whatever the concurrency. A cancellation
//! deletes the row.

use boxoffice_shared::events::OrderStatus;
use boxoffice_shared::holds;
use boxoffice_shared::money::Price;
use boxoffice_shared::sql::{Db, Row, SqlError};
use boxoffice_shared::{consume, outbox};

use crate::model::{Order, Ticket};
use crate::SERVICE;

/// The statements creating the orders service's tables.
pub fn migrations() -> Vec<String> {
    vec![
        "CREATE TABLE IF NOT EXISTS orders_tickets (\
            id TEXT PRIMARY KEY, \
            title TEXT NOT NULL, \
            price_cents BIGINT NOT NULL, \
            version BIGINT NOT NULL)"
            .to_owned(),
        "CREATE TABLE IF NOT EXISTS orders_orders (\
            id TEXT PRIMARY KEY, \
            user_id TEXT NOT NULL, \
            ticket_id TEXT NOT NULL, \
            status TEXT NOT NULL, \
            expires_at BIGINT NOT NULL, \
            version BIGINT NOT NULL, \
            created_at BIGINT NOT NULL, \
            updated_at BIGINT NOT NULL)"
            .to_owned(),
        "CREATE INDEX IF NOT EXISTS orders_orders_by_user ON orders_orders (user_id, created_at)"
            .to_owned(),
        "CREATE TABLE IF NOT EXISTS orders_live_tickets (\
            ticket_id TEXT PRIMARY KEY, \
            order_id TEXT NOT NULL)"
            .to_owned(),
        consume::create_processed_table(SERVICE),
        holds::create_buyers_table(SERVICE),
    ]
    .into_iter()
    .chain(outbox::migrations(SERVICE))
    .collect()
}

fn ticket(row: &Row, prefix: &str) -> Result<Ticket, SqlError> {
    Ok(Ticket {
        id: row.text(&format!("{prefix}id"))?,
        title: row.text(&format!("{prefix}title"))?,
        price: Price::from_cents(row.int(&format!("{prefix}price_cents"))?),
        version: row.int(&format!("{prefix}version"))?,
    })
}

/// The replica of ticket `id`, if known.
pub fn find_ticket(db: &dyn Db, id: &str) -> Result<Option<Ticket>, SqlError> {
    db.query(
        "SELECT id, title, price_cents, version FROM orders_tickets WHERE id = $1",
        &[id.into()],
    )?
    .first()
    .map(|row| ticket(row, ""))
    .transpose()
}

/// Adds a ticket to the replica.
pub fn insert_ticket(db: &dyn Db, ticket: &Ticket) -> Result<(), SqlError> {
    db.execute(
        "INSERT INTO orders_tickets (id, title, price_cents, version) VALUES ($1, $2, $3, $4)",
        &[
            (&ticket.id).into(),
            (&ticket.title).into(),
            ticket.price.cents().into(),
            ticket.version.into(),
        ],
    )?;
    Ok(())
}

/// Stores the next version of a replicated ticket if the replica is still at the one
/// before; false otherwise.
pub fn update_ticket(db: &dyn Db, ticket: &Ticket) -> Result<bool, SqlError> {
    let changed = db.execute(
        "UPDATE orders_tickets SET title = $1, price_cents = $2, version = $3 \
         WHERE id = $4 AND version = $5",
        &[
            (&ticket.title).into(),
            ticket.price.cents().into(),
            ticket.version.into(),
            (&ticket.id).into(),
            (ticket.version - 1).into(),
        ],
    )?;
    Ok(changed == 1)
}

/// Claims ticket `ticket_id` for order `order_id`; a [`SqlError::UniqueViolation`] when
/// a live order holds it already.
pub fn claim_ticket(db: &dyn Db, ticket_id: &str, order_id: &str) -> Result<(), SqlError> {
    db.execute(
        "INSERT INTO orders_live_tickets (ticket_id, order_id) VALUES ($1, $2)",
        &[ticket_id.into(), order_id.into()],
    )?;
    Ok(())
}

/// Gives back the claim of order `order_id` on ticket `ticket_id`.
pub fn free_ticket(db: &dyn Db, ticket_id: &str, order_id: &str) -> Result<(), SqlError> {
    db.execute(
        "DELETE FROM orders_live_tickets WHERE ticket_id = $1 AND order_id = $2",
        &[ticket_id.into(), order_id.into()],
    )?;
    Ok(())
}

/// Inserts a new order.
pub fn insert_order(db: &dyn Db, order: &Order) -> Result<(), SqlError> {
    db.execute(
        "INSERT INTO orders_orders \
         (id, user_id, ticket_id, status, expires_at, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        &[
            (&order.id).into(),
            (&order.user_id).into(),
            (&order.ticket.id).into(),
            order.status.as_str().into(),
            order.expires_at_ms.into(),
            order.version.into(),
            order.updated_at_ms.into(),
        ],
    )?;
    Ok(())
}

const ORDER_COLUMNS: &str = "o.id, o.user_id, o.status, o.expires_at, o.updated_at, o.version, \
     t.id AS ticket_id, t.title AS ticket_title, t.price_cents AS ticket_price_cents, \
     t.version AS ticket_version";
const ORDER_FROM: &str = "orders_orders o JOIN orders_tickets t ON t.id = o.ticket_id";

fn order(row: &Row) -> Result<Order, SqlError> {
    Ok(Order {
        id: row.text("id")?,
        user_id: row.text("user_id")?,
        status: OrderStatus::from_row(row, "status")?,
        expires_at_ms: row.int("expires_at")?,
        updated_at_ms: row.int("updated_at")?,
        version: row.int("version")?,
        ticket: ticket(row, "ticket_")?,
    })
}

/// The order `id` with its ticket, if any.
pub fn find_order(db: &dyn Db, id: &str) -> Result<Option<Order>, SqlError> {
    db.query(
        &format!("SELECT {ORDER_COLUMNS} FROM {ORDER_FROM} WHERE o.id = $1"),
        &[id.into()],
    )?
    .first()
    .map(order)
    .transpose()
}

/// The orders of `user_id`, oldest first.
pub fn list_orders(db: &dyn Db, user_id: &str) -> Result<Vec<Order>, SqlError> {
    db.query(
        &format!(
            "SELECT {ORDER_COLUMNS} FROM {ORDER_FROM} WHERE o.user_id = $1 \
             ORDER BY o.created_at, o.id"
        ),
        &[user_id.into()],
    )?
    .iter()
    .map(order)
    .collect()
}

/// Stores the next status and version of an order if the stored version is still the
/// one before; false if another writer changed it first.
pub fn save_order_next_version(db: &dyn Db, order: &Order) -> Result<bool, SqlError> {
    let changed = db.execute(
        "UPDATE orders_orders SET status = $1, version = $2, updated_at = $3 \
         WHERE id = $4 AND version = $5",
        &[
            order.status.as_str().into(),
            order.version.into(),
            order.updated_at_ms.into(),
            (&order.id).into(),
            (order.version - 1).into(),
        ],
    )?;
    Ok(changed == 1)
}
