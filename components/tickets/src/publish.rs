//! The events the tickets service publishes, written to its outbox in the same
//! transaction as the change they announce.

use boxoffice_shared::events::{Event, TicketCreated, TicketUpdated};
use boxoffice_shared::outbox;
use boxoffice_shared::sql::{Db, SqlError};

use crate::model::Ticket;
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
