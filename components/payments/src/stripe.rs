//! Charging a card through Stripe's HTTP API (`POST /v1/charges`), and what each of its
//! answers means for the buyer: a charge id, a refusal they can fix (400 on `token`), or
//! a provider outage (503, try again).
//!
//! Every charge carries an idempotency key derived from the order, so that a retried or
//! concurrent request never charges twice. Stripe remembers a declined charge under its
//! key too, so after each decline the next attempt uses a fresh key
//! (`boxoffice-order-<orderId>-<declines>`): nothing was charged under the old one.
//!
//! Refunding a charge (`POST /v1/refunds`) is the compensation for a payment that landed
//! on an order cancelled meanwhile; its key is `boxoffice-refund-<orderId>`, one per order.

use boxoffice_shared::http::{self, OutboundResponse};
use boxoffice_shared::kv::KeyValue;
use boxoffice_shared::{ApiError, FieldError};
use serde::Deserialize;

/// The message when `stripe_secret_key` is empty.
pub const NOT_CONFIGURED: &str = "Payments are not configured";
/// The message when Stripe cannot be used right now.
pub const PROVIDER_DOWN: &str = "The payment provider is unavailable; try again";
/// Stripe's API when `stripe_api_base` is unset.
pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";

/// How to reach Stripe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stripe {
    /// The secret key; empty when payments are not configured.
    pub secret_key: String,
    /// The API base URL, e.g. `https://api.stripe.com`.
    pub api_base: String,
    /// The publishable key (`pk_...`) that browsers use with Stripe Elements; empty when
    /// the shop's payment form takes test tokens instead.
    pub publishable_key: String,
}

/// One charge to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// The order paid for.
    pub order_id: String,
    /// The amount, in US cents.
    pub amount_cents: i64,
    /// The card token from the client (Stripe's `source`).
    pub token: String,
    /// The idempotency key of this attempt.
    pub idempotency_key: String,
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

    /// The charges endpoint.
    pub fn charges_url(&self) -> String {
        format!("{}/v1/charges", self.api_base.trim().trim_end_matches('/'))
    }

    /// The headers of a charge request.
    pub fn headers(&self, charge: &Charge) -> Vec<(String, String)> {
        self.keyed_headers(&charge.idempotency_key)
    }

    fn keyed_headers(&self, idempotency_key: &str) -> Vec<(String, String)> {
        vec![
            (
                "content-type".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
            ),
            (
                "authorization".to_owned(),
                format!("Bearer {}", self.secret_key.trim()),
            ),
            ("idempotency-key".to_owned(), idempotency_key.to_owned()),
        ]
    }

    /// The refunds endpoint.
    pub fn refunds_url(&self) -> String {
        format!("{}/v1/refunds", self.api_base.trim().trim_end_matches('/'))
    }

    /// The headers of a refund of order `order_id`'s charge.
    pub fn refund_headers(&self, order_id: &str) -> Vec<(String, String)> {
        self.keyed_headers(&refund_idempotency_key(order_id))
    }

    /// Refunds the whole charge `charge_id` of order `order_id`; what became of it, or
    /// the broker's answer when it cannot be done now (503) or ever (400).
    pub async fn refund(&self, order_id: &str, charge_id: &str) -> Result<Refunded, ApiError> {
        let answer = http::post(
            &self.refunds_url(),
            &self.refund_headers(order_id),
            refund_body(charge_id),
        )
        .await;
        interpret_refund(answer)
    }

    /// Charges the card; the Stripe charge id, or what to answer the buyer.
    pub async fn charge(&self, charge: &Charge) -> Result<String, ApiError> {
        let answer = http::post(
            &self.charges_url(),
            &self.headers(charge),
            form_body(charge),
        )
        .await;
        interpret(answer)
    }
}

/// The form-encoded body of a charge.
pub fn form_body(charge: &Charge) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("amount", &charge.amount_cents.to_string())
        .append_pair("currency", "usd")
        .append_pair("source", &charge.token)
        .append_pair(
            "description",
            &format!("boxoffice order {}", charge.order_id),
        )
        .finish()
        .into_bytes()
}

/// The form-encoded body of a refund: the whole charge.
pub fn refund_body(charge_id: &str) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("charge", charge_id)
        .finish()
        .into_bytes()
}

