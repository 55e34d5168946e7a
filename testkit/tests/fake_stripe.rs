//! The fake Stripe behaves as Stripe documents it, and fails the ways Stripe fails: plain
//! HTTP against the fake on 127.0.0.1, and a local receiver for its webhooks.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use boxoffice_testkit::local_server::LocalServer;
use boxoffice_testkit::stripe::{
    signature_header, Endpoint, FakeStripe, Fault, RefundOutcome, PUBLISHABLE_KEY, SECRET_KEY,
    WEBHOOK_SECRET,
};
use boxoffice_testkit::{send, try_send, Resp};
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use sha2::Sha256;

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
        .into_bytes()
}

/// POSTs a form with this key (and idempotency key); an error when no answer came.
fn post_as(
    stripe: &FakeStripe,
    key: &str,
    path: &str,
    idempotency_key: Option<&str>,
    pairs: &[(&str, &str)],
) -> Result<Resp, String> {
    let auth = format!("Bearer {key}");
    let mut headers = vec![
        ("authorization", auth.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    if let Some(idempotency_key) = idempotency_key {
        headers.push(("idempotency-key", idempotency_key));
    }
    try_send(
        "POST",
        &format!("{}{path}", stripe.base_url()),
        &headers,
        Some(form(pairs)),
    )
}

fn post(
    stripe: &FakeStripe,
    path: &str,
    idempotency_key: Option<&str>,
    pairs: &[(&str, &str)],
) -> Resp {
    post_as(stripe, SECRET_KEY, path, idempotency_key, pairs)
        .unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

fn get(stripe: &FakeStripe, path: &str) -> Resp {
    let auth = format!("Bearer {SECRET_KEY}");
    send(
        "GET",
        &format!("{}{path}", stripe.base_url()),
        &[("authorization", &auth)],
        None,
    )
}

fn create_intent(stripe: &FakeStripe) -> Value {
    let resp = post(
        stripe,
        "/v1/payment_intents",
        None,
        &[
            ("amount", "1500"),
            ("currency", "usd"),
            ("description", "2 tickets"),
            ("metadata[order_id]", "ord_1"),
        ],
    );
    assert_eq!(resp.status, 200, "{}", resp.text);
    resp.json
}

fn confirm(stripe: &FakeStripe, intent: &Value, pm: &str, idempotency_key: Option<&str>) -> Resp {
    let id = intent["id"].as_str().unwrap();
    post(
        stripe,
        &format!("/v1/payment_intents/{id}/confirm"),
        idempotency_key,
        &[("payment_method", pm)],
    )
}

fn replayed(resp: &Resp) -> bool {
    resp.headers
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true")
}

fn types(stripe: &FakeStripe) -> Vec<String> {
    stripe
        .events()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn intent_create_confirm_retrieve() {
    let stripe = FakeStripe::start();
    let intent = create_intent(&stripe);
    let id = intent["id"].as_str().unwrap();
    assert!(id.starts_with("pi_"), "{intent}");
    assert_eq!(intent["object"], "payment_intent");
    assert_eq!(intent["amount"], 1500);
    assert_eq!(intent["currency"], "usd");
    assert_eq!(intent["status"], "requires_payment_method");
    assert_eq!(intent["metadata"]["order_id"], "ord_1");
    assert_eq!(intent["description"], "2 tickets");
    assert_eq!(intent["livemode"], false);
    for null in [
        "latest_charge",
        "last_payment_error",
        "next_action",
        "payment_method",
    ] {
        assert!(intent[null].is_null(), "{null}: {intent}");
    }
    let secret = intent["client_secret"].as_str().unwrap();
    assert!(secret.starts_with(&format!("{id}_secret_")), "{secret}");

    let resp = confirm(&stripe, &intent, "pm_card_visa", None);
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.json["status"], "succeeded");
    assert_eq!(resp.json["payment_method"], "pm_card_visa");
    let charge_id = resp.json["latest_charge"].as_str().unwrap();

    let charges = stripe.charges();
    assert_eq!(charges.len(), 1);
    let charge = &charges[0];
    assert_eq!(charge["id"], charge_id);
    assert_eq!(charge["object"], "charge");
    assert_eq!(charge["amount"], 1500);
    assert_eq!(charge["amount_captured"], 1500);
    assert_eq!(charge["amount_refunded"], 0);
    assert_eq!(charge["payment_intent"], id);
    assert_eq!(charge["metadata"]["order_id"], "ord_1");
    assert_eq!(charge["description"], "2 tickets");
    assert_eq!(charge["paid"], true);
    assert_eq!(charge["captured"], true);
    assert_eq!(charge["refunded"], false);
    assert_eq!(charge["status"], "succeeded");
    assert_eq!(charge["payment_method_details"]["card"]["brand"], "visa");
    assert_eq!(charge["payment_method_details"]["card"]["last4"], "4242");

    let now = get(&stripe, &format!("/v1/payment_intents/{id}"));
    assert_eq!(now.status, 200);
    assert_eq!(now.json["status"], "succeeded");
    assert_eq!(now.json["latest_charge"], charge_id);
    assert_eq!(get(&stripe, "/v1/payment_intents/pi_nope").status, 404);
    assert_eq!(get(&stripe, "/v1/charges").json["data"][0]["id"], charge_id);
    assert_eq!(
        get(&stripe, &format!("/v1/charges/{charge_id}")).json["id"],
        charge_id
    );

    assert_eq!(
        types(&stripe),
        [
            "payment_intent.created",
            "charge.succeeded",
            "payment_intent.succeeded"
        ]
    );
    let succeeded = &stripe.events_of_type("payment_intent.succeeded")[0];
    assert_eq!(succeeded["data"]["object"]["id"], id);
    assert_eq!(succeeded["object"], "event");
    assert_eq!(succeeded["api_version"], "2024-06-20");
    assert!(succeeded["id"].as_str().unwrap().starts_with("evt_"));

    // The old Charges API is gone.
    let old = post(
        &stripe,
        "/v1/charges",
        None,
        &[
            ("amount", "1500"),
            ("currency", "usd"),
            ("source", "tok_visa"),
        ],
    );
    assert_eq!(old.status, 404, "{}", old.text);
}

#[test]
fn confirm_on_create_and_payment_method_data() {
    let stripe = FakeStripe::start();
    let resp = post(
        &stripe,
        "/v1/payment_intents",
        None,
        &[
            ("amount", "900"),
            ("currency", "eur"),
            ("payment_method_types[]", "card"),
            ("confirm", "true"),
            ("payment_method", "pm_card_mastercard"),
        ],
    );
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.json["status"], "succeeded");
    assert_eq!(resp.json["payment_method_types"][0], "card");

    let intent = create_intent(&stripe);
    let id = intent["id"].as_str().unwrap();
    let resp = post(
        &stripe,
        &format!("/v1/payment_intents/{id}/confirm"),
        None,
        &[
            ("payment_method_data[type]", "card"),
            ("payment_method_data[card][token]", "tok_amex"),
        ],
    );
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.json["status"], "succeeded");
    assert!(resp.json["payment_method"]
        .as_str()
        .unwrap()
        .starts_with("pm_"));
    let charges = stripe.charges();
    assert_eq!(charges.len(), 2);
    assert_eq!(
        charges[1]["payment_method_details"]["card"]["brand"],
        "amex"
    );
}

#[test]
fn keys_are_checked() {
    let stripe = FakeStripe::start();
    let url = format!("{}/v1/payment_intents", stripe.base_url());
    let body = form(&[("amount", "1500"), ("currency", "usd")]);
    let none = send("POST", &url, &[], Some(body.clone()));
    assert_eq!(none.status, 401);
    assert_eq!(none.json["error"]["type"], "invalid_request_error");
    assert!(none.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("did not provide an API key"));
    let wrong = post_as(&stripe, "sk_test_wrong", "/v1/payment_intents", None, &[]).unwrap();
    assert_eq!(wrong.status, 401);
    assert!(wrong.json["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Invalid API Key provided"));
    // A publishable key only works where Stripe.js calls.
    let publishable = post_as(&stripe, PUBLISHABLE_KEY, "/v1/payment_intents", None, &[]).unwrap();
    assert_eq!(publishable.status, 401);
    let token = post_as(
        &stripe,
        PUBLISHABLE_KEY,
        "/v1/tokens",
        None,
        &[("card[number]", "4242424242424242")],
    )
    .unwrap();
    assert_eq!(token.status, 200, "{}", token.text);
    assert!(stripe.intent("pi_nope").is_none());
}

#[test]
fn parameters_are_validated_and_not_saved() {
    let stripe = FakeStripe::start();
    for (amount, code) in [
        ("49", "amount_too_small"),
        ("100000000", "amount_too_large"),
    ] {
        let resp = post(
            &stripe,
            "/v1/payment_intents",
            Some("key-validation"),
            &[("amount", amount), ("currency", "usd")],
        );
        assert_eq!(resp.status, 400, "{}", resp.text);
        assert_eq!(resp.json["error"]["code"], code);
        assert_eq!(resp.json["error"]["param"], "amount");
    }
    let unknown = post(
        &stripe,
        "/v1/payment_intents",
        None,
        &[("amount", "1500"), ("currency", "usd"), ("colour", "red")],
    );
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.json["error"]["code"], "parameter_unknown");
    // Validation errors are not saved: the key still works for a good request.
    let resp = post(
        &stripe,
        "/v1/payment_intents",
        Some("key-validation"),
        &[("amount", "1500"), ("currency", "usd")],
    );
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert!(!replayed(&resp));
}

