//! Stripe's HTTP API as the payments service uses it: PaymentIntents (create, confirm,
//! retrieve) and refunds, and what each of Stripe's answers means.
//!
//! Stripe's rules this follows (https://docs.stripe.com/api/idempotent_requests,
//! https://docs.stripe.com/error-handling):
//! - every POST carries an idempotency key; a retry with the same key and the same
//!   parameters replays the first answer, with other parameters it is a 400
//!   `idempotency_error`;
//! - a 409 (the key is in use by a request still executing), a 429 (rate limit, or a lock
//!   on the object), a 5xx and no answer at all are retried here with the same key, a few
//!   times with backoff; a 500 Stripe saved under the key comes back on every retry
//!   (`Idempotent-Replayed: true`), so it is not retried: what happened is then asked of
//!   Stripe (the intent's state) rather than assumed;
//! - a 402 `card_error` is a decline (the intent goes back to `requires_payment_method`);
//!   other 4xx are requests Stripe refuses (`invalid_request_error`), one of them
//!   `payment_intent_unexpected_state`, which carries the intent as it is.

use boxoffice_shared::http::{self, OutboundResponse};
use boxoffice_shared::ApiError;
use serde::Deserialize;
use serde_json::Value;
use spin_sdk::http::Method;

/// The message when `stripe_secret_key` is empty.
pub const NOT_CONFIGURED: &str = "Payments are not configured";
/// The message when Stripe cannot be used right now.
pub const PROVIDER_DOWN: &str = "The payment provider is unavailable; try again";
/// Stripe's API when `stripe_api_base` is unset.
pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";
/// The metadata key naming the order (or purchase) an intent pays.
pub const ORDER_KEY: &str = "boxoffice_order";
/// The metadata key saying the paid order is a purchase of goods.
pub const PURCHASE_KEY: &str = "boxoffice_purchase";

/// How many times one call is sent when Stripe's answer is not known (the first try
/// included).
const TRIES: u32 = 3;
/// The first pause between tries; it triples each time.
const BACKOFF_MS: u64 = 150;
/// The longest pause a `Retry-After` may ask for within one request.
const MAX_PAUSE_MS: u64 = 2_000;

/// How to reach Stripe.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stripe {
    /// The secret key; empty when payments are not configured.
    pub secret_key: String,
    /// The API base URL, e.g. `https://api.stripe.com`.
    pub api_base: String,
    /// The publishable key (`pk_...`) that browsers use with Stripe.js; empty when the
    /// shop's payment form takes test payment methods instead.
    pub publishable_key: String,
    /// The webhook endpoint's signing secrets (`whsec_...`), separated by commas or
    /// spaces: more than one while a secret is rolled.
    pub webhook_secret: String,
}

/// Where a PaymentIntent is in its life
/// (https://docs.stripe.com/payments/paymentintents/lifecycle).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntentStatus {
    /// Waiting for a payment method, first or after a failed one.
    RequiresPaymentMethod,
    /// Has a method, not confirmed yet.
    RequiresConfirmation,
    /// The buyer must act: 3-D Secure, handled by Stripe.js.
    RequiresAction,
    /// Stripe is working on it; a webhook tells the end.
    Processing,
    /// Paid.
    Succeeded,
    /// Cancelled: it can never be paid.
    Canceled,
    /// Anything else (`requires_capture`: the shop never asks for manual capture).
    Other(String),
}

