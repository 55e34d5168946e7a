//! PaymentIntents, charges and card tokens, as Stripe documents them.
//!
//! - An intent is created `requires_payment_method`
//!   (<https://docs.stripe.com/payments/paymentintents/lifecycle>); confirming it with a
//!   payment method (`payment_method=pm_…`, or `payment_method_data[type]=card` with
//!   `payment_method_data[card][token]=tok_…`) makes it `succeeded` with a charge,
//!   `requires_action` (3-D Secure), or, on a decline, a 402 `card_error` that leaves it
//!   `requires_payment_method` with `last_payment_error`, to be confirmed again.
//! - The test payment methods and tokens are those of <https://docs.stripe.com/testing>
//!   ([`TEST_CARDS`]); they are reusable. Minted tokens (`tok_1…`, from `POST /v1/tokens` or
//!   [`super::FakeStripe::mint_token`]) are single use, as Stripe's tokens are.
//! - Confirming an intent that `succeeded`, was `canceled` or is `processing` is a 400
//!   `payment_intent_unexpected_state` carrying the intent.
//! - `POST /v1/payment_intents/{id}/authenticate` is NOT a Stripe API: it stands for the
//!   buyer completing or failing the 3-D Secure challenge inside Stripe.js's frame, which
//!   on Stripe happens between the browser, the card's issuer and Stripe.

use serde_json::{json, Value};

use super::{new_id, unix_now, Answer, Params, State};

/// What a test card does when a payment is confirmed with it.
#[derive(Debug)]
pub enum Behaviour {
    Succeed,
    /// Needs 3-D Secure: the intent becomes `requires_action`.
    Authenticate,
    /// Declined with this `code`, `decline_code` and message.
    Decline {
        code: &'static str,
        decline_code: Option<&'static str>,
        message: &'static str,
    },
}

/// A test card of <https://docs.stripe.com/testing>: its PaymentMethod, its token (if it
/// has one), its number, and what it does.
#[derive(Debug)]
pub struct TestCard {
    pub payment_method: &'static str,
    pub token: Option<&'static str>,
    pub number: &'static str,
    pub brand: &'static str,
    pub last4: &'static str,
    pub behaviour: Behaviour,
}

const fn decline(
    code: &'static str,
    decline_code: Option<&'static str>,
    message: &'static str,
) -> Behaviour {
    Behaviour::Decline {
        code,
        decline_code,
        message,
    }
}

/// The test cards the fake knows (<https://docs.stripe.com/testing>).
pub const TEST_CARDS: &[TestCard] = &[
    TestCard {
        payment_method: "pm_card_visa",
        token: Some("tok_visa"),
        number: "4242424242424242",
        brand: "visa",
        last4: "4242",
        behaviour: Behaviour::Succeed,
    },
    TestCard {
        payment_method: "pm_card_mastercard",
        token: Some("tok_mastercard"),
        number: "5555555555554444",
        brand: "mastercard",
        last4: "4444",
        behaviour: Behaviour::Succeed,
    },
    TestCard {
        payment_method: "pm_card_amex",
        token: Some("tok_amex"),
        number: "371449635398431",
        brand: "amex",
        last4: "8431",
        behaviour: Behaviour::Succeed,
    },
    TestCard {
        payment_method: "pm_card_authenticationRequired",
        token: None,
        number: "4000002760003184",
        brand: "visa",
        last4: "3184",
        behaviour: Behaviour::Authenticate,
    },
    TestCard {
        payment_method: "pm_card_threeDSecure2Required",
        token: Some("tok_threeDSecure2Required"),
        number: "4000000000003220",
        brand: "visa",
        last4: "3220",
        behaviour: Behaviour::Authenticate,
    },
    TestCard {
        payment_method: "pm_card_chargeDeclined",
        token: Some("tok_chargeDeclined"),
        number: "4000000000000002",
        brand: "visa",
        last4: "0002",
        behaviour: decline(
            "card_declined",
            Some("generic_decline"),
            "Your card was declined.",
        ),
    },
    TestCard {
        payment_method: "pm_card_visa_chargeDeclinedInsufficientFunds",
        token: Some("tok_chargeDeclinedInsufficientFunds"),
        number: "4000000000009995",
        brand: "visa",
        last4: "9995",
        behaviour: decline(
            "card_declined",
            Some("insufficient_funds"),
            "Your card has insufficient funds.",
        ),
    },
    TestCard {
        payment_method: "pm_card_chargeDeclinedExpiredCard",
        token: Some("tok_chargeDeclinedExpiredCard"),
        number: "4000000000000069",
        brand: "visa",
        last4: "0069",
        behaviour: decline("expired_card", None, "Your card has expired."),
    },
    TestCard {
        payment_method: "pm_card_chargeDeclinedIncorrectCvc",
        token: Some("tok_chargeDeclinedIncorrectCvc"),
        number: "4000000000000127",
        brand: "visa",
        last4: "0127",
        behaviour: decline(
            "incorrect_cvc",
            None,
            "Your card's security code is incorrect.",
        ),
    },
];