#[test]
fn idempotency_keys_replay_or_refuse() {
    let stripe = FakeStripe::start();
    let params = [
        ("amount", "1500"),
        ("currency", "usd"),
        ("metadata[order_id]", "ord_9"),
    ];
    let first = post(&stripe, "/v1/payment_intents", Some("key-1"), &params);
    let again = post(&stripe, "/v1/payment_intents", Some("key-1"), &params);
    assert_eq!(first.status, 200);
    assert!(!replayed(&first));
    assert!(replayed(&again));
    assert_eq!(first.json, again.json);
    assert_eq!(stripe.events_of_type("payment_intent.created").len(), 1);

    let other = post(
        &stripe,
        "/v1/payment_intents",
        Some("key-1"),
        &[("amount", "1600"), ("currency", "usd")],
    );
    assert_eq!(other.status, 400);
    assert_eq!(other.json["error"]["type"], "idempotency_error");
    assert_eq!(
        other.json["error"]["message"],
        "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than 'key-1' if you meant to execute a different request."
    );

    // Declines are saved too: the retry replays the 402, no second attempt.
    let intent = &first.json;
    let declined = confirm(&stripe, intent, "pm_card_chargeDeclined", Some("key-2"));
    let again = confirm(&stripe, intent, "pm_card_chargeDeclined", Some("key-2"));
    assert_eq!((declined.status, again.status), (402, 402));
    assert!(replayed(&again));
    assert_eq!(
        stripe.events_of_type("payment_intent.payment_failed").len(),
        1
    );
}