impl IntentStatus {
    fn parse(status: &str) -> Self {
        match status {
            "requires_payment_method" => Self::RequiresPaymentMethod,
            "requires_confirmation" => Self::RequiresConfirmation,
            "requires_action" => Self::RequiresAction,
            "processing" => Self::Processing,
            "succeeded" => Self::Succeeded,
            "canceled" => Self::Canceled,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// A PaymentIntent, as much of it as the shop reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    /// `pi_...`.
    pub id: String,
    /// Its state.
    pub status: IntentStatus,
    /// What Stripe.js needs to act on it in the buyer's browser.
    pub client_secret: Option<String>,
    /// In cents.
    pub amount: i64,
    /// The order it pays, from its metadata; `None` for an intent the shop did not make.
    pub order_id: Option<String>,
    /// Whether that order is a purchase of goods.
    pub purchase: bool,
    /// Why the last attempt failed, for the buyer (a decline, a failed authentication).
    pub failure: Option<String>,
}

#[derive(Deserialize)]
struct IntentBody {
    id: String,
    status: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    amount: i64,
    #[serde(default)]
    metadata: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    last_payment_error: Option<StripeError>,
}

impl Intent {
    /// Reads an intent from its JSON (an answer, a webhook event's object, an error's
    /// `payment_intent`).
    pub fn from_json(value: &Value) -> Option<Intent> {
        let body: IntentBody = serde_json::from_value(value.clone()).ok()?;
        if !body.id.starts_with("pi_") {
            return None;
        }
        let metadata = body.metadata.unwrap_or_default();
        let text = |key: &str| metadata.get(key).and_then(Value::as_str).map(str::to_owned);
        Some(Intent {
            id: body.id,
            status: IntentStatus::parse(&body.status),
            client_secret: body.client_secret,
            amount: body.amount,
            order_id: text(ORDER_KEY),
            purchase: text(PURCHASE_KEY).as_deref() == Some("true"),
            failure: body.last_payment_error.and_then(|e| e.message),
        })
    }
}

/// Stripe's error shape: `{"error": {"type", "code", "decline_code", "message", "param"}}`.
#[derive(Debug, Clone, Deserialize)]
pub struct StripeError {
    /// `card_error`, `invalid_request_error`, `api_error`, `idempotency_error`, ...
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// e.g. `card_declined`.
    #[serde(default)]
    pub code: Option<String>,
    /// e.g. `insufficient_funds`.
    #[serde(default)]
    pub decline_code: Option<String>,
    /// For the buyer, e.g. "Your card was declined.".
    #[serde(default)]
    pub message: Option<String>,
    /// The request parameter at fault.
    #[serde(default)]
    pub param: Option<String>,
    /// The intent as it is, on errors about one.
    #[serde(default)]
    pub payment_intent: Option<Value>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: StripeError,
}

/// Reads Stripe's error body, if it is one.
pub fn parse_error(body: &[u8]) -> Option<StripeError> {
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .map(|b| b.error)
}

/// What one call to Stripe came to.
#[derive(Debug, Clone)]
pub enum Answer {
    /// A 2xx, with its body.
    Done(Value),
    /// A 402: the card was declined (saved under the key).
    Declined(StripeError),
    /// Another 4xx Stripe refuses for good: a bad parameter, a token used twice, an
    /// intent in a state that does not allow it. Not `idempotency_error`.
    Refused(u16, StripeError),
    /// 400 `idempotency_error`: the key was used with other parameters.
    KeyReused,
    /// No answer, or one that says nothing of the outcome (409, 429, 5xx, a bad key, a
    /// body that cannot be read): it may or may not have happened.
    Unknown(String),
}

impl Answer {
    /// What Stripe's answer means.
    pub fn read(answer: &Result<OutboundResponse, String>) -> Answer {
        let response = match answer {
            Ok(response) => response,
            Err(cause) => return Answer::Unknown(cause.clone()),
        };
        let text = || String::from_utf8_lossy(&response.body).into_owned();
        let error = parse_error(&response.body);
        match (response.status, error) {
            (200..=299, _) => serde_json::from_slice(&response.body)
                .map(Answer::Done)
                .unwrap_or_else(|_| Answer::Unknown(format!("an unreadable answer: {}", text()))),
            (400, Some(error)) if error.kind.as_deref() == Some("idempotency_error") => {
                Answer::KeyReused
            }
            (402, Some(error)) => Answer::Declined(error),
            (status @ (400 | 404), Some(error)) => Answer::Refused(status, error),
            (status, _) => Answer::Unknown(format!("status {status}: {}", text())),
        }
    }

    /// Whether trying again with the same key may give another answer: no answer, a
    /// 409 or a 429, a 5xx Stripe did not save under the key.
    fn worth_retrying(answer: &Result<OutboundResponse, String>) -> bool {
        match answer {
            Err(_) => true,
            Ok(response) => {
                let replayed = response.header("idempotent-replayed") == Some("true");
                matches!(response.status, 409 | 429) || (response.status >= 500 && !replayed)
            }
        }
    }
}

/// The pause before try `n` (1-based, after the first): `Retry-After` when Stripe sent
/// one, else the backoff; bounded.
fn pause_before(n: u32, answer: &Result<OutboundResponse, String>) -> u64 {
    let asked = answer
        .as_ref()
        .ok()
        .and_then(|r| r.header("retry-after"))
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(|seconds| seconds.saturating_mul(1000));
    asked
        .unwrap_or(BACKOFF_MS * 3u64.pow(n.saturating_sub(1)))
        .min(MAX_PAUSE_MS)
}

#[cfg(target_family = "wasm")]
fn pause(ms: u64) {
    wasi::clocks::monotonic_clock::subscribe_duration(ms * 1_000_000).block();
}

#[cfg(not(target_family = "wasm"))]
fn pause(ms: u64) {
    std::thread::sleep(std::time::Duration::from_millis(ms));
}

/// The form parameters naming the payment method `method`: a PaymentMethod id
/// (`pm_...`) as `payment_method`, a card token (`tok_...`) as
/// `payment_method_data[card][token]` (https://docs.stripe.com/api/payment_intents/confirm).
pub fn method_params(method: &str) -> Vec<(String, String)> {
    if method.starts_with("tok_") {
        vec![
            ("payment_method_data[type]".into(), "card".into()),
            ("payment_method_data[card][token]".into(), method.into()),
        ]
    } else {
        vec![("payment_method".into(), method.into())]
    }
}

/// A form-encoded body.
pub fn form(params: &[(String, String)]) -> Vec<u8> {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        form.append_pair(name, value);
    }
    form.finish().into_bytes()
}

impl Stripe {
    /// The publishable key, if one is configured.
    pub fn publishable_key(&self) -> Option<&str> {
        Some(self.publishable_key.trim()).filter(|key| !key.is_empty())
    }

