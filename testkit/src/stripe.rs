//! A faithful fake of the part of Stripe's HTTP API that boxoffice uses, on 127.0.0.1, for
//! tests (Stripe itself cannot be reached from here). It follows Stripe's documented
//! behaviour: bearer-key authentication, form-encoded `POST /v1/charges`, the test tokens
//! (`tok_visa`, `tok_chargeDeclined`, ...), the error body
//! `{"error":{"type","code","decline_code","message","param"}}` with 400/401/402 statuses,
//! and idempotency keys (a repeated key with the same parameters replays the first answer
//! with `Idempotent-Replayed: true`; with other parameters it is a 400 `idempotency_error`).
//! `GET /v1/charges` lists what was charged, so tests can count charges.
//! `POST /v1/refunds` refunds a whole charge (`charge` required; an unknown one is a 400
//! `resource_missing`, a refunded one a 400 `charge_already_refunded`), honours
//! idempotency keys like charges, and marks the charge `refunded`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};

use crate::local_server::LocalServer;

/// The fake's secret key: tests give it to the shop as `stripe_secret_key`.
pub const SECRET_KEY: &str = "sk_test_boxoffice_fake_0123456789";

/// What Stripe remembers of a request made with an idempotency key: its parameters, and
/// the status and body it first answered.
struct Remembered {
    params: Vec<(String, String)>,
    status: u16,
    body: Value,
}

#[derive(Default)]
struct State {
    charges: Vec<Value>,
    refunds: Vec<Value>,
    idempotent: HashMap<String, Remembered>,
    requests: usize,
}

/// A running fake Stripe; stops when dropped.
pub struct FakeStripe {
    server: LocalServer,
    state: Arc<Mutex<State>>,
}

impl FakeStripe {
    pub fn start() -> FakeStripe {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let server = LocalServer::start(move |req| {
            let state = shared.clone();
            async move { handle(&state, req).await }
        });
        FakeStripe { server, state }
    }

    /// The base URL to give the shop as `stripe_api_base`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The shop's variables that point payments at this fake: `stripe_secret_key` and
    /// `stripe_api_base`.
    pub fn variables(&self) -> Vec<(String, String)> {
        vec![
            ("stripe_secret_key".to_owned(), SECRET_KEY.to_owned()),
            ("stripe_api_base".to_owned(), self.base_url()),
        ]
    }

    /// Every successful charge so far.
    pub fn charges(&self) -> Vec<Value> {
        self.state.lock().unwrap().charges.clone()
    }

    /// Every successful refund so far.
    pub fn refunds(&self) -> Vec<Value> {
        self.state.lock().unwrap().refunds.clone()
    }

    /// How many requests reached the fake.
    pub fn requests(&self) -> usize {
        self.state.lock().unwrap().requests
    }
}

fn respond(status: u16, body: &Value, replayed: bool) -> Response<Full<Bytes>> {
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", "application/json")
        .header("request-id", format!("req_{}", random_suffix()));
    if replayed {
        builder = builder.header("idempotent-replayed", "true");
    }
    builder
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn error(kind: &str, message: &str, extra: Value) -> Value {
    let mut error = json!({"type": kind, "message": message});
    if let (Some(error), Some(extra)) = (error.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            error.insert(k.clone(), v.clone());
        }
    }
    json!({ "error": error })
}