#[test]
fn concurrent_use_of_a_key_is_a_409() {
    let stripe = Arc::new(FakeStripe::start());
    let intent = create_intent(&stripe);
    stripe.set_latency(Duration::from_millis(400));
    let first = {
        let (stripe, intent) = (stripe.clone(), intent.clone());
        std::thread::spawn(move || confirm(&stripe, &intent, "pm_card_visa", Some("key-c")))
    };
    std::thread::sleep(Duration::from_millis(100));
    let second = confirm(&stripe, &intent, "pm_card_visa", Some("key-c"));
    assert_eq!(second.status, 409, "{}", second.text);
    assert_eq!(second.json["error"]["type"], "idempotency_error");
    assert_eq!(second.json["error"]["code"], "idempotency_key_in_use");
    let first = first.join().unwrap();
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(stripe.charges().len(), 1);
    // The 409 was not saved; the first answer was.
    stripe.set_latency(Duration::ZERO);
    let later = confirm(&stripe, &intent, "pm_card_visa", Some("key-c"));
    assert!(replayed(&later));
    assert_eq!(later.json, first.json);
}

#[test]
fn server_errors_are_saved_and_replayed() {
    let stripe = FakeStripe::start();
    for executed in [false, true] {
        let intent = create_intent(&stripe);
        let key = format!("key-500-{executed}");
        stripe.fail_next(Endpoint::ConfirmIntent, Fault::ServerError { executed });
        let resp = confirm(&stripe, &intent, "pm_card_visa", Some(&key));
        assert_eq!(resp.status, 500);
        assert_eq!(resp.json["error"]["type"], "api_error");
        assert_eq!(resp.json["error"]["message"], "An unknown error occurred");
        let retry = confirm(&stripe, &intent, "pm_card_visa", Some(&key));
        assert_eq!(retry.status, 500, "{}", retry.text);
        assert!(replayed(&retry));
        let id = intent["id"].as_str().unwrap();
        let now = get(&stripe, &format!("/v1/payment_intents/{id}")).json;
        let charged = stripe.charges().iter().any(|c| c["payment_intent"] == id);
        if executed {
            assert_eq!(now["status"], "succeeded");
            assert!(charged);
        } else {
            assert_eq!(now["status"], "requires_payment_method");
            assert!(!charged);
        }
    }
    assert_eq!(stripe.events_of_type("payment_intent.succeeded").len(), 1);
}

#[test]
fn a_lost_answer_still_executes() {
    let stripe = FakeStripe::start();
    let intent = create_intent(&stripe);
    stripe.fail_next(Endpoint::ConfirmIntent, Fault::LoseAnswer);
    let id = intent["id"].as_str().unwrap();
    let lost = post_as(
        &stripe,
        SECRET_KEY,
        &format!("/v1/payment_intents/{id}/confirm"),
        Some("key-lost"),
        &[("payment_method", "pm_card_visa")],
    );
    assert!(lost.is_err(), "an answer came: {lost:?}");
    assert_eq!(stripe.charges().len(), 1);
    assert_eq!(stripe.events_of_type("payment_intent.succeeded").len(), 1);
    let retry = confirm(&stripe, &intent, "pm_card_visa", Some("key-lost"));
    assert_eq!(retry.status, 200);
    assert!(replayed(&retry));
    assert_eq!(retry.json["status"], "succeeded");
    assert_eq!(stripe.charges().len(), 1);

    // A retrieval can lose its answer too.
    stripe.fail_next(Endpoint::RetrieveIntent, Fault::LoseAnswer);
    let auth = format!("Bearer {SECRET_KEY}");
    let url = format!("{}/v1/payment_intents/{id}", stripe.base_url());
    assert!(try_send("GET", &url, &[("authorization", &auth)], None).is_err());
    assert_eq!(
        get(&stripe, &format!("/v1/payment_intents/{id}")).status,
        200
    );
}

