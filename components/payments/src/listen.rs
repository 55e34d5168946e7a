//! The events the payments service consumes (events.toml), to keep its replica of
//! orders and of the cart's purchases. `order:cancelled` (or `purchase:cancelled`) for one
//! paid meanwhile refunds its payment (compensation) before the event is recorded as
//! processed: a refund that cannot be made now leaves the event to come again (503); one
//! Stripe refuses for good, or that fails at Stripe, is parked (kept, logged, passed
//! over) and the event applied; one Stripe leaves pending is followed to its end.

use boxoffice_shared::consume;
use boxoffice_shared::events::{Envelope, Event, Inbound, OrderStatus};
use boxoffice_shared::sql::Db;
use boxoffice_shared::ApiError;

use crate::payments;
use crate::stripe::{Answer, Refund, RefundStatus, Stripe};
use crate::{replica, storage, webhook, SERVICE};

/// What became of a refund asked of Stripe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refunded {
    /// Stripe took it: succeeded, pending or failed.
    Now(Refund),
    /// Stripe says it was refunded already (`charge_already_refunded`).
    Before,
}

/// Applies a delivery from the broker, once. On a tick it refunds what
/// [`refund_cancelled`] finds and follows the refunds pending at Stripe; the relay that
/// follows every delivery re-sends the outbox.
pub async fn receive(
    db: &dyn Db,
    stripe: &Stripe,
    delivery: &Inbound,
    now_ms: i64,
) -> Result<(), ApiError> {
    match delivery {
        Inbound::Tick if !consume::tick_due(db, SERVICE, now_ms)? => Ok(()),
        Inbound::Tick => {
            let swept = refund_cancelled(db, stripe, now_ms).await;
            follow_pending(db, stripe, now_ms).await?;
            swept
        }
        Inbound::Event(event) => {
            let refunded = match &event.event {
                Event::OrderCancelled(order) => {
                    refund(db, stripe, &order.id, order.version, now_ms).await?
                }
                Event::PurchaseCancelled(purchase) => {
                    refund(db, stripe, &purchase.id, purchase.version, now_ms).await?
                }
                _ => None,
            };
            apply(db, event, refunded.as_ref(), now_ms)
        }
    }
}

/// Refunds the whole payment `paid` of order `order_id` (its key
/// `boxoffice-refund-<order>`, one refund per order): what Stripe made of it, or 503 when
/// its answer says nothing (the next tick asks again), or 400 when Stripe refuses it for
/// good.
pub async fn give_back(stripe: &Stripe, order_id: &str, paid: &str) -> Result<Refunded, ApiError> {
    let key = format!("boxoffice-refund-{order_id}");
    match stripe.refund(&key, order_id, paid).await {
        Answer::Done(body) => Refund::from_json(&body).map(Refunded::Now).ok_or_else(|| {
            ApiError::BackendDown(format!("stripe: a refund that is no refund: {body}"))
        }),
        Answer::Refused(_, error) if error.code.as_deref() == Some("charge_already_refunded") => {
            Ok(Refunded::Before)
        }
        Answer::Declined(error) | Answer::Refused(_, error) => Err(ApiError::bad_request(format!(
            "stripe refused a refund: {}",
            error
                .code
                .or(error.message)
                .unwrap_or_else(|| "no reason given".to_owned())
        ))),
        other => Err(ApiError::BackendDown(format!(
            "stripe: refund not made, try again: {other:?}"
        ))),
    }
}

/// Records what became of the refund of order `order_id`'s payment `paid`: refunded,
/// pending (followed), or failed (parked).
fn note_refund(
    db: &dyn Db,
    order_id: &str,
    paid: &str,
    refunded: &Refunded,
    now_ms: i64,
) -> Result<(), ApiError> {
    match refunded {
        Refunded::Before => {
            storage::mark_refunded(db, order_id, None, now_ms)?;
        }
        Refunded::Now(refund) => match &refund.status {
            RefundStatus::Succeeded => {
                storage::mark_paid_refunded(db, paid, &refund.id, now_ms)?;
            }
            RefundStatus::Pending => {
                storage::note_pending_refund(db, paid, order_id, &refund.id, now_ms)?;
            }
            RefundStatus::Failed(reason) => {
                let error = format!("refund {} failed: {reason}", refund.id);
                storage::park_refund(db, order_id, paid, &error, now_ms)?;
                eprintln!("payments: {error}; parked for an operator (order {order_id})");
            }
        },
    }
    Ok(())
}

/// Refunds every recorded payment whose order is cancelled and that is not refunded yet.
///
/// `order:cancelled` refunds a payment it finds, but a charge in flight when the
/// cancellation is applied is recorded after it, and nothing else would give that money
/// back. Whatever the order of the two commits, this finds it on the next tick; Stripe's
/// idempotency key (`boxoffice-refund-<order>`) keeps a refund from happening twice.
async fn refund_cancelled(db: &dyn Db, stripe: &Stripe, now_ms: i64) -> Result<(), ApiError> {
    sweep(db, now_ms, |order_id, paid| async move {
        give_back(stripe, &order_id, &paid).await
    })
    .await
}

