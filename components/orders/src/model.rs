//! The entities of the orders service: orders and the replica of the tickets they hold.

use boxoffice_shared::events::OrderStatus;
use boxoffice_shared::money::Price;
use boxoffice_shared::time;
use serde::Serialize;

/// A ticket as the orders service knows it (a replica of the tickets service's).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ticket {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Price.
    pub price: Price,
    /// The tickets service's version of it.
    pub version: i64,
}

/// An order, as stored and as shown:
/// `{id, userId, status, expiresAt, updatedAt, version, ticket: {id, title, price, version}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// Id.
    pub id: String,
    /// The buyer.
    pub user_id: String,
    /// Where the order is in its life.
    pub status: OrderStatus,
    /// When the reservation lapses, unix milliseconds; ISO 8601 in JSON.
    #[serde(rename = "expiresAt", serialize_with = "time::serialize_rfc3339")]
    pub expires_at_ms: i64,
    /// When its status last changed (its creation, until then), unix milliseconds; ISO
    /// 8601 in JSON. An order cancelled at or after `expiresAt` was cancelled by expiry.
    #[serde(rename = "updatedAt", serialize_with = "time::serialize_rfc3339")]
    pub updated_at_ms: i64,
    /// Goes up by exactly 1 on every change.
    pub version: i64,
    /// The reserved ticket.
    pub ticket: Ticket,
}