/// The idempotency key of the refund of order `order_id` (one refund per order).
pub fn refund_idempotency_key(order_id: &str) -> String {
    format!("boxoffice-refund-{order_id}")
}

/// What became of a refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refunded {
    /// Refunded now (or replayed under the same key): Stripe's refund id.
    Now(String),
    /// Stripe says the charge was refunded already (`charge_already_refunded`).
    Before,
}

impl Refunded {
    /// The refund id, when known.
    pub fn id(&self) -> Option<&str> {
        match self {
            Self::Now(id) => Some(id),
            Self::Before => None,
        }
    }
}

/// What Stripe's answer to a refund means: 2xx refunded (its id); 400
/// `charge_already_refunded` done already; other 400/402/404 refusals can never succeed
/// (400, so the broker dead-letters the event for an operator); anything else, or no
/// answer (unreachable, 5xx, 429, a bad key), 503 so the broker retries.
pub fn interpret_refund(answer: Result<OutboundResponse, String>) -> Result<Refunded, ApiError> {
    let response = answer.map_err(refund_later)?;
    let body_text = || String::from_utf8_lossy(&response.body).into_owned();
    match response.status {
        200..=299 => serde_json::from_slice::<ChargeBody>(&response.body)
            .map(|refund| Refunded::Now(refund.id))
            .map_err(|_| refund_later(format!("a refund without an id: {}", body_text()))),
        status @ (400 | 402 | 404) => {
            let error = parse_error(&response.body);
            if status == 400
                && error.as_ref().and_then(|e| e.code.as_deref()) == Some("charge_already_refunded")
            {
                return Ok(Refunded::Before);
            }
            Err(ApiError::bad_request(format!(
                "stripe refused a refund ({status}): {}",
                body_text()
            )))
        }
        status => Err(refund_later(format!("status {status}: {}", body_text()))),
    }
}

fn refund_later(cause: String) -> ApiError {
    ApiError::BackendDown(format!("stripe: refund not made, try again: {cause}"))
}

fn declines_key(order_id: &str) -> String {
    format!("payments:declines:{order_id}")
}

