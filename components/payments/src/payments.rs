//! The rules of payments: which orders may be paid (bug 3 of the old app: never a
//! cancelled, expired or paid one), and recording a charge together with its
//! `payment:created`, at most once per order; and which payments must be given back: a
//! charge that landed on an order cancelled meanwhile (the replica had not heard yet).

use boxoffice_shared::consume::{check_version, VersionCheck};
use boxoffice_shared::events::OrderStatus;
use boxoffice_shared::sql::{transaction, Db, SqlError};
use boxoffice_shared::{ids, ApiError};

use crate::model::{Order, Payment};
use crate::{publish, storage};

/// The message for a cancelled order.
pub const CANCELLED: &str = "Cannot pay for a cancelled order";
/// The message for an order whose reservation window is over.
pub const EXPIRED: &str = "Order has expired";
/// The message for an order paid already.
pub use boxoffice_api::payments::ALREADY_PAID;

/// How many refused payment attempts one order may have (card testing: trying stolen
/// cards against one's own cheap listing); the next is refused before Stripe is asked.
pub const MAX_FAILURES_PER_ORDER: i64 = 5;
/// How many refused payment attempts one buyer may have in [`FAILURE_WINDOW_MS`].
pub const MAX_FAILURES_PER_BUYER: i64 = 20;
/// The window of [`MAX_FAILURES_PER_BUYER`]: a day.
pub const FAILURE_WINDOW_MS: i64 = 24 * 3_600_000;
/// The refusal once an order has had [`MAX_FAILURES_PER_ORDER`] refused attempts.
pub const TOO_MANY_FOR_ORDER: &str =
    "Too many refused payment attempts for this order; cancel it and order again";
/// The refusal once a buyer has had [`MAX_FAILURES_PER_BUYER`] refused attempts in a day.
pub const TOO_MANY_FOR_BUYER: &str = "Too many refused payment attempts; try again tomorrow";

/// 429 when `user_id` may not try to pay order `order_id` again at `now_ms`: too many of
/// their attempts were refused, for this order or in the last day.
pub fn may_try(db: &dyn Db, order_id: &str, user_id: &str, now_ms: i64) -> Result<(), ApiError> {
    let (order, buyer) = storage::failures(db, order_id, user_id, now_ms - FAILURE_WINDOW_MS)?;
    if order >= MAX_FAILURES_PER_ORDER {
        return Err(ApiError::TooManyRequests(TOO_MANY_FOR_ORDER.to_owned()));
    }
    if buyer >= MAX_FAILURES_PER_BUYER {
        return Err(ApiError::TooManyRequests(TOO_MANY_FOR_BUYER.to_owned()));
    }
    Ok(())
}

/// Notes the outcome of an attempt to pay: one Stripe refused (a 400 on the payment
/// method: a decline, a failed authentication, a bad method) counts against the caps of
/// [`may_try`].
pub fn note_outcome<T>(
    db: &dyn Db,
    order_id: &str,
    user_id: &str,
    outcome: &Result<T, ApiError>,
    now_ms: i64,
) -> Result<(), ApiError> {
    let refused = matches!(outcome, Err(ApiError::Validation(problems))
        if problems.iter().any(|p| p.field.as_deref() == Some("token")));
    if refused {
        storage::note_failure(db, &ids::new_id(), order_id, user_id, now_ms)?;
    }
    Ok(())
}

/// The order `order_id` if `user_id` may pay for it at `now_ms`: 404 unknown (or not
/// an id), 401 someone else's, 400 [`CANCELLED`], [`ALREADY_PAID`] or [`EXPIRED`].
pub fn payable(db: &dyn Db, order_id: &str, user_id: &str, now_ms: i64) -> Result<Order, ApiError> {
    if !ids::is_well_formed(order_id) {
        return Err(ApiError::NotFound);
    }
    let order = storage::find_order(db, order_id)?.ok_or(ApiError::NotFound)?;
    if order.user_id != user_id {
        return Err(ApiError::Unauthorized);
    }
    if order.status == OrderStatus::Cancelled {
        return Err(ApiError::bad_request(CANCELLED));
    }
    if order.status == OrderStatus::Complete || storage::is_paid(db, order_id)? {
        return Err(ApiError::bad_request(ALREADY_PAID));
    }
    if now_ms >= order.expires_at_ms {
        return Err(ApiError::bad_request(EXPIRED));
    }
    Ok(order)
}

