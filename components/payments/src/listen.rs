//! The events the payments service consumes (events.toml), to keep its replica of
//! orders and of the cart's purchases. `order:cancelled` (or `purchase:cancelled`) for one
//! paid meanwhile refunds its charge (compensation) before the event is recorded as
//! processed: a refund that cannot be made now leaves the event to come again (503).

use boxoffice_shared::consume;
use boxoffice_shared::events::{Envelope, Event, Inbound, OrderStatus};
use boxoffice_shared::sql::Db;
use boxoffice_shared::ApiError;

use crate::payments;
use crate::stripe::{Refunded, Stripe};
use crate::{replica, storage, SERVICE};

/// Applies a delivery from the broker, once. On a tick it refunds what
/// [`refund_cancelled`] finds; the relay that follows every delivery re-sends the outbox.
pub async fn receive(
    db: &dyn Db,
    stripe: &Stripe,
    delivery: &Inbound,
    now_ms: i64,
) -> Result<(), ApiError> {
    match delivery {
        Inbound::Tick => refund_cancelled(db, stripe, now_ms).await,
        Inbound::Event(event) => {
            let refunded = match &event.event {
                Event::OrderCancelled(order) => {
                    refund(db, stripe, &order.id, order.version).await?
                }
                Event::PurchaseCancelled(purchase) => {
                    refund(db, stripe, &purchase.id, purchase.version).await?
                }
                _ => None,
            };
            apply(db, event, refunded.as_ref(), now_ms)
        }
    }
}

/// Refunds every recorded payment whose order is cancelled and that is not refunded yet.
///
/// `order:cancelled` refunds a payment it finds, but a charge in flight when the
/// cancellation is applied is recorded after it, and nothing else would give that money
/// back. Whatever the order of the two commits, this finds it on the next tick; Stripe's
/// idempotency key (`boxoffice-refund-<order>`) keeps a refund from happening twice.
async fn refund_cancelled(db: &dyn Db, stripe: &Stripe, now_ms: i64) -> Result<(), ApiError> {
    for (order_id, charge) in storage::unrefunded_charges_of_cancelled_orders(db)? {
        let refunded = stripe.refund(&order_id, &charge).await?;
        storage::mark_refunded(db, &order_id, refunded.id(), now_ms)?;
        eprintln!("payments: refunded charge {charge} of cancelled order {order_id}");
    }
    Ok(())
}

/// Refunds the charge of order `order_id` if `order:cancelled` at `version` makes it due
/// ([`payments::refund_due`]).
async fn refund(
    db: &dyn Db,
    stripe: &Stripe,
    order_id: &str,
    version: i64,
) -> Result<Option<Refunded>, ApiError> {
    let replica = storage::find_order(db, order_id)?;
    let unrefunded = storage::unrefunded_charge(db, order_id)?;
    match payments::refund_due(replica.as_ref(), version, unrefunded) {
        Some(charge) => Ok(Some(stripe.refund(order_id, &charge).await?)),
        None => Ok(None),
    }
}