#[test]
fn rate_limits_are_not_saved() {
    let stripe = FakeStripe::start();
    stripe.fail_next(
        Endpoint::CreateIntent,
        Fault::RateLimited { retry_after_s: 2 },
    );
    let params = [("amount", "1500"), ("currency", "usd")];
    let limited = post(&stripe, "/v1/payment_intents", Some("key-429"), &params);
    assert_eq!(limited.status, 429, "{}", limited.text);
    assert_eq!(limited.headers["retry-after"], "2");
    assert_eq!(limited.json["error"]["code"], "rate_limit");
    assert!(limited.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("rate limit"));
    assert!(stripe.events().is_empty());
    let retry = post(&stripe, "/v1/payment_intents", Some("key-429"), &params);
    assert_eq!(retry.status, 200, "{}", retry.text);
    assert!(!replayed(&retry));
}

#[test]
fn a_slow_answer_outlives_the_client() {
    let stripe = FakeStripe::start();
    let intent = create_intent(&stripe);
    let id = intent["id"].as_str().unwrap();
    stripe.fail_next(
        Endpoint::ConfirmIntent,
        Fault::Slow(Duration::from_millis(500)),
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_millis(150)))
        .build()
        .into();
    let gave_up = agent
        .post(&format!(
            "{}/v1/payment_intents/{id}/confirm",
            stripe.base_url()
        ))
        .header("authorization", &format!("Bearer {SECRET_KEY}"))
        .header("idempotency-key", "key-slow")
        .send_form([("payment_method", "pm_card_visa")]);
    assert!(gave_up.is_err(), "an answer came in time");
    // Meanwhile a retry with the key finds it still executing.
    let meanwhile = confirm(&stripe, &intent, "pm_card_visa", Some("key-slow"));
    assert_eq!(meanwhile.status, 409, "{}", meanwhile.text);
    wait_until("the slow confirmation", || stripe.charges().len() == 1);
    let retry = confirm(&stripe, &intent, "pm_card_visa", Some("key-slow"));
    assert!(replayed(&retry));
    assert_eq!(retry.json["status"], "succeeded");
}

#[test]
fn three_d_secure_completes_or_fails() {
    let stripe = FakeStripe::start();
    let intent = create_intent(&stripe);
    let id = intent["id"].as_str().unwrap();
    let resp = confirm(&stripe, &intent, "pm_card_threeDSecure2Required", None);
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.json["status"], "requires_action");
    assert_eq!(resp.json["next_action"]["type"], "use_stripe_sdk");
    assert_eq!(
        resp.json["next_action"]["use_stripe_sdk"]["type"],
        "three_d_secure_redirect"
    );
    assert!(stripe.charges().is_empty());
    assert_eq!(
        stripe
            .events_of_type("payment_intent.requires_action")
            .len(),
        1
    );

    // The buyer completes the challenge, as Stripe.js does it: with the publishable key.
    let path = format!("/v1/payment_intents/{id}/authenticate");
    let wrong = post_as(
        &stripe,
        PUBLISHABLE_KEY,
        &path,
        None,
        &[("client_secret", "pi_x_secret_y"), ("outcome", "complete")],
    )
    .unwrap();
    assert_eq!(wrong.status, 400);
    let secret = intent["client_secret"].as_str().unwrap();
    let done = post_as(
        &stripe,
        PUBLISHABLE_KEY,
        &path,
        None,
        &[("client_secret", secret), ("outcome", "complete")],
    )
    .unwrap();
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.json["status"], "succeeded");
    assert_eq!(stripe.charges().len(), 1);
    assert_eq!(stripe.charges()[0]["payment_intent"], id);

    // Another buyer fails it, then pays with another card.
    let intent = create_intent(&stripe);
    let id = intent["id"].as_str().unwrap();
    let resp = confirm(&stripe, &intent, "pm_card_authenticationRequired", None);
    assert_eq!(resp.json["status"], "requires_action");
    let failed = stripe.authenticate(id, false);
    assert_eq!(failed["status"], "requires_payment_method");
    assert_eq!(
        failed["last_payment_error"]["code"],
        "payment_intent_authentication_failure"
    );
    assert_eq!(
        failed["last_payment_error"]["message"],
        "We are unable to authenticate your payment method. Please choose a different payment method and try again."
    );
    assert_eq!(
        stripe.events_of_type("payment_intent.payment_failed").len(),
        1
    );
    let again = stripe.authenticate(id, true);
    assert_eq!(
        again["error"]["code"], "payment_intent_unexpected_state",
        "{again}"
    );
    assert_eq!(stripe.charges().len(), 1);
    let paid = confirm(&stripe, &intent, "pm_card_visa", None);
    assert_eq!(paid.json["status"], "succeeded");
}

