//! Envelope decoding and the signature check. Arbitrary deliveries (binary or
//! structured) never panic and are never accepted as events: only a key holder can sign.
//! A genuine signed event with any one attribute or its body replaced is either refused
//! or still the very same event (a JSON body re-spaced or re-ordered is the same data).

#![no_main]

use boxoffice_shared::events::{Envelope, Inbound};
use boxoffice_shared::{testing, ApiRequest};
use libfuzzer_sys::fuzz_target;
use serde_json::json;
use spin_sdk::http::Method;

const ROUTE: &str = "/internal/events/orders";

fn genuine() -> ApiRequest {
    let payment = json!({"id": "fa4e00000000000000000001", "orderId": "0dd000000000000000000001", "stripeId": "ch_1"});
    testing::delivery(ROUTE, "e1", "payment:created", &payment)
}

fn event(request: &ApiRequest) -> Option<Envelope> {
    match Inbound::read(request, &testing::public_keys()) {
        Ok(Inbound::Event(event)) => Some(event),
        _ => None,
    }
}

/// An arbitrary request: `name: value` header lines, a blank line, then the body.
fn arbitrary(data: &[u8]) -> ApiRequest {
    let text = String::from_utf8_lossy(data);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut request = ApiRequest::new(Method::Post, ROUTE);
    for line in head.lines() {
        if let Some((name, value)) = line.split_once(':') {
            request = request.with_header(name.trim(), value.trim());
        }
    }
    request.body = body.as_bytes().to_vec();
    request
}

const SIGNED: [&str; 6] = [
    "ce-id",
    "ce-type",
    "ce-source",
    "ce-subject",
    "ce-time",
    "ce-boxofficesig",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector % 2 == 0 {
        let request = arbitrary(rest);
        assert!(
            event(&request).is_none(),
            "an unsigned event was accepted: {request:?}"
        );
        return;
    }
    // Signed and verified once: the mutations are what is fuzzed.
    static GENUINE: std::sync::OnceLock<(ApiRequest, Envelope)> = std::sync::OnceLock::new();
    let (original, expected) = GENUINE.get_or_init(|| {
        let original = genuine();
        let expected = event(&original).expect("the genuine event verifies");
        (original, expected)
    });
    let mut mutated = original.clone();
    match SIGNED.get(usize::from(selector / 2) % (SIGNED.len() + 1)) {
        Some(name) => {
            let value = String::from_utf8_lossy(rest).into_owned();
            mutated.headers.retain(|(n, _)| n != name);
            mutated = mutated.with_header(name, &value);
        }
        None => mutated.body = rest.to_vec(),
    }
    if let Some(accepted) = event(&mutated) {
        assert_eq!(&accepted, expected, "a changed event verified: {mutated:?}");
    }
});