fn apply(
    db: &dyn Db,
    event: &Envelope,
    refunded: Option<&Refunded>,
    now_ms: i64,
) -> Result<(), ApiError> {
    let once = |effect: &dyn Fn(&dyn Db) -> Result<(), ApiError>| {
        consume::apply_once(db, SERVICE, &event.id, now_ms, effect)
    };
    let cancelled = |id: &str, version: i64| -> Result<(), ApiError> {
        let record_refund = |tx: &dyn Db| -> Result<(), ApiError> {
            if let Some(refunded) = refunded {
                storage::mark_refunded(tx, id, refunded.id(), now_ms)?;
            }
            Ok(())
        };
        let applied = once(&|tx| {
            replica::order_changed(tx, id, OrderStatus::Cancelled, version)?;
            record_refund(tx)
        })?;
        // A redelivery of an event processed before the payment was recorded: the
        // refund just made is still to record.
        if applied == consume::Applied::Before {
            record_refund(db)?;
        }
        Ok(())
    };
    let completed = |id: &str, version: i64| {
        once(&|tx| replica::order_changed(tx, id, OrderStatus::Complete, version)).map(drop)
    };
    match &event.event {
        Event::OrderCreated(order) => once(&|tx| replica::order_created(tx, order)).map(drop),
        Event::PurchaseCreated(purchase) => {
            once(&|tx| replica::purchase_created(tx, purchase)).map(drop)
        }
        Event::OrderCancelled(order) => cancelled(&order.id, order.version),
        Event::PurchaseCancelled(purchase) => cancelled(&purchase.id, purchase.version),
        Event::OrderCompleted(order) => completed(&order.id, order.version),
        Event::PurchaseCompleted(purchase) => completed(&purchase.id, purchase.version),
        other => Err(consume::not_consumed(SERVICE, other)),
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_shared::events::{OrderCancelled, TicketRef};
    use boxoffice_shared::ids;
    use boxoffice_shared::sql::native::NativeSqlite;
    use boxoffice_shared::testing::migrate;

    use crate::model::Order;

    const NOW: i64 = 1_714_564_800_000;

    fn paid_order() -> (NativeSqlite, Order) {
        let db = NativeSqlite::open_in_memory().unwrap();
        migrate(&db, &storage::migrations()).unwrap();
        let order = Order {
            id: ids::new_id(),
            user_id: "u1".into(),
            status: OrderStatus::Created,
            price_cents: 2000,
            expires_at_ms: NOW + 900_000,
            version: 0,
            purchase: false,
        };
        storage::insert_order(&db, &order).unwrap();
        payments::record(&db, &order, "ch_1", NOW).unwrap();
        (db, order)
    }

    fn cancelled(order: &Order, version: i64) -> Envelope {
        Envelope::new(
            "orders",
            Event::OrderCancelled(OrderCancelled {
                id: order.id.clone(),
                version,
                ticket: TicketRef { id: "t".into() },
            }),
            NOW,
        )
    }

    fn refund_row(db: &dyn Db, order: &Order) -> (Option<i64>, Option<String>) {
        let rows = db
            .query(
                "SELECT refunded_at, refund_id FROM payments_payments WHERE order_id = $1",
                &[(&order.id).into()],
            )
            .unwrap();
        (
            rows[0].opt_int("refunded_at").unwrap(),
            rows[0].opt_text("refund_id").unwrap(),
        )
    }

    #[test]
    fn a_refund_is_recorded_with_the_cancellation_once() {
        let (db, order) = paid_order();
        let event = cancelled(&order, 1);
        let due = storage::unrefunded_charge(&db, &order.id).unwrap();
        let replica = storage::find_order(&db, &order.id).unwrap();
        assert_eq!(
            payments::refund_due(replica.as_ref(), 1, due),
            Some("ch_1".into())
        );
        let refunded = Refunded::Now("re_1".into());
        apply(&db, &event, Some(&refunded), NOW + 1).unwrap();
        assert_eq!(
            refund_row(&db, &order),
            (Some(NOW + 1), Some("re_1".into()))
        );
        assert_eq!(storage::unrefunded_charge(&db, &order.id).unwrap(), None);
        let order_now = storage::find_order(&db, &order.id).unwrap().unwrap();
        assert_eq!(order_now.status, OrderStatus::Cancelled);
        // A redelivery changes nothing.
        apply(&db, &event, None, NOW + 2).unwrap();
        assert_eq!(
            refund_row(&db, &order),
            (Some(NOW + 1), Some("re_1".into()))
        );
    }

    #[test]
    fn an_early_cancellation_records_nothing_and_waits() {
        let (db, order) = paid_order();
        let early = apply(&db, &cancelled(&order, 2), None, NOW);
        assert_eq!(early.unwrap_err().status(), 503);
        assert_eq!(refund_row(&db, &order), (None, None));
        let processed = db.query("SELECT event_id FROM payments_processed", &[]);
        assert!(processed.unwrap().is_empty());
    }

    #[test]
    fn a_charge_stripe_says_was_refunded_already_is_done() {
        let (db, order) = paid_order();
        let event = cancelled(&order, 1);
        apply(&db, &event, Some(&Refunded::Before), NOW + 1).unwrap();
        assert_eq!(refund_row(&db, &order), (Some(NOW + 1), None));
        // The same event again, refunded by a retry after it was processed: recorded once.
        apply(&db, &event, Some(&Refunded::Now("re_2".into())), NOW + 2).unwrap();
        assert_eq!(refund_row(&db, &order), (Some(NOW + 1), None));
    }
}