fn random_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    format!(
        "{:014x}{:010x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

async fn handle(state: &Mutex<State>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    state.lock().unwrap().requests += 1;
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();

    let key = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match key {
        None => {
            return respond(
                401,
                &error(
                    "invalid_request_error",
                    "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
                    json!({}),
                ),
                false,
            )
        }
        Some(key) if key != SECRET_KEY => {
            let shown = format!("{}****", &key[..key.len().min(8)]);
            return respond(
                401,
                &error(
                    "invalid_request_error",
                    &format!("Invalid API Key provided: {shown}"),
                    json!({}),
                ),
                false,
            );
        }
        Some(_) => {}
    }

    let path = parts.uri.path();
    match (parts.method.as_str(), path) {
        ("POST", "/v1/charges" | "/v1/refunds") => {
            let params: Vec<(String, String)> = form_urlencoded::parse(&body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let idempotency_key = parts
                .headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            // One lock over look-up, execution and saving: a concurrent request with the same
            // key sees the first one's answer, as on Stripe, never a second execution.
            let mut state = state.lock().unwrap();
            if let Some(key) = &idempotency_key {
                if let Some(first) = state.idempotent.get(key) {
                    if first.params == params {
                        return respond(first.status, &first.body, true);
                    }
                    return respond(
                        400,
                        &error(
                            "idempotency_error",
                            &format!("Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."),
                            json!({}),
                        ),
                        false,
                    );
                }
            }
            let (status, body, saved) = if path == "/v1/refunds" {
                create_refund(&mut state, &params)
            } else {
                create_charge(&mut state, &params)
            };
            // Stripe saves the result once the request started executing (charges and
            // declines alike), not for requests refused by parameter validation.
            if let (Some(key), true) = (idempotency_key, saved) {
                state.idempotent.insert(
                    key,
                    Remembered {
                        params,
                        status,
                        body: body.clone(),
                    },
                );
            }
            respond(status, &body, false)
        }
        ("GET", "/v1/charges") => {
            let data = state.lock().unwrap().charges.clone();
            respond(
                200,
                &json!({"object": "list", "data": data, "has_more": false, "url": "/v1/charges"}),
                false,
            )
        }
        (method, path) => {
            let found = if method == "GET" {
                path.strip_prefix("/v1/charges/").and_then(|id| {
                    state
                        .lock()
                        .unwrap()
                        .charges
                        .iter()
                        .find(|c| c["id"] == id)
                        .cloned()
                })
            } else {
                None
            };
            match found {
                Some(charge) => respond(200, &charge, false),
                None => respond(
                    404,
                    &error(
                        "invalid_request_error",
                        &format!("Unrecognized request URL ({method}: {path})."),
                        json!({}),
                    ),
                    false,
                ),
            }
        }
    }
}

/// Creates a charge; returns the status, the body and whether Stripe would save the
/// answer for its idempotency key.
fn create_charge(state: &mut State, params: &[(String, String)]) -> (u16, Value, bool) {
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let invalid = |message: &str, param: &str, code: Option<&str>| {
        let mut extra = json!({"param": param});
        if let Some(code) = code {
            extra["code"] = json!(code);
        }
        (400, error("invalid_request_error", message, extra), false)
    };
    let Some(amount) = param("amount") else {
        return invalid(
            "Missing required param: amount.",
            "amount",
            Some("parameter_missing"),
        );
    };
    let Ok(amount) = amount.parse::<i64>() else {
        return invalid("Invalid integer: ".to_string().as_str(), "amount", None);
    };
    let Some(currency) = param("currency") else {
        return invalid(
            "Missing required param: currency.",
            "currency",
            Some("parameter_missing"),
        );
    };
    if currency != "usd" && currency != "eur" && currency != "gbp" {
        return invalid(
            &format!("Invalid currency: {currency}. Stripe currently supports these currencies: usd, eur, gbp, ..."),
            "currency",
            None,
        );
    }
    if amount < 50 {
        return invalid(
            "Amount must be at least $0.50 usd",
            "amount",
            Some("amount_too_small"),
        );
    }
    if amount > 99_999_999 {
        return invalid(
            "Amount must be no more than $999,999.99",
            "amount",
            Some("amount_too_large"),
        );
    }
    let Some(source) = param("source") else {
        return invalid("Must provide source or customer.", "source", None);
    };
    let card = |brand: &str, last4: &str| json!({"id": format!("card_{}", random_suffix()), "object": "card", "brand": brand, "last4": last4});
    let decline = |code: &str, decline_code: Option<&str>, message: &str| {
        let mut extra = json!({"code": code, "charge": format!("ch_{}", random_suffix())});
        if let Some(d) = decline_code {
            extra["decline_code"] = json!(d);
        }
        (402, error("card_error", message, extra), true)
    };
    let card = match source {
        "tok_visa" => card("Visa", "4242"),
        "tok_mastercard" => card("MasterCard", "4444"),
        "tok_amex" => card("American Express", "8431"),
        "tok_chargeDeclined" => {
            return decline(
                "card_declined",
                Some("generic_decline"),
                "Your card was declined.",
            )
        }
        "tok_chargeDeclinedInsufficientFunds" => {
            return decline(
                "card_declined",
                Some("insufficient_funds"),
                "Your card has insufficient funds.",
            )
        }
        "tok_chargeDeclinedExpiredCard" => {
            return decline("expired_card", None, "Your card has expired.")
        }
        "tok_chargeDeclinedIncorrectCvc" => {
            return decline(
                "incorrect_cvc",
                None,
                "Your card's security code is incorrect.",
            )
        }
        other => {
            return invalid(
                &format!("No such token: '{other}'"),
                "source",
                Some("resource_missing"),
            )
        }
    };
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let charge = json!({
        "id": format!("ch_{}", random_suffix()),
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": 0,
        "captured": true,
        "currency": currency,
        "description": param("description"),
        "livemode": false,
        "paid": true,
        "refunded": false,
        "source": card,
        "status": "succeeded",
        "created": created,
    });
    state.charges.push(charge.clone());
    (200, charge, true)
}

/// Refunds a whole charge; returns the status, the body and whether Stripe would save the
/// answer for its idempotency key.
fn create_refund(state: &mut State, params: &[(String, String)]) -> (u16, Value, bool) {
    let invalid = |message: &str, code: &str| {
        (
            400,
            error(
                "invalid_request_error",
                message,
                json!({"param": "charge", "code": code}),
            ),
            false,
        )
    };
    let Some(charge_id) = params
        .iter()
        .find(|(k, _)| k == "charge")
        .map(|(_, v)| v.as_str())
    else {
        return (
            400,
            error(
                "invalid_request_error",
                "One of the following params should be provided for this request: payment_intent or charge.",
                json!({"code": "parameter_missing"}),
            ),
            false,
        );
    };

    let Some(charge) = state.charges.iter_mut().find(|c| c["id"] == charge_id) else {
        return invalid(
            &format!("No such charge: '{charge_id}'"),
            "resource_missing",
        );
    };
    if charge["refunded"] == true {
        let message = format!("Charge {charge_id} has already been refunded.");
        return (
            400,
            error(
                "invalid_request_error",
                &message,
                json!({"code": "charge_already_refunded"}),
            ),
            false,
        );
    }
    let amount = charge["amount"].clone();
    charge["refunded"] = json!(true);
    charge["amount_refunded"] = amount.clone();
    let refund = json!({
        "id": format!("re_{}", random_suffix()),
        "object": "refund",
        "amount": amount,
        "charge": charge_id,
        "currency": charge["currency"].clone(),
        "status": "succeeded",
        "created": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    });
    state.refunds.push(refund.clone());
    (200, refund, true)
}
