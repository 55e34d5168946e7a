//! Stripe's webhook, `POST /api/payments/webhook`: what Stripe tells of payments, refunds
//! and disputes, the source of truth when a synchronous answer was lost
//! (https://docs.stripe.com/webhooks).
//!
//! Every delivery is checked first: the `Stripe-Signature` header is
//! `t=<unix seconds>,v1=<hex>[,v1=<hex>...]`, each `v1` an HMAC-SHA256 over `<t>.<body>`
//! keyed with an endpoint secret (`whsec_...`); one of the configured secrets must match
//! one of them, and `t` must be within [`TOLERANCE_S`] of now, so a delivery recorded by
//! someone cannot be replayed later (https://docs.stripe.com/webhooks#verify-manually).
//! Then each event is applied once, by Stripe's event id (Stripe may deliver one twice,
//! and in any order):
//! - `payment_intent.succeeded`: the payment of the order in its metadata is recorded
//!   (and `payment:created` published), unless it was already. A payment the shop did not
//!   expect, an orphan (a second intent of an order paid already, or an order the shop
//!   does not know), is refunded and kept in `payments_orphans`. Intents without the shop's
//!   metadata are not the shop's and are left alone.
//! - `refund.created`, `refund.updated`, `refund.failed`, `charge.refund.updated`: a refund
//!   that succeeded is recorded, a failed one parked for an operator, a pending one waited
//!   for (a state never goes back: a late `pending` after the end changes nothing).
//! - `charge.dispute.*`: the dispute is kept in `payments_disputes` and logged.
//! - Anything else is acknowledged and ignored.

use boxoffice_shared::sql::Db;
use boxoffice_shared::{consume, ApiError};
use serde_json::Value;

use crate::stripe::{Answer, Intent, IntentStatus, Refund, RefundStatus, Stripe};
use crate::{intents, storage, SERVICE};

/// How far a delivery's timestamp may be from now, in seconds (Stripe's libraries' default).
pub const TOLERANCE_S: i64 = 300;

/// Why a delivery was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No webhook secret is configured.
    NotConfigured,
    /// No `Stripe-Signature`, or one that cannot be read.
    Malformed,
    /// Its timestamp is too far from now.
    Stale,
    /// No signature matches any secret.
    Mismatch,
}

impl Refusal {
    /// The API's answer.
    pub fn to_error(&self) -> ApiError {
        match self {
            Refusal::NotConfigured => {
                ApiError::Unavailable("The Stripe webhook is not configured".to_owned())
            }
            Refusal::Malformed => ApiError::bad_request("Missing or malformed Stripe-Signature"),
            Refusal::Stale => ApiError::bad_request("Stripe-Signature timestamp is too old"),
            Refusal::Mismatch => ApiError::bad_request("Stripe-Signature does not match"),
        }
    }
}

/// Checks the `Stripe-Signature` `header` of `payload` against `secrets` (separated by
/// commas or white space) at `now_s`.
pub fn verify(
    header: Option<&str>,
    payload: &[u8],
    secrets: &str,
    now_s: i64,
) -> Result<(), Refusal> {
    let secrets: Vec<&str> = secrets
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .collect();
    if secrets.is_empty() {
        return Err(Refusal::NotConfigured);
    }
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.ok_or(Refusal::Malformed)?.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t.parse::<i64>().map_err(|_| Refusal::Malformed)?),
            Some(("v1", hex)) => signatures.push(
                boxoffice_shared::signature::decode_hex::<32>(hex).ok_or(Refusal::Malformed)?,
            ),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(Refusal::Malformed)?;
    if signatures.is_empty() {
        return Err(Refusal::Malformed);
    }
    let mut message = format!("{timestamp}.").into_bytes();
    message.extend_from_slice(payload);
    // `HMAC::verify` compares in constant time.
    let matches = secrets.iter().any(|secret| {
        signatures
            .iter()
            .any(|claimed| hmac_sha256::HMAC::verify(&message, secret.as_bytes(), claimed))
    });
    if !matches {
        return Err(Refusal::Mismatch);
    }
    if (now_s - timestamp).abs() > TOLERANCE_S {
        return Err(Refusal::Stale);
    }
    Ok(())
}