/// The message Stripe gives when 3-D Secure fails.
pub const AUTHENTICATION_FAILURE: &str = "We are unable to authenticate your payment method. Please choose a different payment method and try again.";

const CURRENCIES: [&str; 3] = ["usd", "eur", "gbp"];

/// `POST /v1/payment_intents`.
pub(super) fn create(state: &mut State, params: &Params) -> Answer {
    if let Some(unknown) = params.unknown(&[
        "amount",
        "currency",
        "description",
        "metadata",
        "payment_method_types",
        "payment_method",
        "payment_method_data",
        "confirm",
        "return_url",
        "receipt_email",
        "use_stripe_sdk",
    ]) {
        return unknown;
    }
    let Some(amount) = params.get("amount") else {
        return Answer::invalid(
            "Missing required param: amount.",
            Some("parameter_missing"),
            Some("amount"),
        );
    };
    let Ok(amount) = amount.parse::<i64>() else {
        return Answer::invalid(
            &format!("Invalid integer: {amount}"),
            Some("parameter_invalid_integer"),
            Some("amount"),
        );
    };
    let Some(currency) = params.get("currency") else {
        return Answer::invalid(
            "Missing required param: currency.",
            Some("parameter_missing"),
            Some("currency"),
        );
    };
    if !CURRENCIES.contains(&currency) {
        return Answer::invalid(
            &format!("Invalid currency: {currency}. Stripe currently supports these currencies: usd, eur, gbp, ..."),
            None,
            Some("currency"),
        );
    }
    if amount < 50 {
        return Answer::invalid(
            "Amount must be at least $0.50 usd",
            Some("amount_too_small"),
            Some("amount"),
        );
    }
    if amount > 99_999_999 {
        return Answer::invalid(
            "Amount must be no more than $999,999.99",
            Some("amount_too_large"),
            Some("amount"),
        );
    }
    let types = match params.nested.get("payment_method_types") {
        None => json!(["card"]),
        Some(Value::Array(types)) if types.iter().all(|t| t == "card") && !types.is_empty() => {
            json!(types)
        }
        Some(_) => {
            return Answer::invalid(
                "The fake Stripe only knows the payment method type `card`.",
                Some("payment_method_type_invalid"),
                Some("payment_method_types"),
            )
        }
    };
    let confirm = match params.get("confirm") {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Answer::invalid(&format!("Invalid boolean: {other}"), None, Some("confirm"))
        }
    };
    // Check the payment method before creating anything: a bad one is a validation error.
    let method = if confirm {
        match resolve_method(state, params) {
            Ok(Some(method)) => Some(method),
            Ok(None) => {
                return Answer::invalid(
                    "Missing required param: payment_method.",
                    Some("parameter_missing"),
                    Some("payment_method"),
                )
            }
            Err(answer) => return answer,
        }
    } else {
        None
    };

    let id = new_id("pi");
    let intent = json!({
        "id": id,
        "object": "payment_intent",
        "amount": amount,
        "amount_received": 0,
        "currency": currency,
        "status": "requires_payment_method",
        "client_secret": format!("{id}_secret_{}", new_id("s").trim_start_matches("s_")),
        "capture_method": "automatic",
        "confirmation_method": "automatic",
        "payment_method_types": types,
        "metadata": params.metadata(),
        "description": params.get("description"),
        "latest_charge": null,
        "last_payment_error": null,
        "next_action": null,
        "payment_method": null,
        "canceled_at": null,
        "cancellation_reason": null,
        "created": unix_now(),
        "livemode": false,
    });
    state.intents.insert(id.clone(), intent.clone());
    state.emit("payment_intent.created", &intent);
    match method {
        Some(method) => attempt(state, &id, method),
        None => Answer::ok(intent),
    }
}

