//! The events the orders service publishes (`order:created`, `order:cancelled`,
//! `order:completed`), written to its outbox in the same transaction as the change they
//! announce.

use boxoffice_shared::events::{
    Event, OrderCancelled, OrderCompleted, OrderCreated, OrderTicket, TicketRef,
};
use boxoffice_shared::sql::{Db, SqlError};
use boxoffice_shared::{outbox, time};

use crate::model::Order;
use crate::SERVICE;

/// `order:created` for a new order.
pub fn order_created(order: &Order) -> Event {
    Event::OrderCreated(OrderCreated {
        id: order.id.clone(),
        version: order.version,
        status: order.status,
        user_id: order.user_id.clone(),
        expires_at: time::rfc3339(order.expires_at_ms),
        ticket: OrderTicket {
            id: order.ticket.id.clone(),
            price: order.ticket.price,
        },
    })
}

/// `order:cancelled` for an order just cancelled (its new version).
pub fn order_cancelled(order: &Order) -> Event {
    Event::OrderCancelled(OrderCancelled {
        id: order.id.clone(),
        version: order.version,
        ticket: TicketRef {
            id: order.ticket.id.clone(),
        },
    })
}

/// `order:completed` for an order just paid (its new version).
pub fn order_completed(order: &Order) -> Event {
    Event::OrderCompleted(OrderCompleted {
        id: order.id.clone(),
        version: order.version,
        ticket: TicketRef {
            id: order.ticket.id.clone(),
        },
    })
}

/// Queues `event` in the orders outbox, inside the caller's transaction `tx`.
pub fn publish(tx: &dyn Db, event: &Event, now_ms: i64) -> Result<(), SqlError> {
    outbox::enqueue(tx, SERVICE, event, now_ms).map(drop)
}
