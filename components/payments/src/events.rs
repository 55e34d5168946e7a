//! The events of the payments service: `payment:created`, which it publishes through
//! its outbox in the same transaction as the payment, and those it consumes (events.toml)
//! to keep its replica of orders.

use boxoffice_shared::consume::{self, never};
use boxoffice_shared::events::{CloudEvent, Delivery, Event, OrderStatus, PaymentCreated};
use boxoffice_shared::sql::{Db, SqlError};
use boxoffice_shared::{outbox, ApiError};

use crate::payments::Payment;
use crate::{replica, SERVICE};

/// `payment:created` for a recorded payment.
pub fn payment_created(payment: &Payment) -> Event {
    Event::PaymentCreated(PaymentCreated {
        id: payment.id.clone(),
        order_id: payment.order_id.clone(),
        stripe_id: payment.stripe_id.clone(),
    })
}

/// Queues `event` in the payments outbox, inside the caller's transaction `tx`.
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
        Event::OrderCreated(order) => once(&|tx| replica::order_created(tx, order)),
        Event::OrderCancelled(order) => {
            once(&|tx| replica::order_changed(tx, &order.id, OrderStatus::Cancelled, order.version))
        }
        Event::OrderCompleted(order) => {
            once(&|tx| replica::order_changed(tx, &order.id, OrderStatus::Complete, order.version))
        }
        other => Err(never(format!(
            "{SERVICE} does not consume {}",
            other.event_type()
        ))),
    }
}