/// Records the charge `stripe_id` of `order` and queues `payment:created`, together; a
/// concurrent request that recorded its payment first makes this a 400 [`ALREADY_PAID`].
pub fn record(
    db: &dyn Db,
    order: &Order,
    stripe_id: &str,
    now_ms: i64,
) -> Result<Payment, ApiError> {
    let payment = Payment {
        id: ids::new_id(),
        order_id: order.id.clone(),
        stripe_id: stripe_id.to_owned(),
        amount_cents: order.price_cents,
        purchase: order.purchase,
    };
    transaction(db, |tx| {
        storage::insert_payment(tx, &payment, now_ms).map_err(|e| match e {
            SqlError::UniqueViolation(_) => ApiError::bad_request(ALREADY_PAID),
            other => other.into(),
        })?;
        publish::publish(tx, &publish::payment_created(&payment), now_ms)?;
        Ok(payment.clone())
    })
}

/// The charge to refund when `order:cancelled` at `cancelled_version` comes for an order
/// whose replica is `replica` and whose payment not refunded yet is `unrefunded` (its
/// Stripe charge id): that charge, when the event cancels the order now (the version rule
/// says apply) or the replica has it cancelled already; nothing when there is no such
/// payment, or when the event cannot apply yet (it will come again).
pub fn refund_due(
    replica: Option<&Order>,
    cancelled_version: i64,
    unrefunded: Option<String>,
) -> Option<String> {
    let replica = replica?;
    let cancels = match check_version(Some(replica.version), cancelled_version) {
        VersionCheck::Apply => true,
        VersionCheck::AlreadyApplied => replica.status == OrderStatus::Cancelled,
        VersionCheck::NotYet => false,
    };
    unrefunded.filter(|_| cancels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_shared::sql::native::NativeSqlite;
    use boxoffice_shared::testing::migrate;

    const NOW: i64 = 1_714_564_800_000;

    fn db_with_order(status: OrderStatus) -> (NativeSqlite, Order) {
        let db = NativeSqlite::open_in_memory().unwrap();
        migrate(&db, &storage::migrations()).unwrap();
        let order = Order {
            id: ids::new_id(),
            user_id: "u1".into(),
            status,
            price_cents: 2000,
            expires_at_ms: NOW + 900_000,
            version: 0,
            purchase: false,
        };
        storage::insert_order(&db, &order).unwrap();
        (db, order)
    }

    #[test]
    fn only_the_buyer_pays_a_live_order_before_it_expires() {
        let (db, order) = db_with_order(OrderStatus::Created);
        assert_eq!(payable(&db, &order.id, "u1", NOW).unwrap(), order);
        assert_eq!(
            payable(&db, &order.id, "u2", NOW),
            Err(ApiError::Unauthorized)
        );
        assert_eq!(payable(&db, "nope", "u1", NOW), Err(ApiError::NotFound));
        assert_eq!(
            payable(&db, &"f".repeat(24), "u1", NOW),
            Err(ApiError::NotFound)
        );
        let expires = order.expires_at_ms;
        assert!(payable(&db, &order.id, "u1", expires - 1).is_ok());
        assert_eq!(
            payable(&db, &order.id, "u1", expires),
            Err(ApiError::bad_request(EXPIRED))
        );
        let (db, order) = db_with_order(OrderStatus::Cancelled);
        assert_eq!(
            payable(&db, &order.id, "u1", NOW),
            Err(ApiError::bad_request(CANCELLED))
        );
        let (db, order) = db_with_order(OrderStatus::Complete);
        assert_eq!(
            payable(&db, &order.id, "u1", NOW),
            Err(ApiError::bad_request(ALREADY_PAID))
        );
    }

    #[test]
    fn a_charge_is_refunded_when_its_order_is_cancelled() {
        let charge = || Some("ch_1".to_owned());
        let (_, order) = db_with_order(OrderStatus::Created);
        assert_eq!(refund_due(Some(&order), 1, charge()), charge());
        assert_eq!(refund_due(Some(&order), 1, None), None);
        assert_eq!(refund_due(Some(&order), 2, charge()), None);
        assert_eq!(refund_due(None, 1, charge()), None);
        let cancelled = Order {
            status: OrderStatus::Cancelled,
            version: 1,
            ..order.clone()
        };
        assert_eq!(refund_due(Some(&cancelled), 1, charge()), charge());
        let complete = Order {
            status: OrderStatus::Complete,
            version: 1,
            ..order
        };
        assert_eq!(refund_due(Some(&complete), 1, charge()), None);
    }

    #[test]
    fn an_order_is_paid_once() {
        let (db, order) = db_with_order(OrderStatus::Created);
        let payment = record(&db, &order, "ch_1", NOW).unwrap();
        assert_eq!(payment.amount_cents, 2000);
        assert_eq!(
            payable(&db, &order.id, "u1", NOW),
            Err(ApiError::bad_request(ALREADY_PAID))
        );
        assert_eq!(
            record(&db, &order, "ch_1", NOW),
            Err(ApiError::bad_request(ALREADY_PAID))
        );
        let events = db
            .query("SELECT event_type, data FROM payments_outbox", &[])
            .unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].text("event_type").unwrap(), "payment:created");
        let data: serde_json::Value =
            serde_json::from_str(&events[0].text("data").unwrap()).unwrap();
        assert_eq!(
            data,
            serde_json::json!({"id": payment.id, "orderId": order.id, "stripeId": "ch_1"})
        );
    }

    #[test]
    fn a_purchase_from_the_cart_is_paid_like_an_order_and_its_payment_says_so() {
        let db = NativeSqlite::open_in_memory().unwrap();
        migrate(&db, &storage::migrations()).unwrap();
        let created = boxoffice_shared::events::PurchaseCreated {
            id: ids::new_id(),
            version: 0,
            status: OrderStatus::Created,
            user_id: "u1".into(),
            expires_at: boxoffice_shared::time::rfc3339(NOW + 900_000),
            total: boxoffice_shared::money::Price::from_cents(4321),
            lines: vec![],
        };
        crate::replica::purchase_created(&db, &created).unwrap();
        let purchase = payable(&db, &created.id, "u1", NOW).unwrap();
        assert!(purchase.purchase);
        assert_eq!(purchase.price_cents, 4321);
        assert_eq!(
            payable(&db, &created.id, "u1", NOW + 900_000),
            Err(ApiError::bad_request(EXPIRED))
        );
        let payment = record(&db, &purchase, "ch_goods", NOW).unwrap();
        let data = db.query("SELECT data FROM payments_outbox", &[]).unwrap()[0]
            .text("data")
            .unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&data).unwrap(),
            serde_json::json!({"id": payment.id, "orderId": created.id,
                               "stripeId": "ch_goods", "purchase": true})
        );
        let (_, order) = db_with_order(OrderStatus::Created);
        assert!(!order.purchase, "a ticket order stays a ticket order");
    }

    #[test]
    fn a_payment_recorded_after_its_order_was_cancelled_is_found_for_a_refund() {
        let (db, order) = db_with_order(OrderStatus::Cancelled);
        record(&db, &order, "ch_late", NOW).unwrap();
        assert_eq!(
            storage::unrefunded_charges_of_cancelled_orders(&db).unwrap(),
            vec![(order.id.clone(), "ch_late".to_string())]
        );
        assert!(storage::mark_refunded(&db, &order.id, Some("re_1"), NOW).unwrap());
        assert!(storage::unrefunded_charges_of_cancelled_orders(&db)
            .unwrap()
            .is_empty());

        let (live, order) = db_with_order(OrderStatus::Created);
        record(&live, &order, "ch_ok", NOW).unwrap();
        assert!(storage::unrefunded_charges_of_cancelled_orders(&live)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn refused_attempts_are_capped_per_order_and_per_buyer() {
        let (db, order) = db_with_order(OrderStatus::Created);
        let declined: Result<(), ApiError> = Err(ApiError::Validation(vec![
            boxoffice_shared::FieldError::new("token", "Your card was declined."),
        ]));
        let down: Result<(), ApiError> = Err(ApiError::Unavailable("down".into()));
        for _ in 0..MAX_FAILURES_PER_ORDER {
            assert_eq!(may_try(&db, &order.id, "u1", NOW), Ok(()));
            note_outcome(&db, &order.id, "u1", &declined, NOW).unwrap();
            // Stripe being down is not the buyer's attempt.
            note_outcome(&db, &order.id, "u1", &down, NOW).unwrap();
            note_outcome(&db, &order.id, "u1", &Ok(()), NOW).unwrap();
        }
        assert_eq!(
            may_try(&db, &order.id, "u1", NOW),
            Err(ApiError::TooManyRequests(TOO_MANY_FOR_ORDER.into()))
        );
        assert_eq!(may_try(&db, "other", "u1", NOW), Ok(()));
        for n in MAX_FAILURES_PER_ORDER..MAX_FAILURES_PER_BUYER {
            note_outcome(&db, &format!("o{n}"), "u1", &declined, NOW + n).unwrap();
        }
        assert_eq!(
            may_try(&db, "other", "u1", NOW + 100),
            Err(ApiError::TooManyRequests(TOO_MANY_FOR_BUYER.into()))
        );
        assert_eq!(may_try(&db, "other", "u2", NOW + 100), Ok(()));
        let tomorrow = NOW + MAX_FAILURES_PER_BUYER + FAILURE_WINDOW_MS;
        assert_eq!(may_try(&db, "other", "u1", tomorrow), Ok(()));
    }
}
