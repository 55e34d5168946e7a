//! The events the orders service consumes (events.toml): the tickets it replicates,
//! `expiration:complete` and `payment:created` (of ticket orders; a purchase's payment is
//! the cart's).

use boxoffice_shared::consume;
use boxoffice_shared::events::{Event, Inbound, OrderStatus};
use boxoffice_shared::sql::Db;
use boxoffice_shared::ApiError;

use crate::orders::{self, Cause};
use crate::{replica, SERVICE};

/// Applies a delivery from the broker, once. A tick needs no work here.
pub fn receive(db: &dyn Db, delivery: &Inbound, now_ms: i64) -> Result<(), ApiError> {
    let apply = |tx: &dyn Db, event: &Event| match event {
        Event::TicketCreated(ticket) => replica::ticket_created(tx, ticket),
        Event::TicketUpdated(ticket) => replica::ticket_updated(tx, ticket),
        Event::ExpirationComplete(expired) => {
            orders::apply_event(tx, &expired.order_id, Cause::Expiry, now_ms).map(drop)
        }
        // The payment of a purchase of goods is the cart's to apply.
        Event::PaymentCreated(payment) if payment.purchase => Ok(()),
        Event::PaymentCreated(payment) => {
            let order = orders::apply_event(tx, &payment.order_id, Cause::Payment, now_ms)?;
            if order.status == OrderStatus::Cancelled {
                eprintln!(
                    "{SERVICE}: payment {} (Stripe {}) arrived for order {} after it was \
                     cancelled; the order stays cancelled and the charge needs a refund",
                    payment.id, payment.stripe_id, payment.order_id
                );
            }
            Ok(())
        }
        other => Err(consume::not_consumed(SERVICE, other)),
    };
    consume::receive(db, SERVICE, delivery, now_ms, || Ok(()), apply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_shared::events::{Envelope, PaymentCreated};
    use boxoffice_shared::testing::memory_db;

    #[test]
    fn a_purchase_payment_is_left_to_the_cart_and_an_unknown_order_payment_is_refused() {
        let db = memory_db(crate::storage::migrations());
        let db = db.get().unwrap();
        let payment = |purchase| {
            Inbound::Event(Envelope::new(
                "payments",
                Event::PaymentCreated(PaymentCreated {
                    id: "pay1".into(),
                    order_id: "f".repeat(24),
                    stripe_id: "ch_1".into(),
                    purchase,
                }),
                0,
            ))
        };
        assert_eq!(receive(db, &payment(true), 0), Ok(()));
        assert_eq!(receive(db, &payment(false), 0).unwrap_err().status(), 400);
    }
}
