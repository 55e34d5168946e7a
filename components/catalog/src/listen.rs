//! The events the catalog consumes (events.toml): `purchase:completed` takes the units
//! bought out of stock.

use boxoffice_shared::consume;
use boxoffice_shared::events::{Event, Inbound};
use boxoffice_shared::sql::Db;
use boxoffice_shared::ApiError;

use crate::{products, SERVICE};

/// Applies a delivery from the broker, once. A tick needs no work here: the relay after
/// it sends whatever the outbox still holds.
pub fn receive(db: &dyn Db, delivery: &Inbound, now_ms: i64) -> Result<(), ApiError> {
    let apply = |tx: &dyn Db, event: &Event| match event {
        Event::PurchaseCompleted(purchase) => products::sell(tx, purchase, now_ms),
        other => Err(consume::not_consumed(SERVICE, other)),
    };
    consume::receive(db, SERVICE, delivery, now_ms, || Ok(()), apply)
}