    /// 503 [`NOT_CONFIGURED`] when there is no secret key.
    pub fn require_configured(&self) -> Result<(), ApiError> {
        if self.secret_key.trim().is_empty() {
            return Err(ApiError::Unavailable(NOT_CONFIGURED.to_owned()));
        }
        Ok(())
    }

    /// The URL of `path` (`/v1/...`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api_base.trim().trim_end_matches('/'))
    }

    /// The headers of a request, with its idempotency key when it has one.
    pub fn headers(&self, idempotency_key: Option<&str>) -> Vec<(String, String)> {
        let mut headers = vec![
            (
                "content-type".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
            ),
            (
                "authorization".to_owned(),
                format!("Bearer {}", self.secret_key.trim()),
            ),
        ];
        if let Some(key) = idempotency_key {
            headers.push(("idempotency-key".to_owned(), key.to_owned()));
        }
        headers
    }

    /// Sends one call, again with the same key while the answer says nothing of the
    /// outcome ([`TRIES`] in all), and reads the last answer.
    async fn call(
        &self,
        method: Method,
        path: &str,
        idempotency_key: Option<&str>,
        params: &[(String, String)],
    ) -> Answer {
        let url = self.url(path);
        let headers = self.headers(idempotency_key);
        let body = if method == Method::Get {
            Vec::new()
        } else {
            form(params)
        };
        let mut n = 1;
        loop {
            let answer = http::send(method.clone(), &url, &headers, body.clone()).await;
            if n >= TRIES || !Answer::worth_retrying(&answer) {
                return Answer::read(&answer);
            }
            let wait = pause_before(n, &answer);
            eprintln!("stripe: {path} try {n} said nothing of the outcome; again in {wait} ms");
            pause(wait);
            n += 1;
        }
    }

