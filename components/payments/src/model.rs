//! The entities of the payments service: payments and the replica of the orders they pay
//! (ticket orders, and the cart's purchases of goods, which are paid the same way).

use boxoffice_shared::events::OrderStatus;
use serde::Serialize;

/// An order as the payments service knows it (a replica of the orders service's).
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    /// Id.
    pub id: String,
    /// The buyer.
    pub user_id: String,
    /// Where the order is in its life.
    pub status: OrderStatus,
    /// What the ticket costs, in cents.
    pub price_cents: i64,
    /// When the reservation lapses, unix milliseconds.
    pub expires_at_ms: i64,
    /// The orders service's version of it.
    pub version: i64,
    /// Whether it is a purchase of goods (the cart's, `purchase:*` events) rather than a
    /// ticket order (`order:*`): its payment says so, for the right service to apply it.
    pub purchase: bool,
}

/// A payment: a Stripe charge for an order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Payment {
    /// Id, shown to the buyer as `{id}`.
    pub id: String,
    /// The paid order.
    #[serde(skip)]
    pub order_id: String,
    /// Stripe's charge id.
    #[serde(skip)]
    pub stripe_id: String,
    /// The amount charged, in cents.
    #[serde(skip)]
    pub amount_cents: i64,
    /// Whether the paid order is a purchase of goods.
    #[serde(skip)]
    pub purchase: bool,
}
