//! The payments service's tables: its replica of orders (what a payment needs to know),
//! the PaymentIntent of each order (one at most, made before the first confirmation), the
//! payments made (one per order at most: `order_id` is UNIQUE; `stripe_id` is the intent,
//! or the charge of a payment made before intents), and the outbox and processed-event
//! ids (Stripe's webhook events among them). Money is integer cents, times unix
//! milliseconds. A payment whose order was cancelled meanwhile is refunded: `refunded_at`
//! (and Stripe's `refund_id`, unknown when Stripe said it was refunded already) are then
//! set; a refund still pending at Stripe waits in `payments_refunds_pending`.

use boxoffice_shared::events::OrderStatus;
use boxoffice_shared::sql::{Db, Row, SqlError, Value};
use boxoffice_shared::{consume, outbox};

use crate::model::{Order, Payment};
use crate::SERVICE;

/// The statements creating the payments service's tables.
pub fn migrations() -> Vec<String> {
    vec![
        "CREATE TABLE IF NOT EXISTS payments_orders (\
            id TEXT PRIMARY KEY, \
            user_id TEXT NOT NULL, \
            status TEXT NOT NULL, \
            price_cents BIGINT NOT NULL, \
            expires_at BIGINT NOT NULL, \
            version BIGINT NOT NULL)"
            .to_owned(),
        "CREATE TABLE IF NOT EXISTS payments_payments (\
            id TEXT PRIMARY KEY, \
            order_id TEXT NOT NULL UNIQUE, \
            stripe_id TEXT NOT NULL, \
            amount_cents BIGINT NOT NULL, \
            created_at BIGINT NOT NULL, \
            refunded_at BIGINT, \
            refund_id TEXT)"
            .to_owned(),
        // Which replicated orders are the cart's purchases; a table beside the replica, so
        // a database made before purchases existed needs no change of its own.
        "CREATE TABLE IF NOT EXISTS payments_purchases (order_id TEXT PRIMARY KEY)".to_owned(),
        // Refunds Stripe refused for good (a disputed charge, say): kept out of the sweep
        // so that the others go on, and kept for an operator to settle by hand.
        "CREATE TABLE IF NOT EXISTS payments_refunds_parked (\
            order_id TEXT PRIMARY KEY, \
            stripe_id TEXT NOT NULL, \
            error TEXT NOT NULL, \
            parked_at BIGINT NOT NULL)"
            .to_owned(),
        // The one PaymentIntent of an order, and the attempt its confirmation key is at
        // (`boxoffice-confirm-<intent>-<attempt>`): retired only once Stripe's answer to
        // the attempt is known.
        "CREATE TABLE IF NOT EXISTS payments_intents (\
            order_id TEXT PRIMARY KEY, \
            intent_id TEXT NOT NULL UNIQUE, \
            attempt BIGINT NOT NULL, \
            created_at BIGINT NOT NULL)"
            .to_owned(),
        // Refunds Stripe accepted but has not finished (`pending`), by what they give back.
        "CREATE TABLE IF NOT EXISTS payments_refunds_pending (\
            stripe_id TEXT PRIMARY KEY, \
            order_id TEXT NOT NULL, \
            refund_id TEXT NOT NULL, \
            since BIGINT NOT NULL)"
            .to_owned(),
        // Disputes (chargebacks) Stripe told of, for an operator.
        "CREATE TABLE IF NOT EXISTS payments_disputes (\
            id TEXT PRIMARY KEY, \
            stripe_id TEXT NOT NULL, \
            status TEXT NOT NULL, \
            reason TEXT NOT NULL, \
            amount_cents BIGINT NOT NULL, \
            updated_at BIGINT NOT NULL)"
            .to_owned(),
        // Payments Stripe made that the shop did not expect (a second intent of an order
        // paid already, an order it does not know): refunded, and kept here.
        "CREATE TABLE IF NOT EXISTS payments_orphans (\
            intent_id TEXT PRIMARY KEY, \
            order_id TEXT NOT NULL, \
            refund_id TEXT, \
            found_at BIGINT NOT NULL)"
            .to_owned(),
        // Payment attempts Stripe refused (declines, failed authentication, bad methods):
        // the card-testing caps count them.
        "CREATE TABLE IF NOT EXISTS payments_failures (\
            id TEXT PRIMARY KEY, \
            order_id TEXT NOT NULL, \
            user_id TEXT NOT NULL, \
            at BIGINT NOT NULL)"
            .to_owned(),
        "CREATE INDEX IF NOT EXISTS payments_failures_by_user ON payments_failures (user_id, at)"
            .to_owned(),
        "CREATE INDEX IF NOT EXISTS payments_failures_by_order ON payments_failures (order_id)"
            .to_owned(),
        consume::create_processed_table(SERVICE),
    ]
    .into_iter()
    .chain(outbox::migrations(SERVICE))
    .collect()
}