    /// Creates an intent for `amount_cents` paying order `order_id`.
    pub async fn create_intent(
        &self,
        key: &str,
        order_id: &str,
        purchase: bool,
        amount_cents: i64,
    ) -> Answer {
        let what = if purchase { "purchase" } else { "order" };
        let params = [
            ("amount", amount_cents.to_string()),
            ("currency", "usd".to_owned()),
            ("description", format!("boxoffice {what} {order_id}")),
            ("payment_method_types[]", "card".to_owned()),
            (&format!("metadata[{ORDER_KEY}]"), order_id.to_owned()),
            (&format!("metadata[{PURCHASE_KEY}]"), purchase.to_string()),
        ]
        .map(|(name, value)| (name.to_owned(), value));
        self.call(Method::Post, "/v1/payment_intents", Some(key), &params)
            .await
    }

    /// Confirms intent `intent_id` with payment method `method` (`pm_...` or `tok_...`);
    /// `use_stripe_sdk` lets Stripe.js take the buyer through 3-D Secure after.
    pub async fn confirm_intent(&self, key: &str, intent_id: &str, method: &str) -> Answer {
        let mut params = method_params(method);
        params.push(("use_stripe_sdk".into(), "true".into()));
        let path = format!("/v1/payment_intents/{}/confirm", path_segment(intent_id));
        self.call(Method::Post, &path, Some(key), &params).await
    }

    /// The intent `intent_id` as it is now.
    pub async fn retrieve_intent(&self, intent_id: &str) -> Answer {
        let path = format!("/v1/payment_intents/{}", path_segment(intent_id));
        self.call(Method::Get, &path, None, &[]).await
    }

    /// Refunds the whole of `paid` (an intent `pi_...`, or a charge `ch_...` recorded
    /// before intents) for order `order_id`, under `key`.
    pub async fn refund(&self, key: &str, order_id: &str, paid: &str) -> Answer {
        let what = if paid.starts_with("ch_") {
            "charge"
        } else {
            "payment_intent"
        };
        let params = [
            (what.to_owned(), paid.to_owned()),
            (format!("metadata[{ORDER_KEY}]"), order_id.to_owned()),
        ];
        self.call(Method::Post, "/v1/refunds", Some(key), &params)
            .await
    }

    /// The refund `refund_id` as it is now.
    pub async fn retrieve_refund(&self, refund_id: &str) -> Answer {
        let path = format!("/v1/refunds/{}", path_segment(refund_id));
        self.call(Method::Get, &path, None, &[]).await
    }
}

/// An id as one path segment (Stripe's ids are `[A-Za-z0-9_]`; anything else is escaped).
fn path_segment(id: &str) -> String {
    form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

/// Where a refund is (https://docs.stripe.com/refunds#refund-statuses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundStatus {
    /// Given back.
    Succeeded,
    /// On its way; a webhook (or a later look) tells the end.
    Pending,
    /// Failed or cancelled: the money was not given back, with Stripe's reason.
    Failed(String),
}

/// A refund, as much of it as the shop reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    /// `re_...`.
    pub id: String,
    /// Where it is.
    pub status: RefundStatus,
    /// What it gives back: the intent (or the charge, for refunds of a legacy charge).
    pub paid: Option<String>,
}

