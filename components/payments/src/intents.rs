//! Paying an order through its one PaymentIntent, so that a buyer is never charged twice
//! (docs/payments.md).
//!
//! An order has at most one intent (`payments_intents`, made before its first
//! confirmation and looked up by every later attempt), and a PaymentIntent succeeds at
//! most once: whatever is lost or retried (an answer that never came, a 500 Stripe saved,
//! a card form that sends a new token under an old key), there is nothing for a second
//! charge to land on. Each confirmation carries the key `boxoffice-confirm-<intent>-<n>`;
//! `n` moves on only once Stripe's answer to attempt `n` is known (an intent, a decline,
//! or the intent read back after an answer that said nothing), and never on an
//! `idempotency_error` before the intent has been asked how it stands.
//!
//! The synchronous answer and Stripe's webhook (`payment_intent.succeeded`, see
//! [`crate::webhook`]) both record the payment; whichever comes second finds it recorded.

use boxoffice_shared::{ids, ApiError, FieldError};

use crate::model::{Order, Payment};
use crate::payments;
use crate::storage;
use crate::stripe::{self, Answer, Intent, IntentStatus, Stripe};
use boxoffice_shared::sql::Db;

/// The message when Stripe cancelled the order's intent.
pub const INTENT_CANCELLED: &str = "The payment was cancelled by the provider; pay again";

/// What paying came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Paid {
    /// Paid and recorded (now, or before by the webhook).
    Recorded(Payment),
    /// The buyer's bank asks them to authenticate (3-D Secure): Stripe.js does it with
    /// this client secret, then the payment is sent again (or the webhook records it).
    Authenticate(String),
    /// Stripe is still working on it; the webhook will record it.
    Processing,
}

/// Pays `order` (the buyer's, payable) with `method` (`pm_...` or a card token).
pub async fn pay(
    db: &dyn Db,
    stripe: &Stripe,
    order: &Order,
    method: &str,
    now_ms: i64,
) -> Result<Paid, ApiError> {
    let intent_id = intent_of(db, stripe, order, now_ms).await?;
    // One confirmation, and at most one more when the first attempt's answer turned out
    // to say nothing and the intent still waits for a method.
    for _ in 0..2 {
        let (_, attempt) = storage::find_intent(db, &order.id)?
            .ok_or_else(|| stripe::provider_down("the order's intent vanished"))?;
        let key = format!("boxoffice-confirm-{intent_id}-{attempt}");
        let answer = stripe.confirm_intent(&key, &intent_id, method).await;
        let intent = match answer {
            Answer::Done(body) => read(&body)?,
            Answer::Declined(error) => {
                storage::retire_attempt(db, &order.id, attempt)?;
                return Err(refused(stripe::refusal_message(&error, true)));
            }
            Answer::Refused(_, error)
                if error.code.as_deref() == Some("payment_intent_unexpected_state") =>
            {
                match error.payment_intent.as_ref().and_then(Intent::from_json) {
                    Some(intent) => intent,
                    None => retrieve(stripe, &intent_id).await?,
                }
            }
            Answer::Refused(_, error) => {
                return Err(refused(stripe::refusal_message(&error, false)));
            }
            Answer::KeyReused | Answer::Unknown(_) => {
                if let Answer::Unknown(cause) = &answer {
                    eprintln!("stripe: confirming {intent_id} said nothing: {cause}");
                }
                let intent = retrieve(stripe, &intent_id).await?;
                if waits_for_a_method(&intent) {
                    // Nothing was charged under this key: the next attempt may use another.
                    storage::retire_attempt(db, &order.id, attempt)?;
                    continue;
                }
                intent
            }
        };
        // Stripe's answer to this attempt is known: the next one gets a key of its own
        // (a replay of this answer would hide what happened since, e.g. the buyer's
        // authentication).
        storage::retire_attempt(db, &order.id, attempt)?;
        return settle(db, order, &intent, now_ms);
    }
    Err(stripe::provider_down(&format!(
        "confirming {intent_id} twice said nothing"
    )))
}