fn order(row: &Row) -> Result<Order, SqlError> {
    Ok(Order {
        id: row.text("id")?,
        user_id: row.text("user_id")?,
        status: OrderStatus::from_row(row, "status")?,
        price_cents: row.int("price_cents")?,
        expires_at_ms: row.int("expires_at")?,
        version: row.int("version")?,
        purchase: row.int("purchase")? == 1,
    })
}

/// The replica of order `id`, if known.
pub fn find_order(db: &dyn Db, id: &str) -> Result<Option<Order>, SqlError> {
    db.query(
        "SELECT o.id, o.user_id, o.status, o.price_cents, o.expires_at, o.version, \
         CASE WHEN p.order_id IS NULL THEN 0 ELSE 1 END AS purchase \
         FROM payments_orders o LEFT JOIN payments_purchases p ON p.order_id = o.id \
         WHERE o.id = $1",
        &[id.into()],
    )?
    .first()
    .map(order)
    .transpose()
}

/// Adds an order to the replica.
pub fn insert_order(db: &dyn Db, order: &Order) -> Result<(), SqlError> {
    db.execute(
        "INSERT INTO payments_orders (id, user_id, status, price_cents, expires_at, version) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            (&order.id).into(),
            (&order.user_id).into(),
            order.status.as_str().into(),
            order.price_cents.into(),
            order.expires_at_ms.into(),
            order.version.into(),
        ],
    )?;
    if order.purchase {
        db.execute(
            "INSERT INTO payments_purchases (order_id) VALUES ($1)",
            &[(&order.id).into()],
        )?;
    }
    Ok(())
}

/// Stores the next status and version of a replicated order if the replica is still at
/// the version before; false otherwise.
pub fn update_order(
    db: &dyn Db,
    id: &str,
    status: OrderStatus,
    version: i64,
) -> Result<bool, SqlError> {
    Ok(db.execute(
        "UPDATE payments_orders SET status = $1, version = $2 WHERE id = $3 AND version = $4",
        &[
            status.as_str().into(),
            version.into(),
            id.into(),
            (version - 1).into(),
        ],
    )? == 1)
}

/// Whether order `order_id` has a payment.
pub fn is_paid(db: &dyn Db, order_id: &str) -> Result<bool, SqlError> {
    Ok(!db
        .query(
            "SELECT id FROM payments_payments WHERE order_id = $1",
            &[order_id.into()],
        )?
        .is_empty())
}

/// Records a payment; a [`SqlError::UniqueViolation`] when the order has one already.
pub fn insert_payment(db: &dyn Db, payment: &Payment, now_ms: i64) -> Result<(), SqlError> {
    db.execute(
        "INSERT INTO payments_payments (id, order_id, stripe_id, amount_cents, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
        &[
            (&payment.id).into(),
            (&payment.order_id).into(),
            (&payment.stripe_id).into(),
            payment.amount_cents.into(),
            now_ms.into(),
        ],
    )?;
    Ok(())
}

/// The charge of order `order_id` still to refund: its Stripe charge id, if the order has
/// a payment not refunded yet.
pub fn unrefunded_charge(db: &dyn Db, order_id: &str) -> Result<Option<String>, SqlError> {
    db.query(
        "SELECT stripe_id FROM payments_payments WHERE order_id = $1 AND refunded_at IS NULL",
        &[order_id.into()],
    )?
    .first()
    .map(|row| row.text("stripe_id"))
    .transpose()
}

/// (order id, Stripe charge id) of every payment not refunded whose order the replica has
/// cancelled.
pub fn unrefunded_charges_of_cancelled_orders(
    db: &dyn Db,
) -> Result<Vec<(String, String)>, SqlError> {
    db.query(
        "SELECT p.order_id, p.stripe_id FROM payments_payments p \
         JOIN payments_orders o ON o.id = p.order_id \
         WHERE o.status = $1 AND p.refunded_at IS NULL \
         AND NOT EXISTS (SELECT 1 FROM payments_refunds_parked r WHERE r.order_id = p.order_id) \
         AND NOT EXISTS (SELECT 1 FROM payments_refunds_pending r WHERE r.stripe_id = p.stripe_id) \
         ORDER BY p.created_at",
        &[OrderStatus::Cancelled.as_str().into()],
    )?
    .iter()
    .map(|row| Ok((row.text("order_id")?, row.text("stripe_id")?)))
    .collect()
}