#[test]
fn declines_leave_the_intent_confirmable() {
    let stripe = FakeStripe::start();
    let cases = [
        (
            "pm_card_chargeDeclined",
            "card_declined",
            Some("generic_decline"),
            "Your card was declined.",
        ),
        (
            "pm_card_visa_chargeDeclinedInsufficientFunds",
            "card_declined",
            Some("insufficient_funds"),
            "Your card has insufficient funds.",
        ),
        (
            "pm_card_chargeDeclinedExpiredCard",
            "expired_card",
            None,
            "Your card has expired.",
        ),
        (
            "pm_card_chargeDeclinedIncorrectCvc",
            "incorrect_cvc",
            None,
            "Your card's security code is incorrect.",
        ),
    ];
    for (pm, code, decline_code, message) in cases {
        let intent = create_intent(&stripe);
        let resp = confirm(&stripe, &intent, pm, None);
        assert_eq!(resp.status, 402, "{pm}: {}", resp.text);
        let error = &resp.json["error"];
        assert_eq!(error["type"], "card_error");
        assert_eq!(error["code"], code);
        assert_eq!(error["message"], message);
        match decline_code {
            Some(d) => assert_eq!(error["decline_code"], d),
            None => assert!(error["decline_code"].is_null()),
        }
        let attached = &error["payment_intent"];
        assert_eq!(attached["status"], "requires_payment_method");
        assert_eq!(attached["last_payment_error"]["code"], code);
        assert_eq!(attached["last_payment_error"]["message"], message);
    }
    // The same with the test tokens.
    let intent = create_intent(&stripe);
    let id = intent["id"].as_str().unwrap();
    let resp = post(
        &stripe,
        &format!("/v1/payment_intents/{id}/confirm"),
        None,
        &[
            ("payment_method_data[type]", "card"),
            (
                "payment_method_data[card][token]",
                "tok_chargeDeclinedInsufficientFunds",
            ),
        ],
    );
    assert_eq!(resp.status, 402);
    assert_eq!(resp.json["error"]["decline_code"], "insufficient_funds");
    assert!(stripe.charges().is_empty());
    assert_eq!(
        stripe.events_of_type("payment_intent.payment_failed").len(),
        5
    );
    let paid = confirm(&stripe, &intent, "pm_card_visa", None);
    assert_eq!(paid.status, 200, "{}", paid.text);
    assert_eq!(paid.json["status"], "succeeded");
    assert!(paid.json["last_payment_error"].is_null());
    assert_eq!(stripe.charges().len(), 1);
}

#[test]
fn unknown_methods_and_intents() {
    let stripe = FakeStripe::start();
    let intent = create_intent(&stripe);
    let id = intent["id"].as_str().unwrap();
    let resp = confirm(&stripe, &intent, "pm_card_nope", None);
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json["error"]["code"], "resource_missing");
    assert_eq!(resp.json["error"]["param"], "payment_method");
    assert_eq!(
        resp.json["error"]["message"],
        "No such PaymentMethod: 'pm_card_nope'"
    );
    let resp = post(
        &stripe,
        &format!("/v1/payment_intents/{id}/confirm"),
        None,
        &[
            ("payment_method_data[type]", "card"),
            ("payment_method_data[card][token]", "tok_nope"),
        ],
    );
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json["error"]["message"], "No such token: 'tok_nope'");
    assert_eq!(
        resp.json["error"]["param"],
        "payment_method_data[card][token]"
    );
    let resp = post(
        &stripe,
        "/v1/payment_intents/pi_nope/confirm",
        None,
        &[("payment_method", "pm_card_visa")],
    );
    assert_eq!(resp.status, 404);
    assert_eq!(resp.json["error"]["code"], "resource_missing");
}

#[test]
fn minted_tokens_are_single_use() {
    let stripe = FakeStripe::start();
    let minted = post(
        &stripe,
        "/v1/tokens",
        None,
        &[("card[number]", "4242 4242 4242 4242")],
    );
    let token = minted.json["id"].as_str().unwrap().to_owned();
    assert!(token.starts_with("tok_1"), "{token}");
    let by_token = |intent: &Value, token: &str, key: Option<&str>| {
        let id = intent["id"].as_str().unwrap();
        post(
            &stripe,
            &format!("/v1/payment_intents/{id}/confirm"),
            key,
            &[
                ("payment_method_data[type]", "card"),
                ("payment_method_data[card][token]", token),
            ],
        )
    };
    let first = create_intent(&stripe);
    let used = by_token(&first, &token, Some("key-tok"));
    assert_eq!(used.json["status"], "succeeded", "{}", used.text);
    // A replay is not a second use.
    assert!(replayed(&by_token(&first, &token, Some("key-tok"))));
    let second = create_intent(&stripe);
    let again = by_token(&second, &token, None);
    assert_eq!(again.status, 400);
    assert_eq!(again.json["error"]["type"], "invalid_request_error");
    assert!(again.json["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with(&format!(
            "You cannot use a Stripe token more than once: {token}"
        )));
    // The magic test tokens are reusable, and so is a token minted from Rust.
    assert_eq!(
        by_token(&second, "tok_visa", None).json["status"],
        "succeeded"
    );
    let third = create_intent(&stripe);
    assert_eq!(
        by_token(&third, "tok_visa", None).json["status"],
        "succeeded"
    );
    let fourth = create_intent(&stripe);
    let rust_minted = stripe.mint_token("4000000000000002");
    assert_eq!(by_token(&fourth, &rust_minted, None).status, 402);
    assert_eq!(by_token(&fourth, &rust_minted, None).status, 400);
}