impl Refund {
    /// Reads a refund from its JSON (an answer, or a webhook event's object).
    pub fn from_json(value: &Value) -> Option<Refund> {
        let id = value.get("id")?.as_str()?.to_owned();
        if !id.starts_with("re_") && !id.starts_with("pyr_") {
            return None;
        }
        let text = |key: &str| value.get(key).and_then(Value::as_str);
        let status = match text("status") {
            Some("succeeded") => RefundStatus::Succeeded,
            Some("failed" | "canceled") => RefundStatus::Failed(
                text("failure_reason")
                    .unwrap_or(text("status").unwrap_or_default())
                    .to_owned(),
            ),
            _ => RefundStatus::Pending,
        };
        let paid = text("payment_intent").or(text("charge")).map(str::to_owned);
        Some(Refund { id, status, paid })
    }
}

/// The buyer's message for a refusal of their card or request.
pub fn refusal_message(error: &StripeError, declined: bool) -> String {
    error.message.clone().unwrap_or_else(|| {
        if declined {
            "Your card was declined.".to_owned()
        } else {
            "The payment request was refused".to_owned()
        }
    })
}

/// 503 [`PROVIDER_DOWN`], logging `cause`.
pub fn provider_down(cause: &str) -> ApiError {
    eprintln!("stripe: {cause}");
    ApiError::Unavailable(PROVIDER_DOWN.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(status: u16, body: &str) -> Result<OutboundResponse, String> {
        Ok(OutboundResponse {
            status,
            body: body.as_bytes().to_vec(),
            headers: Vec::new(),
        })
    }

    #[test]
    fn answers_say_done_declined_refused_reused_or_unknown() {
        let ok = answer(
            200,
            r#"{"id":"pi_1","object":"payment_intent","status":"succeeded"}"#,
        );
        assert!(matches!(Answer::read(&ok), Answer::Done(v) if v["id"] == "pi_1"));
        let declined = answer(
            402,
            r#"{"error":{"type":"card_error","code":"card_declined","message":"Your card was declined."}}"#,
        );
        assert!(
            matches!(Answer::read(&declined), Answer::Declined(e) if e.code.as_deref() == Some("card_declined"))
        );
        let unexpected = answer(
            400,
            r#"{"error":{"type":"invalid_request_error","code":"payment_intent_unexpected_state",
                "payment_intent":{"id":"pi_1","status":"succeeded"}}}"#,
        );
        assert!(matches!(Answer::read(&unexpected), Answer::Refused(400, e)
            if Intent::from_json(e.payment_intent.as_ref().unwrap()).unwrap().status == IntentStatus::Succeeded));
        let reused = answer(
            400,
            r#"{"error":{"type":"idempotency_error","message":"Keys..."}}"#,
        );
        assert!(matches!(Answer::read(&reused), Answer::KeyReused));
        for status in [401, 403, 409, 429, 500, 502, 503] {
            let body = r#"{"error":{"type":"api_error"}}"#;
            assert!(
                matches!(Answer::read(&answer(status, body)), Answer::Unknown(_)),
                "{status}"
            );
        }
        assert!(matches!(
            Answer::read(&answer(200, "<html>")),
            Answer::Unknown(_)
        ));
        assert!(matches!(
            Answer::read(&answer(400, "nope")),
            Answer::Unknown(_)
        ));
        assert!(matches!(
            Answer::read(&Err("reset".into())),
            Answer::Unknown(_)
        ));
    }

    #[test]
    fn only_answers_that_say_nothing_are_retried_and_saved_errors_are_not() {
        assert!(Answer::worth_retrying(&Err("timeout".into())));
        for status in [409, 429, 500, 503] {
            assert!(Answer::worth_retrying(&answer(status, "{}")), "{status}");
        }
        for status in [200, 400, 402, 404] {
            assert!(!Answer::worth_retrying(&answer(status, "{}")), "{status}");
        }
        let saved = Ok(OutboundResponse {
            status: 500,
            body: Vec::new(),
            headers: vec![("idempotent-replayed".into(), "true".into())],
        });
        assert!(
            !Answer::worth_retrying(&saved),
            "a saved 500 is the same on every try"
        );
        let limited = Ok(OutboundResponse {
            status: 429,
            body: Vec::new(),
            headers: vec![("retry-after".into(), "1".into())],
        });
        assert_eq!(pause_before(1, &limited), 1000);
        assert_eq!(pause_before(1, &Err("x".into())), BACKOFF_MS);
        assert_eq!(pause_before(2, &Err("x".into())), BACKOFF_MS * 3);
        let greedy = Ok(OutboundResponse {
            status: 429,
            body: Vec::new(),
            headers: vec![("retry-after".into(), "3600".into())],
        });
        assert_eq!(pause_before(1, &greedy), MAX_PAUSE_MS);
    }

    #[test]
    fn intents_and_refunds_are_read_from_their_json() {
        let intent = Intent::from_json(&json!({
            "id": "pi_1", "object": "payment_intent", "status": "requires_action",
            "client_secret": "pi_1_secret_x", "amount": 2000,
            "metadata": {"boxoffice_order": "o1", "boxoffice_purchase": "true"},
            "last_payment_error": {"type": "card_error", "message": "We are unable to authenticate"}
        }))
        .unwrap();
        assert_eq!(intent.status, IntentStatus::RequiresAction);
        assert_eq!(intent.client_secret.as_deref(), Some("pi_1_secret_x"));
        assert_eq!(
            (intent.order_id.as_deref(), intent.purchase),
            (Some("o1"), true)
        );
        assert_eq!(
            intent.failure.as_deref(),
            Some("We are unable to authenticate")
        );
        let foreign = Intent::from_json(&json!({"id": "pi_2", "status": "succeeded"})).unwrap();
        assert_eq!((foreign.order_id, foreign.purchase), (None, false));
        assert!(Intent::from_json(&json!({"id": "ch_1", "status": "succeeded"})).is_none());

        let refund = |status: &str| {
            Refund::from_json(
                &json!({"id": "re_1", "status": status, "payment_intent": "pi_1",
                "failure_reason": "expired_or_canceled_card"}),
            )
            .unwrap()
        };
        assert_eq!(refund("succeeded").status, RefundStatus::Succeeded);
        assert_eq!(refund("pending").status, RefundStatus::Pending);
        assert_eq!(refund("requires_action").status, RefundStatus::Pending);
        assert_eq!(
            refund("failed").status,
            RefundStatus::Failed("expired_or_canceled_card".into())
        );
        assert_eq!(refund("succeeded").paid.as_deref(), Some("pi_1"));
    }

    #[test]
    fn requests_are_form_encoded_with_the_key_and_the_method_stripe_expects() {
        let stripe = Stripe {
            secret_key: " sk_test_1 ".into(),
            api_base: "http://stripe.local:12111/".into(),
            ..Stripe::default()
        };
        assert_eq!(
            stripe.url("/v1/payment_intents"),
            "http://stripe.local:12111/v1/payment_intents"
        );
        let headers = stripe.headers(Some("k1"));
        assert!(headers.contains(&("authorization".into(), "Bearer sk_test_1".into())));
        assert!(headers.contains(&("idempotency-key".into(), "k1".into())));
        assert!(!stripe
            .headers(None)
            .iter()
            .any(|(name, _)| name == "idempotency-key"));
        assert_eq!(
            String::from_utf8(form(&method_params("tok_visa&x"))).unwrap(),
            "payment_method_data%5Btype%5D=card&payment_method_data%5Bcard%5D%5Btoken%5D=tok_visa%26x"
        );
        assert_eq!(
            String::from_utf8(form(&method_params("pm_card_visa"))).unwrap(),
            "payment_method=pm_card_visa"
        );
        assert_eq!(path_segment("pi_1/../x"), "pi_1%2F..%2Fx");
        let unconfigured = Stripe {
            secret_key: " ".into(),
            ..stripe
        };
        assert_eq!(
            unconfigured.require_configured(),
            Err(ApiError::Unavailable(NOT_CONFIGURED.into()))
        );
    }
}