/// Parks the refund of order `order_id`'s charge `stripe_id`, which Stripe refused for
/// good with `error`: the sweep passes over it from now on (once parked, it stays so).
pub fn park_refund(
    db: &dyn Db,
    order_id: &str,
    stripe_id: &str,
    error: &str,
    now_ms: i64,
) -> Result<(), SqlError> {
    db.execute(
        "INSERT INTO payments_refunds_parked (order_id, stripe_id, error, parked_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (order_id) DO NOTHING",
        &[
            order_id.into(),
            stripe_id.into(),
            error.into(),
            now_ms.into(),
        ],
    )?;
    Ok(())
}

/// The parked refunds, oldest first: `(order id, charge, Stripe's refusal)`.
pub fn parked_refunds(db: &dyn Db) -> Result<Vec<(String, String, String)>, SqlError> {
    db.query(
        "SELECT order_id, stripe_id, error FROM payments_refunds_parked ORDER BY parked_at",
        &[],
    )?
    .iter()
    .map(|row| {
        Ok((
            row.text("order_id")?,
            row.text("stripe_id")?,
            row.text("error")?,
        ))
    })
    .collect()
}

/// Records that order `order_id`'s payment was refunded at `now_ms` (as `refund_id`, when
/// known); false when there was nothing left to refund.
pub fn mark_refunded(
    db: &dyn Db,
    order_id: &str,
    refund_id: Option<&str>,
    now_ms: i64,
) -> Result<bool, SqlError> {
    Ok(db.execute(
        "UPDATE payments_payments SET refunded_at = $1, refund_id = $2 \
         WHERE order_id = $3 AND refunded_at IS NULL",
        &[now_ms.into(), refund_id.into(), order_id.into()],
    )? == 1)
}

/// The intent of order `order_id` and its confirmation attempt, if it has one.
pub fn find_intent(db: &dyn Db, order_id: &str) -> Result<Option<(String, i64)>, SqlError> {
    db.query(
        "SELECT intent_id, attempt FROM payments_intents WHERE order_id = $1",
        &[order_id.into()],
    )?
    .first()
    .map(|row| Ok((row.text("intent_id")?, row.int("attempt")?)))
    .transpose()
}

/// Makes `intent_id` the intent of order `order_id`, unless a concurrent request gave it
/// one first; false then.
pub fn insert_intent(
    db: &dyn Db,
    order_id: &str,
    intent_id: &str,
    now_ms: i64,
) -> Result<bool, SqlError> {
    Ok(db.execute(
        "INSERT INTO payments_intents (order_id, intent_id, attempt, created_at) \
         VALUES ($1, $2, 0, $3) ON CONFLICT (order_id) DO NOTHING",
        &[order_id.into(), intent_id.into(), now_ms.into()],
    )? == 1)
}

/// Retires confirmation attempt `attempt` of order `order_id`'s intent (unless a
/// concurrent request did).
pub fn retire_attempt(db: &dyn Db, order_id: &str, attempt: i64) -> Result<(), SqlError> {
    db.execute(
        "UPDATE payments_intents SET attempt = attempt + 1 WHERE order_id = $1 AND attempt = $2",
        &[order_id.into(), attempt.into()],
    )?;
    Ok(())
}

/// Forgets order `order_id`'s intent `intent_id` (Stripe cancelled it: it can never pay).
pub fn forget_intent(db: &dyn Db, order_id: &str, intent_id: &str) -> Result<(), SqlError> {
    db.execute(
        "DELETE FROM payments_intents WHERE order_id = $1 AND intent_id = $2",
        &[order_id.into(), intent_id.into()],
    )?;
    Ok(())
}

/// The payment of order `order_id`, if it has one.
pub fn payment_of(db: &dyn Db, order_id: &str) -> Result<Option<Payment>, SqlError> {
    db.query(
        "SELECT p.id, p.order_id, p.stripe_id, p.amount_cents, \
         CASE WHEN u.order_id IS NULL THEN 0 ELSE 1 END AS purchase \
         FROM payments_payments p LEFT JOIN payments_purchases u ON u.order_id = p.order_id \
         WHERE p.order_id = $1",
        &[order_id.into()],
    )?
    .first()
    .map(|row| {
        Ok(Payment {
            id: row.text("id")?,
            order_id: row.text("order_id")?,
            stripe_id: row.text("stripe_id")?,
            amount_cents: row.int("amount_cents")?,
            purchase: row.int("purchase")? == 1,
        })
    })
    .transpose()
}

/// The order whose payment is `stripe_id`, if any.
pub fn order_paid_by(db: &dyn Db, stripe_id: &str) -> Result<Option<String>, SqlError> {
    db.query(
        "SELECT order_id FROM payments_payments WHERE stripe_id = $1",
        &[stripe_id.into()],
    )?
    .first()
    .map(|row| row.text("order_id"))
    .transpose()
}