#[test]
fn a_succeeded_intent_cannot_be_confirmed_again() {
    let stripe = FakeStripe::start();
    let intent = create_intent(&stripe);
    assert_eq!(confirm(&stripe, &intent, "pm_card_visa", None).status, 200);
    let again = confirm(&stripe, &intent, "pm_card_visa", Some("key-again"));
    assert_eq!(again.status, 400, "{}", again.text);
    let error = &again.json["error"];
    assert_eq!(error["type"], "invalid_request_error");
    assert_eq!(error["code"], "payment_intent_unexpected_state");
    assert_eq!(
        error["message"],
        "You cannot confirm this PaymentIntent because it has already succeeded after being previously confirmed."
    );
    assert_eq!(error["payment_intent"]["status"], "succeeded");
    // Saved: execution had begun.
    let replay = confirm(&stripe, &intent, "pm_card_visa", Some("key-again"));
    assert!(replayed(&replay));
    assert_eq!(stripe.charges().len(), 1);
}

#[test]
fn refunds_succeed_once() {
    let stripe = FakeStripe::start();
    let intent = create_intent(&stripe);
    let id = intent["id"].as_str().unwrap();

    let none = post(&stripe, "/v1/refunds", None, &[("payment_intent", id)]);
    assert_eq!(none.status, 400);
    assert_eq!(none.json["error"]["code"], "charge_not_refundable");
    confirm(&stripe, &intent, "pm_card_visa", None);

    let missing = post(&stripe, "/v1/refunds", None, &[]);
    assert_eq!(missing.json["error"]["code"], "parameter_missing");
    let unknown = post(&stripe, "/v1/refunds", None, &[("charge", "ch_nope")]);
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.json["error"]["code"], "resource_missing");

    let refund = post(
        &stripe,
        "/v1/refunds",
        Some("key-refund"),
        &[("payment_intent", id), ("metadata[reason]", "cancelled")],
    );
    assert_eq!(refund.status, 200, "{}", refund.text);
    let refund = refund.json;
    let refund_id = refund["id"].as_str().unwrap();
    assert!(refund_id.starts_with("re_"));
    assert_eq!(refund["object"], "refund");
    assert_eq!(refund["amount"], 1500);
    assert_eq!(refund["status"], "succeeded");
    assert_eq!(refund["payment_intent"], id);
    assert_eq!(refund["currency"], "usd");
    assert_eq!(refund["metadata"]["reason"], "cancelled");
    let charge = &stripe.charges()[0];
    assert_eq!(refund["charge"], charge["id"]);
    assert_eq!(charge["refunded"], true);
    assert_eq!(charge["amount_refunded"], 1500);
    assert_eq!(stripe.refunds().len(), 1);
    assert_eq!(
        get(&stripe, &format!("/v1/refunds/{refund_id}")).json,
        refund
    );
    let types = types(&stripe);
    assert_eq!(
        types[types.len() - 2..],
        ["refund.created", "charge.refunded"]
    );

    let replay = post(
        &stripe,
        "/v1/refunds",
        Some("key-refund"),
        &[("payment_intent", id), ("metadata[reason]", "cancelled")],
    );
    assert!(replayed(&replay));
    let again = post(&stripe, "/v1/refunds", None, &[("payment_intent", id)]);
    assert_eq!(again.status, 400);
    assert_eq!(again.json["error"]["code"], "charge_already_refunded");
    assert_eq!(stripe.refunds().len(), 1);
}

#[test]
fn faults_apply_to_refunds() {
    let stripe = FakeStripe::start();
    let intent = create_intent(&stripe);
    let id = intent["id"].as_str().unwrap();
    confirm(&stripe, &intent, "pm_card_visa", None);
    stripe.fail_next(Endpoint::Refund, Fault::RateLimited { retry_after_s: 1 });
    stripe.fail_next(Endpoint::Refund, Fault::ServerError { executed: true });
    let params = [("payment_intent", id)];
    let limited = post(&stripe, "/v1/refunds", Some("key-r"), &params);
    assert_eq!(limited.status, 429);
    assert!(stripe.refunds().is_empty());
    let failed = post(&stripe, "/v1/refunds", Some("key-r"), &params);
    assert_eq!(failed.status, 500);
    // The refund happened anyway; the retry with the key replays the 500, and a retry
    // with a new key learns the charge is refunded.
    assert_eq!(stripe.refunds().len(), 1);
    assert_eq!(stripe.charges()[0]["refunded"], true);
    let retry = post(&stripe, "/v1/refunds", Some("key-r"), &params);
    assert_eq!(retry.status, 500);
    assert!(replayed(&retry));
    let fresh = post(&stripe, "/v1/refunds", Some("key-r2"), &params);
    assert_eq!(fresh.json["error"]["code"], "charge_already_refunded");
}