/// Applies one verified event, once.
pub async fn receive(
    db: &dyn Db,
    stripe: &Stripe,
    payload: &[u8],
    now_ms: i64,
) -> Result<(), ApiError> {
    let event: Value = serde_json::from_slice(payload)
        .map_err(|_| ApiError::bad_request("The event is not JSON"))?;
    let (Some(id), Some(kind)) = (
        event.get("id").and_then(Value::as_str),
        event.get("type").and_then(Value::as_str),
    ) else {
        return Err(ApiError::bad_request("The event has no id or type"));
    };
    let object = &event["data"]["object"];
    let event_id = format!("stripe:{id}");
    if consume::was_processed(db, SERVICE, &event_id)? {
        return Ok(());
    }
    match kind {
        "payment_intent.succeeded" => match Intent::from_json(object) {
            Some(intent) => succeeded(db, stripe, &intent, now_ms).await?,
            None => return Err(ApiError::bad_request("The event's object is no intent")),
        },
        "payment_intent.payment_failed" => {
            if let Some(intent) = Intent::from_json(object) {
                eprintln!(
                    "payments: intent {} failed: {}",
                    intent.id,
                    intent.failure.as_deref().unwrap_or("no reason given")
                );
            }
        }
        "refund.created" | "refund.updated" | "refund.failed" | "charge.refund.updated" => {
            if let Some(refund) = Refund::from_json(object) {
                refund_changed(db, &refund, now_ms)?;
            }
        }
        kind if kind.starts_with("charge.dispute.") => dispute(db, object, now_ms)?,
        _ => {}
    }
    consume::apply_once(db, SERVICE, &event_id, now_ms, |_| Ok(())).map(drop)
}

/// A payment Stripe made: recorded as its order's payment, or refunded as an orphan.
async fn succeeded(
    db: &dyn Db,
    stripe: &Stripe,
    intent: &Intent,
    now_ms: i64,
) -> Result<(), ApiError> {
    debug_assert_eq!(intent.status, IntentStatus::Succeeded);
    let Some(order_id) = intent.order_id.as_deref() else {
        eprintln!(
            "payments: intent {} is not the shop's; left alone",
            intent.id
        );
        return Ok(());
    };
    let order = storage::find_order(db, order_id)?;
    let paid = storage::payment_of(db, order_id)?;
    match (order, paid) {
        (_, Some(payment)) if payment.stripe_id == intent.id => Ok(()),
        (Some(order), None) => intents::record(db, &order, intent, now_ms).map(drop),
        _ => orphan(db, stripe, order_id, intent, now_ms).await,
    }
}

/// Refunds a payment the shop did not expect, and keeps it.
async fn orphan(
    db: &dyn Db,
    stripe: &Stripe,
    order_id: &str,
    intent: &Intent,
    now_ms: i64,
) -> Result<(), ApiError> {
    let key = format!("boxoffice-refund-orphan-{}", intent.id);
    let refund_id = match stripe.refund(&key, order_id, &intent.id).await {
        Answer::Done(body) => Refund::from_json(&body).map(|refund| refund.id),
        Answer::Refused(_, error) if error.code.as_deref() == Some("charge_already_refunded") => {
            None
        }
        other => {
            return Err(ApiError::BackendDown(format!(
                "stripe: orphan {} not refunded yet: {other:?}",
                intent.id
            )))
        }
    };
    storage::record_orphan(db, &intent.id, order_id, refund_id.as_deref(), now_ms)?;
    eprintln!(
        "payments: intent {} paid order {order_id}, which has another payment or is unknown: \
         an orphan, refunded ({})",
        intent.id,
        refund_id.as_deref().unwrap_or("refunded before")
    );
    Ok(())
}

/// What a refund's news means for the payment it gives back.
pub fn refund_changed(db: &dyn Db, refund: &Refund, now_ms: i64) -> Result<(), ApiError> {
    let Some(paid) = refund.paid.as_deref() else {
        return Ok(());
    };
    let Some(order_id) = storage::order_paid_by(db, paid)? else {
        return Ok(());
    };
    match &refund.status {
        RefundStatus::Succeeded => {
            if storage::mark_paid_refunded(db, paid, &refund.id, now_ms)? {
                eprintln!("payments: refund {} of {paid} succeeded", refund.id);
            }
        }
        RefundStatus::Pending => {
            if storage::unrefunded_charge(db, &order_id)?.is_some() {
                storage::note_pending_refund(db, paid, &order_id, &refund.id, now_ms)?;
            }
        }
        RefundStatus::Failed(reason) => {
            storage::clear_pending_refund(db, paid)?;
            if storage::unrefunded_charge(db, &order_id)?.is_some() {
                let error = format!("refund {} failed: {reason}", refund.id);
                storage::park_refund(db, &order_id, paid, &error, now_ms)?;
                eprintln!("payments: {error}; parked for an operator (order {order_id})");
            }
        }
    }
    Ok(())
}

fn dispute(db: &dyn Db, object: &Value, now_ms: i64) -> Result<(), ApiError> {
    let text = |key: &str| object.get(key).and_then(Value::as_str).unwrap_or_default();
    let paid = Some(text("payment_intent"))
        .filter(|s| !s.is_empty())
        .unwrap_or(text("charge"));
    if text("id").is_empty() || paid.is_empty() {
        return Ok(());
    }
    let amount = object.get("amount").and_then(Value::as_i64).unwrap_or(0);
    storage::record_dispute(
        db,
        text("id"),
        paid,
        text("status"),
        text("reason"),
        amount,
        now_ms,
    )?;
    eprintln!(
        "payments: dispute {} of {paid} ({}): {}",
        text("id"),
        text("reason"),
        text("status")
    );
    Ok(())
}