/// `POST /v1/payment_intents/{id}/confirm`.
pub(super) fn confirm(state: &mut State, id: &str, params: &Params) -> Answer {
    if let Some(unknown) = params.unknown(&[
        "payment_method",
        "payment_method_data",
        "return_url",
        "receipt_email",
        "use_stripe_sdk",
    ]) {
        return unknown;
    }
    let Some(intent) = state.intents.get(id) else {
        return Answer::missing("payment_intent", id, "intent");
    };
    let status = intent["status"].as_str().unwrap_or_default();
    if let Some(answer) = unexpected_state(intent, status) {
        return answer;
    }
    let method = match resolve_method(state, params) {
        Ok(Some(method)) => method,
        // Confirming again with the payment method already on the intent (3-D Secure).
        Ok(None) => match intent["payment_method"]
            .as_str()
            .and_then(|pm| card_of_payment_method(state, pm).map(|card| (pm.to_owned(), card)))
        {
            Some(method) => Method::Existing(method.0, method.1),
            None => {
                return Answer {
                    status: 400,
                    body: super::error(
                        "invalid_request_error",
                        "You cannot confirm this PaymentIntent because it's missing a payment method. You can either update the PaymentIntent with a payment method and then confirm it again, or confirm it again directly with a payment method.",
                        json!({"code": "payment_intent_unexpected_state", "payment_intent": intent}),
                    ),
                    save: true,
                }
            }
        },
        Err(answer) => return answer,
    };
    attempt(state, id, method)
}

/// The 400 for confirming an intent that cannot be confirmed any more, saved under the
/// idempotency key (execution began).
fn unexpected_state(intent: &Value, status: &str) -> Option<Answer> {
    let message = match status {
        "succeeded" => "You cannot confirm this PaymentIntent because it has already succeeded after being previously confirmed.".to_owned(),
        "canceled" | "processing" => format!("You cannot confirm this PaymentIntent because it has a status of {status}. Only a PaymentIntent with one of the following statuses may be confirmed: requires_confirmation, requires_action, requires_payment_method."),
        _ => return None,
    };
    Some(Answer {
        status: 400,
        body: super::error(
            "invalid_request_error",
            &message,
            json!({"code": "payment_intent_unexpected_state", "payment_intent": intent}),
        ),
        save: true,
    })
}

