//! The events of the tickets service: those it publishes, written to its outbox in the
//! same transaction as the change they announce, and those it consumes (events.toml:
//! `order:created` reserves a ticket, `order:cancelled` releases it).

use boxoffice_shared::consume::{self, never};
use boxoffice_shared::events::{CloudEvent, Delivery, Event, TicketCreated, TicketUpdated};
use boxoffice_shared::sql::{Db, SqlError};
use boxoffice_shared::{outbox, ApiError};

use crate::tickets::{self, Ticket};
use crate::SERVICE;

/// `ticket:created` for a new ticket.
pub fn ticket_created(ticket: &Ticket) -> Event {
    Event::TicketCreated(TicketCreated {
        id: ticket.id.clone(),
        version: ticket.version,
        title: ticket.title.clone(),
        price: ticket.price,
        user_id: ticket.user_id.clone(),
    })
}

/// `ticket:updated` for a changed ticket (its new version).
pub fn ticket_updated(ticket: &Ticket) -> Event {
    Event::TicketUpdated(TicketUpdated {
        id: ticket.id.clone(),
        version: ticket.version,
        title: ticket.title.clone(),
        price: ticket.price,
        user_id: ticket.user_id.clone(),
        order_id: ticket.order_id.clone(),
    })
}

/// Queues `event` in the tickets outbox, inside the caller's transaction `tx`.
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
        Event::OrderCreated(order) => {
            once(&|tx| tickets::reserve(tx, &order.ticket.id, &order.id, now_ms))
        }
        Event::OrderCancelled(order) => {
            once(&|tx| tickets::release(tx, &order.ticket.id, &order.id, now_ms))
        }
        other => Err(never(format!(
            "{SERVICE} does not consume {}",
            other.event_type()
        ))),
    }
}