#[test]
fn pending_refunds_settle_later() {
    let stripe = FakeStripe::start();
    for (outcome, status) in [
        (RefundOutcome::PendingThenFail, "failed"),
        (RefundOutcome::PendingThenSucceed, "succeeded"),
    ] {
        stripe.refunds_settle(outcome);
        let intent = create_intent(&stripe);
        let id = intent["id"].as_str().unwrap();
        confirm(&stripe, &intent, "pm_card_visa", None);
        let refund = post(&stripe, "/v1/refunds", None, &[("payment_intent", id)]);
        assert_eq!(refund.json["status"], "pending", "{}", refund.text);
        let refund_id = refund.json["id"].as_str().unwrap();
        let before = stripe.events().len();
        let settled = stripe.settle_refunds();
        assert_eq!(settled.len(), 1);
        assert_eq!(settled[0]["status"], status);
        let now = get(&stripe, &format!("/v1/refunds/{refund_id}")).json;
        assert_eq!(now["status"], status);
        let charge = stripe
            .charges()
            .into_iter()
            .find(|c| c["payment_intent"] == id)
            .unwrap();
        let new: Vec<String> = types(&stripe)[before..].to_vec();
        if status == "failed" {
            assert_eq!(now["failure_reason"], "expired_or_canceled_card");
            assert_eq!(charge["refunded"], false);
            assert_eq!(charge["amount_refunded"], 0);
            assert_eq!(new, ["refund.updated", "refund.failed"]);
        } else {
            assert_eq!(charge["refunded"], true);
            assert_eq!(charge["amount_refunded"], 1500);
            assert_eq!(new, ["refund.updated", "charge.refunded"]);
        }
    }
    assert!(stripe.settle_refunds().is_empty());
}

#[test]
fn disputed_charges_cannot_be_refunded() {
    let stripe = FakeStripe::start();
    let intent = create_intent(&stripe);
    let id = intent["id"].as_str().unwrap();
    confirm(&stripe, &intent, "pm_card_visa", None);
    let dispute = stripe.dispute(id);
    assert_eq!(dispute["object"], "dispute");
    assert_eq!(dispute["status"], "needs_response");
    assert_eq!(dispute["reason"], "fraudulent");
    assert_eq!(dispute["amount"], 1500);
    assert_eq!(dispute["payment_intent"], id);
    let event = &stripe.events_of_type("charge.dispute.created")[0];
    assert_eq!(event["data"]["object"], dispute);
    let charge_id = stripe.charges()[0]["id"].as_str().unwrap().to_owned();
    let refund = post(&stripe, "/v1/refunds", None, &[("charge", &charge_id)]);
    assert_eq!(refund.status, 400);
    assert_eq!(refund.json["error"]["code"], "charge_disputed");
    assert_eq!(
        refund.json["error"]["message"],
        format!("Charge {charge_id} has been charged back; cannot issue a refund.")
    );
}

#[test]
fn signatures_follow_stripes_scheme() {
    // Computed independently (Python's hmac): HMAC-SHA256 of "<t>.<payload>".
    assert_eq!(
        signature_header(br#"{"id":"evt_test"}"#, "whsec_test_secret", 1_700_000_000),
        "t=1700000000,v1=13941114bb88ac44a76abcfddea5b92aa6182a4b63d8be3aae908a616083bd7e"
    );
    let header = signature_header(b"payload", WEBHOOK_SECRET, 42);
    assert!(verify(&header, b"payload", WEBHOOK_SECRET));
    assert!(!verify(&header, b"payload", "whsec_other"));
    assert!(!verify(&header, b"payload!", WEBHOOK_SECRET));
}

/// Verifies a `Stripe-Signature` header as https://docs.stripe.com/webhooks#verify-manually
/// says.
fn verify(header: &str, payload: &[u8], secret: &str) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => timestamp = Some(t.to_owned()),
            Some(("v1", v)) => signatures.push(v.to_owned()),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(payload);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    signatures.contains(&expected)
}

/// What a webhook receiver got.
#[derive(Clone)]
struct Received {
    id: String,
    signed: bool,
    user_agent: String,
    content_type: String,
}

/// A local webhook endpoint answering the scripted statuses in turn, then 200; it answers
/// 400 to a bad signature, as a shop should.
struct Receiver {
    server: LocalServer,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(script: &[u16]) -> Receiver {
        let got = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<_>>()));
        let (seen, statuses) = (got.clone(), script.clone());
        let server = LocalServer::start(move |req: hyper::Request<hyper::body::Incoming>| {
            let (seen, statuses) = (seen.clone(), statuses.clone());
            async move {
                let (parts, body) = req.into_parts();
                let body = body.collect().await.unwrap().to_bytes();
                let header = |name: &str| {
                    parts
                        .headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let signed = verify(&header("stripe-signature"), &body, WEBHOOK_SECRET);
                seen.lock().unwrap().push(Received {
                    id: event["id"].as_str().unwrap_or_default().to_owned(),
                    signed,
                    user_agent: header("user-agent"),
                    content_type: header("content-type"),
                });
                let status = if signed {
                    statuses.lock().unwrap().pop_front().unwrap_or(200)
                } else {
                    400
                };
                hyper::Response::builder()
                    .status(status)
                    .body(Full::new(Bytes::new()))
                    .unwrap()
            }
        });
        Receiver { server, got }
    }

    fn url(&self) -> String {
        format!("{}/webhooks/stripe", self.server.base_url())
    }

    fn ids(&self) -> Vec<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.id.clone())
            .collect()
    }
}

