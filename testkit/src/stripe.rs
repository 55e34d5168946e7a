//! A faithful fake of the part of Stripe that boxoffice uses, on 127.0.0.1, for tests
//! (Stripe itself cannot be reached from here), and able to fail the ways Stripe fails,
//! switchable per test.
//!
//! What it serves, as Stripe documents it:
//!
//! - The PaymentIntents API (<https://docs.stripe.com/api/payment_intents>):
//!   `POST /v1/payment_intents`, `POST /v1/payment_intents/{id}/confirm`,
//!   `GET /v1/payment_intents/{id}`, with the statuses of
//!   <https://docs.stripe.com/payments/paymentintents/lifecycle> and the test payment methods
//!   and tokens of <https://docs.stripe.com/testing> (successes, declines, 3-D Secure).
//!   [`intents`] has the details.
//! - Refunds (<https://docs.stripe.com/refunds>): `POST /v1/refunds`, `GET /v1/refunds/{id}`,
//!   refunds that settle later or fail, and disputed charges. [`refunds`] has the details.
//! - Card tokens (`POST /v1/tokens`, <https://docs.stripe.com/api/tokens/create_card>): a
//!   minted token (`tok_1…`) is single use, unlike the magic test tokens.
//! - `GET /v1/charges` and `GET /v1/charges/{id}`, so tests can look at what was charged.
//! - `GET /v3/`: a stand-in for Stripe.js ([`STRIPE_JS`]), and CORS for everything, so that a
//!   browser page can use the fake as `https://api.stripe.com` once the test routes it here.
//! - Bearer-key authentication, form-encoded bodies with bracketed parameters
//!   (`metadata[order_id]=…`), and the error body
//!   `{"error":{"type","code","decline_code","message","param",…}}`
//!   (<https://docs.stripe.com/api/errors>, <https://docs.stripe.com/error-handling>).
//! - Idempotency keys on every POST (<https://docs.stripe.com/api/idempotent_requests>):
//!   the first answer is saved once execution began and replayed with
//!   `Idempotent-Replayed: true`; other parameters are a 400 `idempotency_error`; a key still
//!   executing is a 409 (see [`FakeStripe::set_latency`]).
//! - Webhooks (<https://docs.stripe.com/webhooks>): every change makes an event, signed with
//!   Stripe's scheme ([`signature_header`]) and delivered in order, with retries, once a test
//!   gives a URL ([`FakeStripe::send_webhooks_to`]). [`webhooks`] has the details.
//! - Faults ([`FakeStripe::fail_next`]): a lost answer, a 500 (saved under the idempotency
//!   key, as Stripe does), a 429, a slow answer.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{json, Value};

mod http;
pub mod intents;
pub mod refunds;
pub mod webhooks;

pub use webhooks::signature_header;

/// The fake's secret key: tests give it to the shop as `stripe_secret_key`.
pub const SECRET_KEY: &str = "sk_test_boxoffice_fake_0123456789";
/// A publishable key the fake accepts where Stripe accepts publishable keys (card tokens,
/// the 3-D Secure stand-in); any other `pk_test_…` key is accepted there too.
pub const PUBLISHABLE_KEY: &str = "pk_test_boxoffice_fake_0123456789";
/// The signing secret of the fake's webhook endpoint: tests give it to the shop as
/// `stripe_webhook_secret`.
pub const WEBHOOK_SECRET: &str = "whsec_boxoffice_fake_0123456789abcdef";
/// The API version events are rendered with.
pub const API_VERSION: &str = "2024-06-20";
/// The Stripe.js stand-in served at `GET /v3/`.
pub const STRIPE_JS: &str = include_str!("stripe/stripe.js");

/// An endpoint a fault can be queued for ([`FakeStripe::fail_next`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /v1/payment_intents`
    CreateIntent,
    /// `POST /v1/payment_intents/{id}/confirm`
    ConfirmIntent,
    /// `GET /v1/payment_intents/{id}`
    RetrieveIntent,
    /// `POST /v1/refunds`
    Refund,
}

/// How the next request to an endpoint fails ([`FakeStripe::fail_next`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The request executes normally (its answer saved under its idempotency key, its
    /// effects made, its events emitted), then the connection closes without an answer: the
    /// client sees a transport error, as after a timeout. A replayed request loses its
    /// replayed answer the same way.
    LoseAnswer,
    /// A 500 `api_error`, saved under the idempotency key so that every retry with that key
    /// replays it: a 500 is indeterminate (<https://docs.stripe.com/error-handling>,
    /// <https://docs.stripe.com/api/idempotent_requests>). With `executed: true` the operation
    /// happened anyway (the intent confirmed, the charge and the events made); with `false`
    /// nothing happened. On a request that replays a saved answer it is a 500 that changes
    /// nothing saved.
    ServerError { executed: bool },
    /// A 429 with `Retry-After: <retry_after_s>` and Stripe's rate-limit error
    /// (<https://docs.stripe.com/rate-limits>); nothing executed, nothing saved.
    RateLimited { retry_after_s: u64 },
    /// Waits this long before executing: a client with a shorter timeout gives up while
    /// Stripe still works (and, with an idempotency key, a retry meanwhile gets the 409).
    Slow(Duration),
}