/// Records that the payment `stripe_id` was refunded at `now_ms` as `refund_id`; false
/// when it was already, or is no payment of the shop's.
pub fn mark_paid_refunded(
    db: &dyn Db,
    stripe_id: &str,
    refund_id: &str,
    now_ms: i64,
) -> Result<bool, SqlError> {
    clear_pending_refund(db, stripe_id)?;
    Ok(db.execute(
        "UPDATE payments_payments SET refunded_at = $1, refund_id = $2 \
         WHERE stripe_id = $3 AND refunded_at IS NULL",
        &[now_ms.into(), refund_id.into(), stripe_id.into()],
    )? == 1)
}

/// Notes that the refund `refund_id` of payment `stripe_id` (order `order_id`) is pending
/// at Stripe: the sweep leaves it alone until it ends.
pub fn note_pending_refund(
    db: &dyn Db,
    stripe_id: &str,
    order_id: &str,
    refund_id: &str,
    now_ms: i64,
) -> Result<(), SqlError> {
    db.execute(
        "INSERT INTO payments_refunds_pending (stripe_id, order_id, refund_id, since) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (stripe_id) DO NOTHING",
        &[
            stripe_id.into(),
            order_id.into(),
            refund_id.into(),
            now_ms.into(),
        ],
    )?;
    Ok(())
}

/// The refunds pending at Stripe, oldest first: `(payment, order, refund id)`.
pub fn pending_refunds(db: &dyn Db) -> Result<Vec<(String, String, String)>, SqlError> {
    db.query(
        "SELECT stripe_id, order_id, refund_id FROM payments_refunds_pending ORDER BY since",
        &[],
    )?
    .iter()
    .map(|row| {
        Ok((
            row.text("stripe_id")?,
            row.text("order_id")?,
            row.text("refund_id")?,
        ))
    })
    .collect()
}

/// Forgets the pending refund of payment `stripe_id` (it ended).
pub fn clear_pending_refund(db: &dyn Db, stripe_id: &str) -> Result<(), SqlError> {
    db.execute(
        "DELETE FROM payments_refunds_pending WHERE stripe_id = $1",
        &[stripe_id.into()],
    )?;
    Ok(())
}

/// Records (or updates) dispute `id` of payment `stripe_id`.
pub fn record_dispute(
    db: &dyn Db,
    id: &str,
    stripe_id: &str,
    status: &str,
    reason: &str,
    amount_cents: i64,
    now_ms: i64,
) -> Result<(), SqlError> {
    db.execute(
        "INSERT INTO payments_disputes (id, stripe_id, status, reason, amount_cents, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (id) DO UPDATE SET status = $3, reason = $4, updated_at = $6",
        &[
            id.into(),
            stripe_id.into(),
            status.into(),
            reason.into(),
            amount_cents.into(),
            now_ms.into(),
        ],
    )?;
    Ok(())
}

/// Records the orphan payment `intent_id` for order `order_id`, refunded as `refund_id`.
pub fn record_orphan(
    db: &dyn Db,
    intent_id: &str,
    order_id: &str,
    refund_id: Option<&str>,
    now_ms: i64,
) -> Result<(), SqlError> {
    db.execute(
        "INSERT INTO payments_orphans (intent_id, order_id, refund_id, found_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (intent_id) DO NOTHING",
        &[
            intent_id.into(),
            order_id.into(),
            refund_id.into(),
            now_ms.into(),
        ],
    )?;
    Ok(())
}

/// Notes a payment attempt of `user_id` for order `order_id` that Stripe refused.
pub fn note_failure(
    db: &dyn Db,
    id: &str,
    order_id: &str,
    user_id: &str,
    now_ms: i64,
) -> Result<(), SqlError> {
    db.execute(
        "INSERT INTO payments_failures (id, order_id, user_id, at) VALUES ($1, $2, $3, $4)",
        &[id.into(), order_id.into(), user_id.into(), now_ms.into()],
    )?;
    Ok(())
}

/// How many refused attempts order `order_id` has had, and `user_id` since `since_ms`.
pub fn failures(
    db: &dyn Db,
    order_id: &str,
    user_id: &str,
    since_ms: i64,
) -> Result<(i64, i64), SqlError> {
    let count = |sql: &str, params: &[Value]| -> Result<i64, SqlError> {
        db.query(sql, params)?
            .first()
            .map_or(Ok(0), |row| row.int("n"))
    };
    Ok((
        count(
            "SELECT COUNT(*) AS n FROM payments_failures WHERE order_id = $1",
            &[order_id.into()],
        )?,
        count(
            "SELECT COUNT(*) AS n FROM payments_failures WHERE user_id = $1 AND at > $2",
            &[user_id.into(), since_ms.into()],
        )?,
    ))
}
