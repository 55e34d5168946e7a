//! The events the cart service consumes (events.toml): the products it replicates, the
//! payments of its purchases, their dispatch, and the tick that ends lapsed holds.

use boxoffice_shared::consume;
use boxoffice_shared::events::{Event, Inbound, OrderStatus};
use boxoffice_shared::sql::Db;
use boxoffice_shared::{time, ApiError};

use crate::model::Shipment;
use crate::{purchases, replica, SERVICE};

/// Applies a delivery from the broker: events once, ticks every time.
pub fn receive(db: &dyn Db, delivery: &Inbound, now_ms: i64) -> Result<(), ApiError> {
    let on_tick = || purchases::expire_lapsed(db, now_ms).map(drop);
    let apply = |tx: &dyn Db, event: &Event| match event {
        Event::ProductCreated(product) => replica::product_created(tx, product),
        Event::ProductUpdated(product) => replica::product_updated(tx, product),
        // A ticket order's payment is the orders service's to apply.
        Event::PaymentCreated(payment) if !payment.purchase => Ok(()),
        Event::PaymentCreated(payment) => {
            let purchase = purchases::paid(tx, &payment.order_id, now_ms)?;
            if purchase.status == OrderStatus::Cancelled {
                eprintln!(
                    "{SERVICE}: payment {} (Stripe {}) arrived for purchase {} after it was \
                     cancelled; it stays cancelled and the payments service refunds it",
                    payment.id, payment.stripe_id, payment.order_id
                );
            }
            Ok(())
        }
        Event::ShipmentDispatched(shipment) => {
            let dispatched_at_ms =
                time::parse_rfc3339(&shipment.dispatched_at).ok_or_else(|| {
                    consume::never(format!(
                        "shipment {} dispatched at {:?}, not an RFC 3339 time",
                        shipment.id, shipment.dispatched_at
                    ))
                })?;
            let recorded = Shipment {
                id: shipment.id.clone(),
                dispatched_at_ms,
            };
            purchases::dispatched(tx, &shipment.purchase_id, &recorded)
        }
        other => Err(consume::not_consumed(SERVICE, other)),
    };
    consume::receive(db, SERVICE, delivery, now_ms, on_tick, apply)
}