/// How refunds settle ([`FakeStripe::refunds_settle`]); <https://docs.stripe.com/refunds>:
/// a refund can be `pending` first, then `succeeded` or `failed`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RefundOutcome {
    /// Refunds answer `succeeded` at once.
    #[default]
    Succeed,
    /// Refunds answer `pending`; [`FakeStripe::settle_refunds`] makes them `succeeded`.
    PendingThenSucceed,
    /// Refunds answer `pending`; [`FakeStripe::settle_refunds`] makes them `failed`
    /// (`failure_reason: "expired_or_canceled_card"`).
    PendingThenFail,
}

/// What Stripe remembers of a request made with an idempotency key: what was asked (the
/// endpoint and its parameters), and the status and body it first answered.
struct Remembered {
    request: (String, Vec<(String, String)>),
    status: u16,
    body: Value,
}

/// Everything the fake knows; one mutex over it (never held across a wait).
#[derive(Default)]
struct State {
    requests: usize,
    intents: HashMap<String, Value>,
    /// Successful charges, in creation order.
    charges: Vec<Value>,
    /// Failed charges (declines), for `GET /v1/charges/{id}`.
    failed_charges: Vec<Value>,
    refunds: Vec<Value>,
    /// Whether each pending refund will succeed when settled.
    pending_refunds: Vec<(String, bool)>,
    disputes: Vec<Value>,
    /// PaymentMethods made from tokens (`pm_1…`), by id: the test card each stands for.
    payment_methods: HashMap<String, &'static intents::TestCard>,
    /// Minted tokens (`tok_1…`): the test card, and whether it was used.
    tokens: HashMap<String, (&'static intents::TestCard, bool)>,
    idempotent: HashMap<String, Remembered>,
    in_flight: HashSet<String>,
    faults: HashMap<Endpoint, VecDeque<Fault>>,
    latency: Duration,
    refund_outcome: RefundOutcome,
    hooks: webhooks::Hooks,
}

/// The state, and the condition variable the webhook thread waits on.
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running fake Stripe; stops (its server and its webhook thread) when dropped.
pub struct FakeStripe {
    shared: Arc<Shared>,
    server: Option<crate::local_server::LocalServer>,
    delivery: Option<std::thread::JoinHandle<()>>,
}

impl FakeStripe {
    pub fn start() -> FakeStripe {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        });
        let server = http::start(shared.clone());
        let delivery = webhooks::start_delivery(shared.clone());
        FakeStripe {
            shared,
            server: Some(server),
            delivery: Some(delivery),
        }
    }

    /// The base URL to give the shop as `stripe_api_base`.
    pub fn base_url(&self) -> String {
        self.server.as_ref().expect("running").base_url()
    }

    /// The shop's variables that point payments at this fake: `stripe_secret_key`,
    /// `stripe_api_base` and `stripe_webhook_secret`.
    pub fn variables(&self) -> Vec<(String, String)> {
        vec![
            ("stripe_secret_key".to_owned(), SECRET_KEY.to_owned()),
            ("stripe_api_base".to_owned(), self.base_url()),
            (
                "stripe_webhook_secret".to_owned(),
                WEBHOOK_SECRET.to_owned(),
            ),
        ]
    }

    /// Every successful charge so far (made when an intent succeeds), as it is now
    /// (`refunded`, `amount_refunded`, `disputed` follow refunds and disputes).
    pub fn charges(&self) -> Vec<Value> {
        self.shared.lock().charges.clone()
    }

    /// Every refund made so far, as it is now (`pending`, `succeeded` or `failed`).
    pub fn refunds(&self) -> Vec<Value> {
        self.shared.lock().refunds.clone()
    }

    /// How many requests reached the fake.
    pub fn requests(&self) -> usize {
        self.shared.lock().requests
    }

    /// The PaymentIntent with this id, as it is now.
    pub fn intent(&self, id: &str) -> Option<Value> {
        self.shared.lock().intents.get(id).cloned()
    }

    /// Every dispute made with [`FakeStripe::dispute`].
    pub fn disputes(&self) -> Vec<Value> {
        self.shared.lock().disputes.clone()
    }

    /// Every event so far, in creation order.
    pub fn events(&self) -> Vec<Value> {
        self.shared.lock().hooks.events.clone()
    }

    /// The events of one type (`"payment_intent.succeeded"`), in creation order.
    pub fn events_of_type(&self, kind: &str) -> Vec<Value> {
        self.shared
            .lock()
            .hooks
            .events
            .iter()
            .filter(|e| e["type"] == kind)
            .cloned()
            .collect()
    }

    /// Makes every POST hold its idempotency key in flight this long before it executes
    /// and answers (the state is not locked meanwhile), so that a concurrent request with
    /// the same key sees Stripe's 409. Default: no latency.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.lock().latency = latency;
    }

    /// Queues `fault` for the next request to `endpoint` (first in, first out per endpoint).
    pub fn fail_next(&self, endpoint: Endpoint, fault: Fault) {
        self.shared
            .lock()
            .faults
            .entry(endpoint)
            .or_default()
            .push_back(fault);
    }

    /// How refunds made from now on settle.
    pub fn refunds_settle(&self, outcome: RefundOutcome) {
        self.shared.lock().refund_outcome = outcome;
    }

    /// Settles every pending refund as its [`RefundOutcome`] said: `succeeded` (events
    /// `refund.updated`, `charge.refunded`) or `failed` (events `refund.updated`,
    /// `refund.failed`). Returns the refunds settled, as they are now.
    pub fn settle_refunds(&self) -> Vec<Value> {
        let mut state = self.shared.lock();
        let settled = refunds::settle(&mut state);
        self.shared.wake.notify_all();
        settled
    }

    /// The buyer disputes the successful charge of this PaymentIntent or with this charge
    /// id: the charge becomes `disputed` and `charge.dispute.created` is emitted. Returns
    /// the dispute. Panics when there is no such successful charge.
    pub fn dispute(&self, intent_or_charge_id: &str) -> Value {
        let mut state = self.shared.lock();
        let dispute = refunds::dispute(&mut state, intent_or_charge_id)
            .unwrap_or_else(|| panic!("no successful charge for {intent_or_charge_id}"));
        self.shared.wake.notify_all();
        dispute
    }

    /// The buyer completes (`true`) or fails (`false`) the 3-D Secure challenge of this
    /// intent, as `POST /v1/payment_intents/{id}/authenticate` does. Returns the answer's
    /// body: the intent, or an error body when the intent is not awaiting authentication.
    pub fn authenticate(&self, intent_id: &str, complete: bool) -> Value {
        let mut state = self.shared.lock();
        let answer = intents::authenticate(&mut state, intent_id, complete);
        self.shared.wake.notify_all();
        answer.body
    }

    /// Mints a single-use card token (`tok_1…`) for a test card number
    /// (<https://docs.stripe.com/testing>), as `POST /v1/tokens` does. Panics on a number
    /// the fake does not know.
    pub fn mint_token(&self, number: &str) -> String {
        let mut state = self.shared.lock();
        intents::mint_token(&mut state, number)
            .unwrap_or_else(|| panic!("{number} is not a test card the fake knows"))
    }

    /// Delivers every event, from now on and those made before, to `url` (a listener on
    /// 127.0.0.1 or localhost only), in creation order, from one background thread.
    pub fn send_webhooks_to(&self, url: &str) {
        webhooks::check_local(url);
        self.shared.lock().hooks.url = Some(url.to_owned());
        self.shared.wake.notify_all();
    }

    /// Holds the webhook queue (`true`: events queue, nothing is sent) or releases it, in
    /// order (`false`).
    pub fn hold_webhooks(&self, hold: bool) {
        self.shared.lock().hooks.held = hold;
        self.shared.wake.notify_all();
    }

    /// The events waiting to be delivered, in order.
    pub fn held(&self) -> Vec<Value> {
        self.shared.lock().hooks.queue.iter().cloned().collect()
    }

    /// Every delivery attempt of the background thread: the event's id and the status
    /// answered (`0`: no answer).
    pub fn deliveries(&self) -> Vec<(String, u16)> {
        self.shared.lock().hooks.deliveries.clone()
    }

    /// Sends one event now to the URL of [`FakeStripe::send_webhooks_to`], signed with
    /// [`WEBHOOK_SECRET`] at the current time, outside the queue (for duplicates and
    /// out-of-order deliveries). Returns the status (`0`: no answer); not recorded in
    /// [`FakeStripe::deliveries`].
    pub fn deliver(&self, event: &Value) -> u16 {
        self.deliver_with(event, WEBHOOK_SECRET, webhooks::now())
    }

    /// [`FakeStripe::deliver`] with another signing secret or timestamp (bad signatures,
    /// stale timestamps).
    pub fn deliver_with(&self, event: &Value, secret: &str, timestamp: i64) -> u16 {
        let url = self
            .shared
            .lock()
            .hooks
            .url
            .clone()
            .expect("send_webhooks_to(url) first");
        webhooks::post(&url, event.to_string().as_bytes(), secret, timestamp)
    }
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        self.shared.lock().hooks.stop = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.delivery.take() {
            let _ = thread.join();
        }
        self.server.take();
    }
}