/// What the intent's state means for the buyer, recording the payment when it succeeded.
fn settle(db: &dyn Db, order: &Order, intent: &Intent, now_ms: i64) -> Result<Paid, ApiError> {
    match &intent.status {
        IntentStatus::Succeeded => record(db, order, intent, now_ms).map(Paid::Recorded),
        IntentStatus::RequiresAction => intent
            .client_secret
            .clone()
            .map(Paid::Authenticate)
            .ok_or_else(|| stripe::provider_down("an intent to act on without a client secret")),
        IntentStatus::Processing => Ok(Paid::Processing),
        IntentStatus::Canceled => {
            storage::forget_intent(db, &order.id, &intent.id)?;
            Err(refused(INTENT_CANCELLED.to_owned()))
        }
        IntentStatus::RequiresPaymentMethod | IntentStatus::RequiresConfirmation => {
            Err(refused(intent.failure.clone().unwrap_or_else(|| {
                "The payment was not completed; try again".to_owned()
            })))
        }
        IntentStatus::Other(status) => Err(stripe::provider_down(&format!(
            "intent {} is {status}",
            intent.id
        ))),
    }
}

/// Records the succeeded `intent` as `order`'s payment; the payment recorded before (by
/// the webhook, or a concurrent request) when it is this intent's.
pub fn record(
    db: &dyn Db,
    order: &Order,
    intent: &Intent,
    now_ms: i64,
) -> Result<Payment, ApiError> {
    match payments::record(db, order, &intent.id, now_ms) {
        Ok(payment) => Ok(payment),
        Err(refusal) => match storage::payment_of(db, &order.id)? {
            Some(payment) if payment.stripe_id == intent.id => Ok(payment),
            _ => Err(refusal),
        },
    }
}

/// Whether the intent still waits for a payment method (nothing charged).
fn waits_for_a_method(intent: &Intent) -> bool {
    matches!(
        intent.status,
        IntentStatus::RequiresPaymentMethod | IntentStatus::RequiresConfirmation
    )
}

/// The id of `order`'s intent, made now when it has none. A creation whose answer is lost
/// may leave an intent at Stripe that the shop never confirms: it cannot charge anyone.
async fn intent_of(
    db: &dyn Db,
    stripe: &Stripe,
    order: &Order,
    now_ms: i64,
) -> Result<String, ApiError> {
    if let Some((intent_id, _)) = storage::find_intent(db, &order.id)? {
        return Ok(intent_id);
    }
    let key = format!("boxoffice-intent-{}-{}", order.id, ids::new_id());
    let made = match stripe
        .create_intent(&key, &order.id, order.purchase, order.price_cents)
        .await
    {
        Answer::Done(body) => read(&body)?,
        Answer::Declined(error) | Answer::Refused(_, error) => {
            return Err(refused(stripe::refusal_message(&error, false)));
        }
        Answer::KeyReused => return Err(stripe::provider_down("a fresh key was reused")),
        Answer::Unknown(cause) => {
            return Err(stripe::provider_down(&format!(
                "creating an intent: {cause}"
            )))
        }
    };
    storage::insert_intent(db, &order.id, &made.id, now_ms)?;
    // A concurrent request may have given the order its intent first: that one it is.
    storage::find_intent(db, &order.id)?
        .map(|(intent_id, _)| intent_id)
        .ok_or_else(|| stripe::provider_down("the order's intent vanished"))
}

/// The intent as it is now, or 503.
async fn retrieve(stripe: &Stripe, intent_id: &str) -> Result<Intent, ApiError> {
    match stripe.retrieve_intent(intent_id).await {
        Answer::Done(body) => read(&body),
        _ => Err(stripe::provider_down(&format!(
            "{intent_id}: its state is not known now"
        ))),
    }
}

fn read(body: &serde_json::Value) -> Result<Intent, ApiError> {
    Intent::from_json(body)
        .ok_or_else(|| stripe::provider_down(&format!("an answer that is no intent: {body}")))
}

/// A 400 on `token`: the buyer's to fix.
fn refused(message: String) -> ApiError {
    ApiError::Validation(vec![FieldError::new("token", message)])
}