/// The payment method a confirmation is made with.
pub(super) enum Method {
    /// A PaymentMethod id (a test one, or one made from a token earlier).
    Existing(String, &'static TestCard),
    /// A token (`payment_method_data[card][token]`): a PaymentMethod is made from it.
    Token(String, &'static TestCard),
}

/// The test card of a PaymentMethod id.
fn card_of_payment_method(state: &State, id: &str) -> Option<&'static TestCard> {
    TEST_CARDS
        .iter()
        .find(|c| c.payment_method == id)
        .or_else(|| state.payment_methods.get(id).copied())
}

/// The payment method of a confirmation's parameters: `Ok(None)` when none was given, an
/// error answer (not saved: validation) when it is unknown or a used token.
fn resolve_method(state: &State, params: &Params) -> Result<Option<Method>, Answer> {
    if let Some(pm) = params.get("payment_method") {
        return match card_of_payment_method(state, pm) {
            Some(card) => Ok(Some(Method::Existing(pm.to_owned(), card))),
            None => Err(Answer::invalid(
                &format!("No such PaymentMethod: '{pm}'"),
                Some("resource_missing"),
                Some("payment_method"),
            )),
        };
    }
    let Some(data) = params.nested.get("payment_method_data") else {
        return Ok(None);
    };
    if data["type"] != "card" {
        return Err(Answer::invalid(
            "Missing required param: payment_method_data[type].",
            Some("parameter_missing"),
            Some("payment_method_data[type]"),
        ));
    }
    let Some(token) = data["card"]["token"].as_str() else {
        return Err(Answer::invalid(
            "Missing required param: payment_method_data[card][token].",
            Some("parameter_missing"),
            Some("payment_method_data[card][token]"),
        ));
    };
    if let Some(card) = TEST_CARDS.iter().find(|c| c.token == Some(token)) {
        return Ok(Some(Method::Token(token.to_owned(), card)));
    }
    match state.tokens.get(token) {
        Some((_, true)) => Err(Answer::invalid(
            &format!("You cannot use a Stripe token more than once: {token}."),
            Some("token_already_used"),
            Some("payment_method_data[card][token]"),
        )),
        Some((card, false)) => Ok(Some(Method::Token(token.to_owned(), card))),
        None => Err(Answer::invalid(
            &format!("No such token: '{token}'"),
            Some("resource_missing"),
            Some("payment_method_data[card][token]"),
        )),
    }
}

/// A payment attempt on an intent that may be confirmed, with a resolved method.
fn attempt(state: &mut State, id: &str, method: Method) -> Answer {
    let (pm, card) = match method {
        Method::Existing(pm, card) => (pm, card),
        Method::Token(token, card) => {
            if let Some((_, used)) = state.tokens.get_mut(&token) {
                *used = true;
            }
            let pm = new_id("pm_1").replacen("pm_1_", "pm_1", 1);
            state.payment_methods.insert(pm.clone(), card);
            (pm, card)
        }
    };
    match &card.behaviour {
        Behaviour::Succeed => Answer::ok(succeed(state, id, &pm, card)),
        Behaviour::Authenticate => {
            let intent = state.intents.get_mut(id).expect("checked");
            intent["status"] = json!("requires_action");
            intent["payment_method"] = json!(pm);
            intent["last_payment_error"] = Value::Null;
            intent["next_action"] = json!({
                "type": "use_stripe_sdk",
                "use_stripe_sdk": {"type": "three_d_secure_redirect"},
            });
            let intent = intent.clone();
            state.emit("payment_intent.requires_action", &intent);
            Answer::ok(intent)
        }
        Behaviour::Decline {
            code,
            decline_code,
            message,
        } => {
            let intent = &state.intents[id];
            // A declined payment is a failed charge (event `charge.failed`), never in
            // `charges()`, which lists the successful ones.
            let charge_id = new_id("ch");
            let mut charge = charge_object(&charge_id, intent, &pm, card);
            charge["status"] = json!("failed");
            charge["paid"] = json!(false);
            charge["captured"] = json!(false);
            charge["amount_captured"] = json!(0);
            charge["failure_code"] = json!(code);
            charge["failure_message"] = json!(message);
            state.failed_charges.push(charge.clone());
            state.emit("charge.failed", &charge);

            let mut last_error = json!({
                "type": "card_error",
                "code": code,
                "message": message,
                "charge": charge_id,
                "payment_method": {"id": pm, "object": "payment_method", "type": "card"},
            });
            if let Some(decline_code) = decline_code {
                last_error["decline_code"] = json!(decline_code);
            }
            let intent = state.intents.get_mut(id).expect("checked");
            intent["status"] = json!("requires_payment_method");
            intent["payment_method"] = Value::Null;
            intent["next_action"] = Value::Null;
            intent["latest_charge"] = json!(charge_id);
            intent["last_payment_error"] = last_error.clone();
            let intent = intent.clone();
            state.emit("payment_intent.payment_failed", &intent);

            let mut error = last_error;
            error["payment_intent"] = intent;
            Answer {
                status: 402,
                body: json!({ "error": error }),
                save: true,
            }
        }
    }
}

/// A charge of `intent` with `pm`, as a successful one.
fn charge_object(charge_id: &str, intent: &Value, pm: &str, card: &TestCard) -> Value {
    json!({
        "id": charge_id,
        "object": "charge",
        "amount": intent["amount"],
        "amount_captured": intent["amount"],
        "amount_refunded": 0,
        "currency": intent["currency"],
        "description": intent["description"],
        "metadata": intent["metadata"],
        "payment_intent": intent["id"],
        "payment_method": pm,
        "payment_method_details": {
            "type": "card",
            "card": {"brand": card.brand, "last4": card.last4},
        },
        "paid": true,
        "captured": true,
        "refunded": false,
        "disputed": false,
        "status": "succeeded",
        "failure_code": null,
        "failure_message": null,
        "created": unix_now(),
        "livemode": false,
    })
}

/// The intent succeeds: a charge, `charge.succeeded` then `payment_intent.succeeded`.
fn succeed(state: &mut State, id: &str, pm: &str, card: &TestCard) -> Value {
    let charge_id = new_id("ch");
    let charge = charge_object(&charge_id, &state.intents[id], pm, card);
    state.charges.push(charge.clone());
    state.emit("charge.succeeded", &charge);
    let intent = state.intents.get_mut(id).expect("checked");
    intent["status"] = json!("succeeded");
    intent["amount_received"] = intent["amount"].clone();
    intent["latest_charge"] = json!(charge_id);
    intent["payment_method"] = json!(pm);
    intent["last_payment_error"] = Value::Null;
    intent["next_action"] = Value::Null;
    let intent = intent.clone();
    state.emit("payment_intent.succeeded", &intent);
    intent
}

/// The buyer completes or fails 3-D Secure on an intent in `requires_action` (the
/// stand-in for Stripe.js's challenge frame; not a Stripe API).
pub(super) fn authenticate(state: &mut State, id: &str, complete: bool) -> Answer {
    let Some(intent) = state.intents.get(id) else {
        return Answer::missing("payment_intent", id, "intent");
    };
    let status = intent["status"].as_str().unwrap_or_default();
    if status != "requires_action" {
        return Answer {
            status: 400,
            body: super::error(
                "invalid_request_error",
                &format!("This PaymentIntent's authentication cannot be completed because it has a status of {status}."),
                json!({"code": "payment_intent_unexpected_state", "payment_intent": intent}),
            ),
            save: true,
        };
    }
    let pm = intent["payment_method"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if complete {
        let card = card_of_payment_method(state, &pm)
            .expect("an intent awaiting 3-D Secure has a known payment method");
        return Answer::ok(succeed(state, id, &pm, card));
    }
    let intent = state.intents.get_mut(id).expect("checked");
    intent["status"] = json!("requires_payment_method");
    intent["payment_method"] = Value::Null;
    intent["next_action"] = Value::Null;
    intent["last_payment_error"] = json!({
        "type": "invalid_request_error",
        "code": "payment_intent_authentication_failure",
        "message": AUTHENTICATION_FAILURE,
        "payment_method": {"id": pm, "object": "payment_method", "type": "card"},
    });
    let intent = intent.clone();
    state.emit("payment_intent.payment_failed", &intent);
    Answer::ok(intent)
}

/// `POST /v1/payment_intents/{id}/authenticate` (not a Stripe API; see the module).
pub(super) fn authenticate_request(state: &mut State, id: &str, params: &Params) -> Answer {
    if let Some(unknown) = params.unknown(&["client_secret", "outcome"]) {
        return unknown;
    }
    let Some(intent) = state.intents.get(id) else {
        return Answer::missing("payment_intent", id, "intent");
    };
    if params.get("client_secret") != intent["client_secret"].as_str() {
        return Answer::invalid(
            "The client_secret provided does not match the client_secret associated with the PaymentIntent.",
            None,
            Some("client_secret"),
        );
    }
    match params.get("outcome") {
        Some("complete") => authenticate(state, id, true),
        Some("fail") => authenticate(state, id, false),
        _ => Answer::invalid(
            "outcome must be complete or fail.",
            Some("parameter_invalid"),
            Some("outcome"),
        ),
    }
}

/// A single-use token for a test card number, or `None` for a number the fake does not
/// know.
pub(super) fn mint_token(state: &mut State, number: &str) -> Option<String> {
    let digits: String = number.chars().filter(|c| !c.is_whitespace()).collect();
    let card = TEST_CARDS.iter().find(|c| c.number == digits)?;
    let token = new_id("tok_1").replacen("tok_1_", "tok_1", 1);
    state.tokens.insert(token.clone(), (card, false));
    Some(token)
}

/// `POST /v1/tokens` with `card[number]` (<https://docs.stripe.com/api/tokens/create_card>).
pub(super) fn create_token(state: &mut State, params: &Params) -> Answer {
    if let Some(unknown) = params.unknown(&["card"]) {
        return unknown;
    }
    let Some(number) = params.nested["card"]["number"].as_str() else {
        return Answer::invalid(
            "Missing required param: card[number].",
            Some("parameter_missing"),
            Some("card[number]"),
        );
    };
    let Some(token) = mint_token(state, number) else {
        // Stripe answers an unusable number with a card error.
        return Answer {
            status: 402,
            body: super::error(
                "card_error",
                "Your card number is incorrect.",
                json!({"code": "incorrect_number", "param": "number"}),
            ),
            save: true,
        };
    };
    let card = state.tokens[&token].0;
    Answer::ok(json!({
        "id": token,
        "object": "token",
        "type": "card",
        "card": {
            "id": new_id("card"),
            "object": "card",
            "brand": card.brand,
            "last4": card.last4,
        },
        "used": false,
        "created": unix_now(),
        "livemode": false,
    }))
}
