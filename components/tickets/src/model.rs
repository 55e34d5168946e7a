//! The entities of the tickets service.

use boxoffice_shared::money::Price;
use serde::Serialize;

/// A ticket, as stored and as shown: `{id, title, price, userId, version}` plus
/// `orderId` while reserved.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    /// Id.
    pub id: String,
    /// Title, trimmed.
    pub title: String,
    /// Price.
    pub price: Price,
    /// The seller.
    pub user_id: String,
    /// Goes up by exactly 1 on every change.
    pub version: i64,
    /// The order holding the ticket, while reserved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
}
