//! Events and their delivery to a webhook endpoint (<https://docs.stripe.com/webhooks>).
//!
//! Every change the fake makes is an event
//! `{"id":"evt_…","object":"event","api_version","created","livemode":false,
//! "pending_webhooks":1,"type","data":{"object":<the object at that moment>}}`.
//! Once a test gives a URL ([`super::FakeStripe::send_webhooks_to`]), one background thread
//! POSTs each event there in creation order (`Content-Type: application/json`,
//! `Stripe-Signature` made at each attempt, Stripe's `User-Agent`); a non-2xx answer or no
//! answer is retried up to [`RETRIES`] times, waiting 100 ms, then doubling up to 1 s, then
//! given up (Stripe retries for days; a test has seconds). Only 127.0.0.1 and localhost are
//! ever contacted.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::{new_id, Shared, State, API_VERSION, WEBHOOK_SECRET};

/// How many times a failed delivery is retried.
pub const RETRIES: u32 = 5;
/// The `User-Agent` Stripe sends webhooks with.
pub const USER_AGENT: &str = "Stripe/1.0 (+https://stripe.com/docs/webhooks)";

/// The events, and the state of their delivery.
#[derive(Default)]
pub(super) struct Hooks {
    pub(super) events: Vec<Value>,
    /// Events not delivered yet, in order.
    pub(super) queue: VecDeque<Value>,
    pub(super) url: Option<String>,
    pub(super) held: bool,
    pub(super) deliveries: Vec<(String, u16)>,
    pub(super) stop: bool,
}

impl State {
    /// Makes an event of `kind` about `object` (a snapshot of it now) and queues it.
    pub(super) fn emit(&mut self, kind: &str, object: &Value) {
        let event = json!({
            "id": new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": now(),
            "livemode": false,
            "pending_webhooks": 1,
            "type": kind,
            "data": {"object": object},
        });
        self.hooks.events.push(event.clone());
        self.hooks.queue.push_back(event);
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// The `Stripe-Signature` header of `payload` signed with `secret` at `timestamp`:
/// `t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<payload>" keyed with the secret>`
/// (<https://docs.stripe.com/webhooks#verify-manually>).
pub fn signature_header(payload: &[u8], secret: &str, timestamp: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// Panics unless `url` is an `http://` URL on 127.0.0.1, localhost or [::1].
pub(super) fn check_local(url: &str) {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("webhooks go to http:// URLs on this machine, not {url}"));
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    assert!(
        ["127.0.0.1", "localhost", "[::1]"].contains(&host),
        "webhooks only go to 127.0.0.1 or localhost, not {url}"
    );
}

/// POSTs `payload` to `url` as Stripe delivers an event; the status, `0` when no answer
/// came.
pub(super) fn post(url: &str, payload: &[u8], secret: &str, timestamp: i64) -> u16 {
    check_local(url);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    agent
        .post(url)
        .header("content-type", "application/json; charset=utf-8")
        .header("user-agent", USER_AGENT)
        .header(
            "stripe-signature",
            signature_header(payload, secret, timestamp),
        )
        .send(payload)
        .map(|response| response.status().as_u16())
        .unwrap_or(0)
}

/// Starts the delivery thread; it ends when `hooks.stop` is set.
pub(super) fn start_delivery(shared: Arc<Shared>) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("fake-stripe-webhooks".into())
        .spawn(move || deliver_queue(&shared))
        .expect("spawn the webhook thread")
}

fn deliver_queue(shared: &Shared) {
    loop {
        // Wait (bounded, rechecking) for an event to send.
        let (event, url) = {
            let mut state = shared.lock();
            loop {
                if state.hooks.stop {
                    return;
                }
                if !state.hooks.held {
                    if let Some(url) = state.hooks.url.clone() {
                        if let Some(event) = state.hooks.queue.pop_front() {
                            break (event, url);
                        }
                    }
                }
                state = shared
                    .wake
                    .wait_timeout(state, Duration::from_millis(500))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        };
        let id = event["id"].as_str().unwrap_or_default().to_owned();
        let payload = event.to_string();
        let mut backoff = Duration::from_millis(100);
        for attempt in 0..=RETRIES {
            let status = post(&url, payload.as_bytes(), WEBHOOK_SECRET, now());
            let mut state = shared.lock();
            state.hooks.deliveries.push((id.clone(), status));
            if (200..300).contains(&status) || attempt == RETRIES || state.hooks.stop {
                break;
            }
            // Wait before retrying, unless the fake stops meanwhile.
            let (state, _) = shared
                .wake
                .wait_timeout_while(state, backoff, |s| !s.hooks.stop)
                .unwrap_or_else(|e| e.into_inner());
            if state.hooks.stop {
                return;
            }
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }
}
