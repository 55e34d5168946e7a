//! The event the payments service publishes, `payment:created`, written to its outbox in
//! the same transaction as the payment.

use boxoffice_shared::events::{Event, PaymentCreated};
use boxoffice_shared::outbox;
use boxoffice_shared::sql::{Db, SqlError};

use crate::model::Payment;
use crate::SERVICE;

/// `payment:created` for a recorded payment.
pub fn payment_created(payment: &Payment) -> Event {
    Event::PaymentCreated(PaymentCreated {
        id: payment.id.clone(),
        order_id: payment.order_id.clone(),
        stripe_id: payment.stripe_id.clone(),
        purchase: payment.purchase,
    })
}

/// Queues `event` in the payments outbox, inside the caller's transaction `tx`.
pub fn publish(tx: &dyn Db, event: &Event, now_ms: i64) -> Result<(), SqlError> {
    outbox::enqueue(tx, SERVICE, event, now_ms).map(drop)
}
