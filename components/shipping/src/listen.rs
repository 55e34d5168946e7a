//! The events the shipping service consumes (events.toml): `purchase:completed`
//! dispatches the purchase; a tick needs no work beyond the outbox relay that follows it.

use boxoffice_shared::consume;
use boxoffice_shared::events::{Event, Inbound};
use boxoffice_shared::sql::Db;
use boxoffice_shared::ApiError;

use crate::{shipments, SERVICE};

/// Applies a delivery from the broker, once.
pub fn receive(db: &dyn Db, delivery: &Inbound, now_ms: i64) -> Result<(), ApiError> {
    let apply = |tx: &dyn Db, event: &Event| match event {
        Event::PurchaseCompleted(purchase) => shipments::dispatch(tx, purchase, now_ms).map(drop),
        other => Err(consume::not_consumed(SERVICE, other)),
    };
    consume::receive(db, SERVICE, delivery, now_ms, || Ok(()), apply)
}