/// Asks Stripe how each pending refund stands, in case its webhook never comes.
async fn follow_pending(db: &dyn Db, stripe: &Stripe, now_ms: i64) -> Result<(), ApiError> {
    for (_, _, refund_id) in storage::pending_refunds(db)? {
        if let Answer::Done(body) = stripe.retrieve_refund(&refund_id).await {
            if let Some(refund) = Refund::from_json(&body) {
                webhook::refund_changed(db, &refund, now_ms)?;
            }
        }
    }
    Ok(())
}

/// The sweep of [`refund_cancelled`], with `refund` making each refund: every refund is
/// tried, whatever the others' outcome. One Stripe refuses for good (a 4xx: a disputed
/// charge, say) is parked and passed over from then on; one that cannot be made now waits
/// for the next tick, and the sweep answers its error once the rest are done.
async fn sweep<F, Fut>(db: &dyn Db, now_ms: i64, refund: F) -> Result<(), ApiError>
where
    F: Fn(String, String) -> Fut,
    Fut: std::future::Future<Output = Result<Refunded, ApiError>>,
{
    let mut later = None;
    for (order_id, paid) in storage::unrefunded_charges_of_cancelled_orders(db)? {
        match refund(order_id.clone(), paid.clone()).await {
            Ok(refunded) => {
                note_refund(db, &order_id, &paid, &refunded, now_ms)?;
                eprintln!("payments: refunded {paid} of cancelled order {order_id}");
            }
            Err(error) => {
                if let Some(error) = park_if_final(db, &order_id, &paid, error, now_ms)? {
                    later.get_or_insert(error);
                }
            }
        }
    }
    later.map_or(Ok(()), Err)
}

/// Parks the refund of `paid` when `error` is Stripe's final refusal (`None`: nothing to
/// retry), or gives `error` back when the refund may succeed later.
fn park_if_final(
    db: &dyn Db,
    order_id: &str,
    paid: &str,
    error: ApiError,
    now_ms: i64,
) -> Result<Option<ApiError>, ApiError> {
    if error.status() >= 500 {
        eprintln!("payments: refund of {paid} (order {order_id}) not made yet: {error}");
        return Ok(Some(error));
    }
    storage::park_refund(db, order_id, paid, &error.to_string(), now_ms)?;
    eprintln!(
        "payments: refund of {paid} (order {order_id}) refused for good, parked for an \
         operator: {error}"
    );
    Ok(None)
}

/// Refunds the payment of order `order_id` if `order:cancelled` at `version` makes it due
/// ([`payments::refund_due`]). A refund Stripe refuses for good is parked, and the
/// cancellation applied all the same.
async fn refund(
    db: &dyn Db,
    stripe: &Stripe,
    order_id: &str,
    version: i64,
    now_ms: i64,
) -> Result<Option<(String, Refunded)>, ApiError> {
    let replica = storage::find_order(db, order_id)?;
    let unrefunded = storage::unrefunded_charge(db, order_id)?;
    let Some(paid) = payments::refund_due(replica.as_ref(), version, unrefunded) else {
        return Ok(None);
    };
    match give_back(stripe, order_id, &paid).await {
        Ok(refunded) => Ok(Some((paid, refunded))),
        Err(error) => match park_if_final(db, order_id, &paid, error, now_ms)? {
            Some(later) => Err(later),
            None => Ok(None),
        },
    }
}

