//! Helpers for the services' unit tests (the `testing` feature): the events key the tests
//! share, and the requests the broker would push to an event route, signed as their
//! publisher would sign them.

use serde_json::Value;
use spin_sdk::http::Method;

use crate::events::{self, Attributes, EventType, TICK};
use crate::signature::EventKeys;
use crate::{time, ApiRequest};

/// The events key of the unit tests.
pub const EVENTS_KEY: &str = "unit-test-events-key-0123456789";

/// [`EVENTS_KEY`] as the accepted keys.
pub fn event_keys() -> EventKeys {
    EventKeys::parse(EVENTS_KEY).expect("the test key is valid")
}

/// A binary-mode CloudEvent of `event_type` (such as `ticket:created`) with id `id` and
/// payload `data`, from the type's publisher, signed with [`EVENTS_KEY`], POSTed to `path`.
pub fn delivery(path: &str, id: &str, event_type: &str, data: &Value) -> ApiRequest {
    let source = EventType::parse(event_type)
        .map_or_else(|| events::source("test"), |t| events::source(t.publisher()));
    let body = data.to_string().into_bytes();
    let subject = ["id", "orderId"]
        .iter()
        .find_map(|field| data.get(field).and_then(Value::as_str))
        .unwrap_or_default();
    let attributes = Attributes {
        id,
        event_type,
        source: &source,
        time: &time::rfc3339(0),
        subject,
    };
    let mut request = ApiRequest::new(Method::Post, path);
    for (name, value) in events::binary_headers(&attributes, &body, &event_keys()) {
        request = request.with_header(&name, &value);
    }
    request.body = body;
    request
}

/// The broker's tick, POSTed to `path`.
pub fn tick(path: &str) -> ApiRequest {
    ApiRequest::new(Method::Post, path)
        .with_header("ce-specversion", "1.0")
        .with_header("ce-type", TICK)
}