/// An answer to a request: its status and body, and whether Stripe saves it under the
/// request's idempotency key (once execution began; not for parameter validation).
struct Answer {
    status: u16,
    body: Value,
    save: bool,
}

impl Answer {
    fn ok(body: Value) -> Answer {
        Answer {
            status: 200,
            body,
            save: true,
        }
    }

    /// A 400 `invalid_request_error` refused before execution (not saved).
    fn invalid(message: &str, code: Option<&str>, param: Option<&str>) -> Answer {
        let mut extra = json!({});
        if let Some(code) = code {
            extra["code"] = json!(code);
        }
        if let Some(param) = param {
            extra["param"] = json!(param);
        }
        Answer {
            status: 400,
            body: error("invalid_request_error", message, extra),
            save: false,
        }
    }

    /// A 404 for an unknown object (`No such payment_intent: 'x'`).
    fn missing(kind: &str, id: &str, param: &str) -> Answer {
        Answer {
            status: 404,
            body: error(
                "invalid_request_error",
                &format!("No such {kind}: '{id}'"),
                json!({"code": "resource_missing", "param": param}),
            ),
            save: false,
        }
    }
}

/// `{"error": {"type": kind, "message": message, ...extra}}`.
fn error(kind: &str, message: &str, extra: Value) -> Value {
    let mut error = json!({"type": kind, "message": message});
    if let (Some(error), Some(extra)) = (error.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            error.insert(k.clone(), v.clone());
        }
    }
    json!({ "error": error })
}