fn apply(
    db: &dyn Db,
    event: &Envelope,
    refunded: Option<&(String, Refunded)>,
    now_ms: i64,
) -> Result<(), ApiError> {
    let once = |effect: &dyn Fn(&dyn Db) -> Result<(), ApiError>| {
        consume::apply_once(db, SERVICE, &event.id, now_ms, effect)
    };
    let cancelled = |id: &str, version: i64| -> Result<(), ApiError> {
        let record_refund = |tx: &dyn Db| -> Result<(), ApiError> {
            if let Some((paid, refunded)) = refunded {
                note_refund(tx, id, paid, refunded, now_ms)?;
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

    fn done(id: &str, status: RefundStatus) -> Refunded {
        Refunded::Now(Refund {
            id: id.to_owned(),
            status,
            paid: None,
        })
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

    /// A cancelled order with a recorded charge `charge`, not refunded.
    fn cancelled_with_charge(db: &dyn Db, charge: &str, at: i64) -> Order {
        let order = Order {
            id: ids::new_id(),
            user_id: "u1".into(),
            status: OrderStatus::Cancelled,
            price_cents: 2000,
            expires_at_ms: NOW + 900_000,
            version: 1,
            purchase: false,
        };
        storage::insert_order(db, &order).unwrap();
        payments::record(db, &order, charge, at).unwrap();
        order
    }

    #[test]
    fn a_refund_refused_for_good_is_parked_and_the_others_go_on() {
        let db = NativeSqlite::open_in_memory().unwrap();
        migrate(&db, &storage::migrations()).unwrap();
        // The disputed charge is the oldest: the sweep meets it first, every time.
        let disputed = cancelled_with_charge(&db, "ch_disputed", NOW);
        let down = cancelled_with_charge(&db, "ch_later", NOW + 1);
        let fine = cancelled_with_charge(&db, "ch_fine", NOW + 2);
        let stripe = |_order: String, charge: String| async move {
            match charge.as_str() {
                "ch_disputed" => Err(ApiError::bad_request(
                    "stripe refused a refund (400): charge_disputed",
                )),
                "ch_later" => Err(ApiError::BackendDown("stripe: status 500".into())),
                _ => Ok(done(&format!("re_{charge}"), RefundStatus::Succeeded)),
            }
        };
        let outcome = futures::executor::block_on(sweep(&db, NOW + 10, stripe));
        assert_eq!(outcome.unwrap_err().status(), 503, "the one to retry");
        assert_eq!(
            refund_row(&db, &fine),
            (Some(NOW + 10), Some("re_ch_fine".into()))
        );
        assert_eq!(refund_row(&db, &down), (None, None));
        assert_eq!(refund_row(&db, &disputed), (None, None));
        let parked = storage::parked_refunds(&db).unwrap();
        assert_eq!(parked.len(), 1);
        assert_eq!(
            (parked[0].0.as_str(), parked[0].1.as_str()),
            (disputed.id.as_str(), "ch_disputed")
        );
        assert!(parked[0].2.contains("charge_disputed"), "{parked:?}");
        // Next tick: the parked one is not asked again; the one that failed now goes through.
        let asked = std::cell::RefCell::new(Vec::new());
        let stripe = |_order: String, charge: String| {
            asked.borrow_mut().push(charge.clone());
            async move { Ok(done(&format!("re_{charge}"), RefundStatus::Succeeded)) }
        };
        futures::executor::block_on(sweep(&db, NOW + 20, stripe)).unwrap();
        assert_eq!(*asked.borrow(), ["ch_later"]);
        assert_eq!(
            refund_row(&db, &down),
            (Some(NOW + 20), Some("re_ch_later".into()))
        );
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
        let refunded = ("ch_1".to_owned(), done("re_1", RefundStatus::Succeeded));
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
        apply(
            &db,
            &event,
            Some(&("ch_1".to_owned(), Refunded::Before)),
            NOW + 1,
        )
        .unwrap();
        assert_eq!(refund_row(&db, &order), (Some(NOW + 1), None));
        // The same event again, refunded by a retry after it was processed: recorded once.
        let again = done("re_2", RefundStatus::Succeeded);
        apply(&db, &event, Some(&("ch_1".to_owned(), again)), NOW + 2).unwrap();
        assert_eq!(refund_row(&db, &order), (Some(NOW + 1), None));
    }

    #[test]
    fn a_pending_refund_waits_out_of_the_sweep_until_stripe_says_how_it_ended() {
        let db = NativeSqlite::open_in_memory().unwrap();
        migrate(&db, &storage::migrations()).unwrap();
        let slow = cancelled_with_charge(&db, "pi_slow", NOW);
        let failing = cancelled_with_charge(&db, "pi_failing", NOW + 1);
        let pending = |_order: String, paid: String| async move {
            Ok(done(&format!("re_{paid}"), RefundStatus::Pending))
        };
        futures::executor::block_on(sweep(&db, NOW + 10, pending)).unwrap();
        assert_eq!(storage::pending_refunds(&db).unwrap().len(), 2);
        assert!(
            storage::unrefunded_charges_of_cancelled_orders(&db)
                .unwrap()
                .is_empty(),
            "a pending refund is not asked for again"
        );
        let news = |id: &str, paid: &str, status| Refund {
            id: id.into(),
            status,
            paid: Some(paid.into()),
        };
        let ended = news("re_pi_slow", "pi_slow", RefundStatus::Succeeded);
        webhook::refund_changed(&db, &ended, NOW + 20).unwrap();
        assert_eq!(
            refund_row(&db, &slow),
            (Some(NOW + 20), Some("re_pi_slow".into()))
        );
        // A late `pending` after the end changes nothing.
        let late = news("re_pi_slow", "pi_slow", RefundStatus::Pending);
        webhook::refund_changed(&db, &late, NOW + 21).unwrap();
        assert_eq!(refund_row(&db, &slow).0, Some(NOW + 20));
        let failed = news(
            "re_pi_failing",
            "pi_failing",
            RefundStatus::Failed("expired_or_canceled_card".into()),
        );
        webhook::refund_changed(&db, &failed, NOW + 22).unwrap();
        assert_eq!(refund_row(&db, &failing), (None, None));
        let parked = storage::parked_refunds(&db).unwrap();
        assert_eq!(parked.len(), 1);
        assert!(
            parked[0].2.contains("expired_or_canceled_card"),
            "{parked:?}"
        );
        assert!(storage::pending_refunds(&db).unwrap().is_empty());
        assert!(storage::unrefunded_charges_of_cancelled_orders(&db)
            .unwrap()
            .is_empty());
    }
}
