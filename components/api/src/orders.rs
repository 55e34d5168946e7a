//! The orders component: reservations of tickets (docs/api.md, "Orders"), and its event
//! route.

use serde::Serialize;
use utoipa::ToSchema;

use crate::events::event_route;
use crate::route::operations;
use crate::schemas::{Errors, Unavailable};

operations!("orders":
    /// `POST /api/orders`
    Create in "orders",
    /// `GET /api/orders`
    List in "orders",
    /// `GET /api/orders/{id}`
    Show in "orders",
    /// `DELETE /api/orders/{id}`
    Cancel in "orders",
    /// `POST /internal/events/orders`
    Deliver in "events",
);

event_route!(Deliver, "/internal/events/orders", "orders");

/// The ticket to reserve.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderInput {
    /// The ticket's id: 24 lowercase hex digits.
    #[schema(pattern = "^[0-9a-f]{24}$", example = "65f1c0ffee0123456789abcd")]
    pub ticket_id: String,
}

/// Where an order is in its life.
#[derive(Serialize, ToSchema)]
pub enum OrderStatus {
    /// Reserved, not paid.
    #[serde(rename = "created")]
    Created,
    /// Cancelled by the buyer or by expiry.
    #[serde(rename = "cancelled")]
    Cancelled,
    /// Awaiting payment.
    #[serde(rename = "awaiting:payment")]
    AwaitingPayment,
    /// Paid.
    #[serde(rename = "complete")]
    Complete,
}

/// The ticket an order holds.
#[derive(Serialize, ToSchema)]
pub struct OrderTicket {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// US dollars.
    pub price: f64,
    /// The ticket's version.
    pub version: i64,
}

/// An order.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// Id.
    pub id: String,
    /// The buyer.
    pub user_id: String,
    /// Status.
    pub status: OrderStatus,
    /// When the reservation lapses (ISO 8601).
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// When the status last changed (ISO 8601): a cancellation at or after `expiresAt` was
    /// the expiry's.
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Goes up by exactly 1 on every change.
    pub version: i64,
    /// The reserved ticket.
    pub ticket: OrderTicket,
}

/// Reserve a ticket
///
/// Holds the ticket for the reservation window (15 minutes by default). Publishes
/// `order:created`.
#[utoipa::path(
    post,
    path = "/api/orders",
    impl_for = Create,
    request_body = OrderInput,
    responses(
        (status = 201, description = "The order, `created`.", body = Order),
        (status = 400, description = "Invalid ticketId, the ticket is already reserved, or the buyer holds max_live_reservations (10) live orders already.", body = Errors),
        (status = 401, description = "Not signed in (checked before the body).", body = Errors),
        (status = 404, description = "No such ticket.", body = Errors),
        (status = 503, response = Unavailable),
    ),
    security(("session" = [])),
)]
#[allow(dead_code)]
fn create() {}

/// My orders
///
/// Oldest first, each with its ticket.
#[utoipa::path(
    get,
    path = "/api/orders",
    impl_for = List,
    responses(
        (status = 200, description = "The caller's orders.", body = Vec<Order>),
        (status = 401, description = "Not signed in.", body = Errors),
        (status = 503, response = Unavailable),
    ),
    security(("session" = [])),
)]
#[allow(dead_code)]
fn list() {}

/// An order
#[utoipa::path(
    get,
    path = "/api/orders/{id}",
    impl_for = Show,
    params(("id" = String, Path, description = "The order's id.")),
    responses(
        (status = 200, description = "The order.", body = Order),
        (status = 401, description = "Not signed in, or not the buyer.", body = Errors),
        (status = 404, description = "No such order.", body = Errors),
        (status = 503, response = Unavailable),
    ),
    security(("session" = [])),
)]
#[allow(dead_code)]
fn show() {}

/// Cancel an order
///
/// Releases its ticket; a complete (paid) order cannot be cancelled. Publishes
/// `order:cancelled`.
#[utoipa::path(
    delete,
    path = "/api/orders/{id}",
    impl_for = Cancel,
    params(("id" = String, Path, description = "The order's id.")),
    responses(
        (status = 204, description = "Cancelled."),
        (status = 400, description = "The order is complete.", body = Errors),
        (status = 401, description = "Not signed in, or not the buyer.", body = Errors),
        (status = 404, description = "No such order.", body = Errors),
        (status = 503, response = Unavailable),
    ),
    security(("session" = [])),
)]
#[allow(dead_code)]
fn cancel() {}
