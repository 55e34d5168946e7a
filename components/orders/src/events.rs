//! The events of the orders service: those it publishes (`order:created`,
//! `order:cancelled`, `order:completed`), written to its outbox in the same transaction
//! as the change they announce, and those it consumes (events.toml): the tickets it
//! replicates, `expiration:complete` and `payment:created`.

use boxoffice_shared::consume::{self, never};
use boxoffice_shared::events::{
    CloudEvent, Delivery, Event, OrderCancelled, OrderCompleted, OrderCreated, OrderTicket,
    TicketRef,
};
use boxoffice_shared::sql::{Db, SqlError};
use boxoffice_shared::{outbox, time, ApiError};

use crate::orders::{self, Cause, Order};
use crate::{replica, SERVICE};

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

/// Applies a delivery from the broker, once. A tick needs no work here: the relay that
/// follows every delivery re-sends the outbox.
pub fn receive(db: &dyn Db, delivery: &Delivery, now_ms: i64) -> Result<(), ApiError> {
    match delivery {
        Delivery::Tick => Ok(()),
        Delivery::Event(event) => apply(db, event, now_ms),
    }
}

fn apply(db: &dyn Db, event: &CloudEvent, now_ms: i64) -> Result<(), ApiError> {
    let once = |effect: &dyn Fn(&dyn Db) -> Result<(), ApiError>| {
        consume::apply_once(db, SERVICE, &event.id, now_ms, effect).map(drop)
    };
    match &event.event {
        Event::TicketCreated(ticket) => once(&|tx| replica::ticket_created(tx, ticket)),
        Event::TicketUpdated(ticket) => once(&|tx| replica::ticket_updated(tx, ticket)),
        Event::ExpirationComplete(expired) => {
            once(&|tx| orders::apply_event(tx, &expired.order_id, Cause::Expiry, now_ms).map(drop))
        }
        Event::PaymentCreated(payment) => once(&|tx| {
            let order = orders::apply_event(tx, &payment.order_id, Cause::Payment, now_ms)?;
            if order.status == boxoffice_shared::events::OrderStatus::Cancelled {
                eprintln!(
                    "{SERVICE}: payment {} (Stripe {}) arrived for order {} after it was \
                     cancelled; the order stays cancelled and the charge needs a refund",
                    payment.id, payment.stripe_id, payment.order_id
                );
            }
            Ok(())
        }),
        other => Err(never(format!(
            "{SERVICE} does not consume {}",
            other.event_type()
        ))),
    }
}