fn event_ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn webhooks_are_delivered_in_order_and_signed() {
    let stripe = FakeStripe::start();
    let receiver = Receiver::start(&[]);
    // Made before the URL is known: delivered too.
    let intent = create_intent(&stripe);
    stripe.send_webhooks_to(&receiver.url());
    confirm(&stripe, &intent, "pm_card_visa", None);
    post(
        &stripe,
        "/v1/refunds",
        None,
        &[("payment_intent", intent["id"].as_str().unwrap())],
    );
    let all = event_ids(&stripe.events());
    assert_eq!(all.len(), 5);
    wait_until("every delivery", || receiver.ids().len() == all.len());
    assert_eq!(receiver.ids(), all);
    for got in receiver.got.lock().unwrap().iter() {
        assert!(got.signed, "{} is not signed right", got.id);
        assert_eq!(
            got.user_agent,
            "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
        );
        assert!(got.content_type.starts_with("application/json"));
    }
    let deliveries = stripe.deliveries();
    assert_eq!(
        deliveries,
        all.iter().map(|id| (id.clone(), 200)).collect::<Vec<_>>()
    );
    assert!(stripe.held().is_empty());
}

#[test]
fn held_webhooks_wait_then_go_in_order() {
    let stripe = FakeStripe::start();
    let receiver = Receiver::start(&[]);
    stripe.hold_webhooks(true);
    stripe.send_webhooks_to(&receiver.url());
    let intent = create_intent(&stripe);
    confirm(&stripe, &intent, "pm_card_visa", None);
    std::thread::sleep(Duration::from_millis(200));
    assert!(receiver.ids().is_empty());
    let all = event_ids(&stripe.events());
    assert_eq!(event_ids(&stripe.held()), all);
    stripe.hold_webhooks(false);
    wait_until("the released events", || receiver.ids().len() == all.len());
    assert_eq!(receiver.ids(), all);
    assert!(stripe.held().is_empty());
}

#[test]
fn failed_deliveries_are_retried() {
    let stripe = FakeStripe::start();
    let receiver = Receiver::start(&[500, 503]);
    stripe.send_webhooks_to(&receiver.url());
    create_intent(&stripe);
    let id = stripe.events()[0]["id"].as_str().unwrap().to_owned();
    wait_until("the retried delivery", || {
        stripe.deliveries().last().is_some_and(|d| d.1 == 200)
    });
    assert_eq!(
        stripe.deliveries(),
        [(id.clone(), 500), (id.clone(), 503), (id.clone(), 200)]
    );
    assert_eq!(receiver.ids(), [id.clone(), id.clone(), id]);

    // Nobody listening: attempts without an answer, bounded, then given up.
    let stripe = FakeStripe::start();
    let gone = Receiver::start(&[]);
    let url = gone.url();
    drop(gone);
    stripe.send_webhooks_to(&url);
    create_intent(&stripe);
    wait_until("the first attempt", || !stripe.deliveries().is_empty());
    assert_eq!(stripe.deliveries()[0].1, 0);
}

#[test]
fn deliver_sends_duplicates_and_bad_signatures() {
    let stripe = FakeStripe::start();
    let receiver = Receiver::start(&[]);
    stripe.hold_webhooks(true);
    stripe.send_webhooks_to(&receiver.url());
    create_intent(&stripe);
    let event = stripe.events()[0].clone();
    assert_eq!(stripe.deliver(&event), 200);
    assert_eq!(stripe.deliver(&event), 200);
    assert_eq!(
        stripe.deliver_with(&event, "whsec_wrong", 1_700_000_000),
        400
    );
    let got = receiver.got.lock().unwrap().clone();
    assert_eq!(got.len(), 3);
    assert!(got[0].signed && got[1].signed && !got[2].signed);
    assert_eq!(got[0].id, got[1].id);
    assert!(stripe.deliveries().is_empty(), "outside the queue");
    assert_eq!(stripe.held().len(), 1);
}

#[test]
fn stripe_js_is_served_with_cors() {
    let stripe = FakeStripe::start();
    let js = send("GET", &format!("{}/v3/", stripe.base_url()), &[], None);
    assert_eq!(js.status, 200);
    assert_eq!(js.headers["content-type"], "application/javascript");
    assert_eq!(js.headers["access-control-allow-origin"], "*");
    for needle in [
        "window.Stripe",
        "createToken",
        "createPaymentMethod",
        "handleNextAction",
        "3D Secure 2 Test Page",
        "/authenticate",
    ] {
        assert!(js.text.contains(needle), "{needle} missing");
    }
    let preflight = send(
        "OPTIONS",
        &format!("{}/v1/payment_intents/pi_x/authenticate", stripe.base_url()),
        &[
            ("origin", "https://shop.example"),
            ("access-control-request-method", "POST"),
        ],
        None,
    );
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.headers["access-control-allow-origin"], "*");
    assert_eq!(
        preflight.headers["access-control-allow-headers"],
        "authorization, content-type"
    );
    assert_eq!(
        preflight.headers["access-control-allow-methods"],
        "GET, POST"
    );
    let error = post_as(&stripe, "sk_wrong", "/v1/payment_intents", None, &[]).unwrap();
    assert_eq!(error.headers["access-control-allow-origin"], "*");
    assert!(stripe.requests() >= 3);
    assert_eq!(stripe.variables().len(), 3);
}