/// An object id as Stripe makes them: the prefix, then 24 letters and digits.
fn new_id(prefix: &str) -> String {
    let suffix: String = std::iter::repeat_with(fastrand::alphanumeric)
        .take(24)
        .collect();
    format!("{prefix}_{suffix}")
}

/// Seconds since the Unix epoch.
fn unix_now() -> i64 {
    webhooks::now()
}

/// The form parameters of a request, as pairs and nested the way Stripe reads bracketed
/// names: `metadata[order_id]=x` is `{"metadata": {"order_id": "x"}}`, `a[]=x` and `a[0]=x`
/// are arrays.
struct Params {
    pairs: Vec<(String, String)>,
    nested: Value,
}

impl Params {
    fn parse(body: &[u8]) -> Params {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut nested = json!({});
        for (name, value) in &pairs {
            let (head, rest) = name.split_at(name.find('[').unwrap_or(name.len()));
            let mut path = vec![head];
            path.extend(rest.split(']').filter_map(|s| s.strip_prefix('[')).take(8));
            insert_nested(&mut nested, &path, value);
        }
        Params { pairs, nested }
    }

    /// A top-level string parameter.
    fn get(&self, name: &str) -> Option<&str> {
        self.nested.get(name).and_then(Value::as_str)
    }

    /// The first top-level parameter not in `allowed` (Stripe's `parameter_unknown`).
    fn unknown(&self, allowed: &[&str]) -> Option<Answer> {
        let object = self.nested.as_object()?;
        let name = object.keys().find(|k| !allowed.contains(&k.as_str()))?;
        Some(Answer::invalid(
            &format!("Received unknown parameter: {name}"),
            Some("parameter_unknown"),
            Some(name),
        ))
    }

    /// `metadata`, `{}` when not given.
    fn metadata(&self) -> Value {
        match self.nested.get("metadata") {
            Some(m @ Value::Object(_)) => m.clone(),
            _ => json!({}),
        }
    }
}

fn is_index(segment: &str) -> bool {
    segment.is_empty() || segment.bytes().all(|b| b.is_ascii_digit())
}

fn insert_nested(target: &mut Value, path: &[&str], value: &str) {
    let Some((segment, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        match target {
            Value::Array(items) => items.push(json!(value)),
            Value::Object(map) => {
                map.insert(segment.to_string(), json!(value));
            }
            _ => {}
        }
        return;
    }
    let fresh = || {
        if is_index(rest[0]) {
            json!([])
        } else {
            json!({})
        }
    };
    let child = match target {
        Value::Object(map) => {
            let child = map.entry(segment.to_string()).or_insert_with(fresh);
            if !(child.is_object() || child.is_array()) {
                *child = fresh();
            }
            child
        }
        Value::Array(items) => {
            let index = segment.parse::<usize>().ok();
            match index {
                Some(i) if i < items.len() => &mut items[i],
                _ => {
                    items.push(fresh());
                    items.last_mut().expect("just pushed")
                }
            }
        }
        _ => return,
    };
    insert_nested(child, rest, value);
}