fn declines(kv: &dyn KeyValue, order_id: &str) -> Result<u64, ApiError> {
    Ok(kv
        .get(&declines_key(order_id))?
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

fn key_after(order_id: &str, declines: u64) -> String {
    match declines {
        0 => format!("boxoffice-order-{order_id}"),
        n => format!("boxoffice-order-{order_id}-{n}"),
    }
}

/// The idempotency key of the next charge attempt for `order_id`.
pub fn idempotency_key(kv: &dyn KeyValue, order_id: &str) -> Result<String, ApiError> {
    Ok(key_after(order_id, declines(kv, order_id)?))
}

/// Notes that `charge` was declined, so that the next attempt gets a fresh key (unless
/// a concurrent request has moved on already).
pub fn note_decline(kv: &dyn KeyValue, charge: &Charge) -> Result<(), ApiError> {
    let seen = declines(kv, &charge.order_id)?;
    if key_after(&charge.order_id, seen) == charge.idempotency_key {
        kv.set(
            &declines_key(&charge.order_id),
            (seen + 1).to_string().as_bytes(),
        )?;
    }
    Ok(())
}

#[derive(Deserialize)]
struct ChargeBody {
    id: String,
}

/// Stripe's error shape: `{"error": {"type", "code", "decline_code", "message", "param"}}`.
#[derive(Debug, Deserialize)]
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

fn refused(message: String) -> ApiError {
    ApiError::Validation(vec![FieldError::new("token", message)])
}

fn provider_down(cause: String) -> ApiError {
    eprintln!("stripe: {cause}");
    ApiError::Unavailable(PROVIDER_DOWN.to_owned())
}

/// What Stripe's answer means: 2xx the charge id; 402 (card error) and 400 (invalid
/// request) a 400 on `token` with Stripe's message; anything else, or no answer, 503
/// [`PROVIDER_DOWN`].
pub fn interpret(answer: Result<OutboundResponse, String>) -> Result<String, ApiError> {
    let response = answer.map_err(provider_down)?;
    let body_text = || String::from_utf8_lossy(&response.body).into_owned();
    match response.status {
        200..=299 => serde_json::from_slice::<ChargeBody>(&response.body)
            .map(|charge| charge.id)
            .map_err(|_| provider_down(format!("a charge without an id: {}", body_text()))),
        status @ (400 | 402) => {
            let error = parse_error(&response.body);
            eprintln!("stripe refused a charge ({status}): {}", body_text());
            let fallback = if status == 402 {
                "Your card was declined."
            } else {
                "The payment request was refused"
            };
            Err(refused(
                error
                    .and_then(|e| e.message)
                    .unwrap_or_else(|| fallback.to_owned()),
            ))
        }
        status => Err(provider_down(format!("status {status}: {}", body_text()))),
    }
}

/// Whether an answer was a decline (Stripe remembers it under the idempotency key).
pub fn is_decline(answer: &Result<OutboundResponse, String>) -> bool {
    matches!(answer, Ok(response) if response.status == 402)
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_shared::kv::MemoryKv;

    fn answer(status: u16, body: &str) -> Result<OutboundResponse, String> {
        Ok(OutboundResponse {
            status,
            body: body.as_bytes().to_vec(),
        })
    }

    fn field_error(e: ApiError) -> (u16, String, Option<String>) {
        let status = e.status();
        let first = e.errors().remove(0);
        (status, first.message, first.field)
    }

    #[test]
    fn a_successful_charge_gives_its_id() {
        let ok = answer(200, r#"{"id":"ch_3Mtw","object":"charge","amount":2000}"#);
        assert_eq!(interpret(ok), Ok("ch_3Mtw".to_owned()));
        assert_eq!(interpret(answer(200, "{}")).unwrap_err().status(), 503);
    }

    #[test]
    fn card_errors_are_the_buyers_to_fix() {
        let declined = answer(
            402,
            r#"{"error":{"type":"card_error","code":"card_declined",
                "decline_code":"generic_decline","message":"Your card was declined.",
                "param":""}}"#,
        );
        assert!(is_decline(&declined));
        assert_eq!(
            field_error(interpret(declined).unwrap_err()),
            (400, "Your card was declined.".into(), Some("token".into()))
        );
        let invalid = answer(
            400,
            r#"{"error":{"type":"invalid_request_error","message":"No such token: 'tok_x'",
                "param":"source"}}"#,
        );
        assert!(!is_decline(&invalid));
        assert_eq!(
            field_error(interpret(invalid).unwrap_err()),
            (400, "No such token: 'tok_x'".into(), Some("token".into()))
        );
        assert_eq!(
            field_error(interpret(answer(402, "not json")).unwrap_err()).1,
            "Your card was declined."
        );
    }

    #[test]
    fn provider_failures_are_try_again() {
        for status in [401, 403, 404, 409, 429, 500, 502, 503] {
            let e = interpret(answer(status, r#"{"error":{"type":"api_error"}}"#)).unwrap_err();
            assert_eq!(
                field_error(e),
                (503, PROVIDER_DOWN.into(), None),
                "{status}"
            );
        }
        let unreachable = interpret(Err("connection refused".into())).unwrap_err();
        assert_eq!(unreachable.status(), 503);
        let error = parse_error(
            br#"{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"m","param":"p"}}"#,
        )
        .unwrap();
        assert_eq!(error.kind.as_deref(), Some("card_error"));
        assert_eq!(error.code.as_deref(), Some("card_declined"));
        assert_eq!(error.decline_code.as_deref(), Some("insufficient_funds"));
        assert_eq!(error.param.as_deref(), Some("p"));
    }

    #[test]
    fn requests_are_form_encoded_with_an_order_idempotency_key() {
        let stripe = Stripe {
            secret_key: "sk_test_1".into(),
            api_base: "http://stripe.local:12111/".into(),
            publishable_key: String::new(),
        };
        let charge = Charge {
            order_id: "o1".into(),
            amount_cents: 1999,
            token: "tok_visa&x=1 é".into(),
            idempotency_key: "boxoffice-order-o1".into(),
        };
        assert_eq!(stripe.charges_url(), "http://stripe.local:12111/v1/charges");
        assert_eq!(
            String::from_utf8(form_body(&charge)).unwrap(),
            "amount=1999&currency=usd&source=tok_visa%26x%3D1+%C3%A9&description=boxoffice+order+o1"
        );
        let headers = stripe.headers(&charge);
        assert!(headers.contains(&("authorization".into(), "Bearer sk_test_1".into())));
        assert!(headers.contains(&("idempotency-key".into(), "boxoffice-order-o1".into())));
        assert!(headers.contains(&(
            "content-type".into(),
            "application/x-www-form-urlencoded".into()
        )));
        let unconfigured = Stripe {
            secret_key: " ".into(),
            ..stripe
        };
        assert_eq!(
            unconfigured.require_configured(),
            Err(ApiError::Unavailable(NOT_CONFIGURED.into()))
        );
    }

    #[test]
    fn refunds_are_form_encoded_with_one_key_per_order() {
        let stripe = Stripe {
            secret_key: "sk_test_1".into(),
            api_base: "http://stripe.local:12111/".into(),
            publishable_key: String::new(),
        };
        assert_eq!(stripe.refunds_url(), "http://stripe.local:12111/v1/refunds");
        assert_eq!(
            String::from_utf8(refund_body("ch_1&x")).unwrap(),
            "charge=ch_1%26x"
        );
        let headers = stripe.refund_headers("o1");
        assert!(headers.contains(&("authorization".into(), "Bearer sk_test_1".into())));
        assert!(headers.contains(&("idempotency-key".into(), "boxoffice-refund-o1".into())));
        assert!(headers.contains(&(
            "content-type".into(),
            "application/x-www-form-urlencoded".into()
        )));
    }

    #[test]
    fn refund_answers_mean_done_try_again_or_never() {
        let ok = answer(
            200,
            r#"{"id":"re_1","object":"refund","amount":2000,"charge":"ch_1","status":"succeeded"}"#,
        );
        assert_eq!(interpret_refund(ok), Ok(Refunded::Now("re_1".into())));
        assert_eq!(Refunded::Now("re_1".into()).id(), Some("re_1"));
        let already = answer(
            400,
            r#"{"error":{"type":"invalid_request_error","code":"charge_already_refunded",
                "message":"Charge ch_1 has already been refunded."}}"#,
        );
        assert_eq!(interpret_refund(already), Ok(Refunded::Before));
        assert_eq!(Refunded::Before.id(), None);
        let missing = answer(
            400,
            r#"{"error":{"type":"invalid_request_error","code":"resource_missing",
                "message":"No such charge: 'ch_x'","param":"charge"}}"#,
        );
        assert_eq!(interpret_refund(missing).unwrap_err().status(), 400);
        assert_eq!(
            interpret_refund(answer(400, "nope")).unwrap_err().status(),
            400
        );
        for status in [401, 403, 409, 429, 500, 502, 503] {
            let e = interpret_refund(answer(status, r#"{"error":{"type":"api_error"}}"#));
            assert_eq!(e.unwrap_err().status(), 503, "{status}");
        }
        assert_eq!(
            interpret_refund(answer(200, "{}")).unwrap_err().status(),
            503
        );
        let unreachable = interpret_refund(Err("connection refused".into()));
        assert_eq!(unreachable.unwrap_err().status(), 503);
    }

    #[test]
    fn a_decline_moves_the_next_attempt_to_a_fresh_key() {
        let kv = MemoryKv::default();
        let key = idempotency_key(&kv, "o1").unwrap();
        assert_eq!(key, "boxoffice-order-o1");
        let attempt = |key: String| Charge {
            order_id: "o1".into(),
            amount_cents: 100,
            token: "tok".into(),
            idempotency_key: key,
        };
        note_decline(&kv, &attempt(key.clone())).unwrap();
        let second = idempotency_key(&kv, "o1").unwrap();
        assert_eq!(second, "boxoffice-order-o1-1");
        // A concurrent request declined under the first key changes nothing more.
        note_decline(&kv, &attempt(key)).unwrap();
        assert_eq!(idempotency_key(&kv, "o1").unwrap(), second);
        note_decline(&kv, &attempt(second)).unwrap();
        assert_eq!(idempotency_key(&kv, "o1").unwrap(), "boxoffice-order-o1-2");
    }
}
