//! The events the tickets service consumes (events.toml): `order:created` reserves a
//! ticket, `order:cancelled` releases it.

use boxoffice_shared::consume;
use boxoffice_shared::events::{Event, Inbound};
use boxoffice_shared::sql::Db;
use boxoffice_shared::ApiError;

use crate::{tickets, SERVICE};

/// Applies a delivery from the broker, once. A tick needs no work here.
pub fn receive(db: &dyn Db, delivery: &Inbound, now_ms: i64) -> Result<(), ApiError> {
    let apply = |tx: &dyn Db, event: &Event| match event {
        Event::OrderCreated(order) => tickets::reserve(tx, &order.ticket.id, &order.id, now_ms),
        Event::OrderCancelled(order) => tickets::release(tx, &order.ticket.id, &order.id, now_ms),
        other => Err(consume::not_consumed(SERVICE, other)),
    };
    consume::receive(db, SERVICE, delivery, now_ms, || Ok(()), apply)
}
