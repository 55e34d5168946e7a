//! Delivery: pushes due deliveries to `<app><route>` as binary-mode CloudEvents, at most
//! [`MAX_IN_FLIGHT`] at a time, and records the outcome, by Knative's rules, so that a
//! subscriber's answer means the same on every broker: a 2xx with no body is done; 5xx,
//! 404, 408, 409, 429 (Knative's `SelectiveRetry`), no connection or no answer within
//! [`DELIVERY_TIMEOUT`] is retried with exponential backoff and jitter; any other 4xx, or
//! `max_attempts` failures, is dead-lettered. A 2xx with a body is retried too: Knative's
//! broker takes a reply's body for an event to publish and answers 502 when it is not one.
//!
//! Deliveries start oldest first, so one subscription mostly sees its events in arrival
//! order; nothing depends on it (handlers answer 503 for an event that came too early).
//! A delivery in flight when the process dies is still `pending` in the store, so it is
//! sent again after a restart: delivery is at least once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use boxoffice_telemetry::metrics::{self, DeliveryOutcome};
use boxoffice_telemetry::traces::{self, Attribute, Kind};

use crate::store::{now_ms, Delivery, EventStore, Transition};
use crate::subscriptions::{BrokerSettings, Subscription};
use crate::QueuedEvent;

/// Deliveries in flight at once, over all subscriptions.
pub const MAX_IN_FLIGHT: usize = 16;
/// How long a subscriber has to answer.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest the dispatcher sleeps without looking at the store (a replay from the CLI
/// is picked up within this).
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How much of an error answer's body is kept as the delivery's last error.
const ERROR_BODY_CHARS: usize = 200;

/// The HTTP client deliveries and ticks go out with.
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A pooled HTTP/1 client.
pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx with no body.
    Done,
    /// Worth another try, with what went wrong.
    Retry(String),
    /// Never worth another try, with what went wrong.
    Dead(String),
}

/// Classifies a subscriber's answer (`Ok` with status and body) or a failure to get one.
pub fn classify(answer: Result<(StatusCode, Bytes), String>) -> Outcome {
    match answer {
        Err(error) => Outcome::Retry(error),
        Ok((status, body)) if status.is_success() && body.is_empty() => Outcome::Done,
        Ok((status, _)) if status.is_success() => Outcome::Retry(format!(
            "HTTP {} with a body: a subscriber answers a delivery with no body (Knative's \
             broker would answer 502: its reply must be empty or a CloudEvent)",
            status.as_u16()
        )),
        Ok((status, body)) => {
            let mut error = format!("HTTP {}", status.as_u16());
            let body = String::from_utf8_lossy(&body);
            let body = body.trim();
            if !body.is_empty() {
                error.push_str(": ");
                error.extend(body.chars().take(ERROR_BODY_CHARS));
            }
            let retryable = status.is_server_error()
                || status == StatusCode::NOT_FOUND
                || status == StatusCode::REQUEST_TIMEOUT
                || status == StatusCode::CONFLICT
                || status == StatusCode::TOO_MANY_REQUESTS;
            if retryable || !status.is_client_error() {
                Outcome::Retry(error)
            } else {
                Outcome::Dead(error)
            }
        }
    }
}

/// The wait before the next attempt after `failures_before + 1` failures:
/// `min(backoff_initial_ms * 2^failures_before, backoff_max_ms)`, scaled by a jitter
/// factor `jitter` in [0, 1) into the upper half of that, so that retries spread out.
pub fn backoff(settings: &BrokerSettings, failures_before: u32, jitter: f64) -> Duration {
    let base = settings
        .backoff_initial_ms
        .saturating_mul(1u64.checked_shl(failures_before).unwrap_or(u64::MAX))
        .min(settings.backoff_max_ms);
    let jittered = base as f64 * (0.5 + 0.5 * jitter.clamp(0.0, 1.0));
    Duration::from_millis(jittered.round() as u64)
}

/// POSTs `event` to `url` in binary mode, with the trace context `traceparent` of the
/// delivery, and reads the answer, within [`DELIVERY_TIMEOUT`]. The error is one line.
pub async fn post(
    client: &HttpClient,
    url: &str,
    event: &QueuedEvent,
    traceparent: Option<&str>,
) -> Result<(StatusCode, Bytes), String> {
    let mut request = Request::post(url);
    if let Some(traceparent) = traceparent {
        request = request.header(traces::TRACEPARENT, traceparent);
    }
    for (name, value) in &event.attributes {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            request = request.header(name, value);
        }
    }
    if let Some(content_type) = &event.content_type {
        request = request.header(http::header::CONTENT_TYPE, content_type.as_str());
    }
    let request = request
        .body(Full::new(event.data.clone()))
        .map_err(|e| format!("cannot build the request to {url}: {e}"))?;
    let exchange = async {
        let response = client.request(request).await.map_err(|e| {
            let cause = std::error::Error::source(&e)
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            format!("{e}{cause}")
        })?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        Ok((status, body))
    };
    match tokio::time::timeout(DELIVERY_TIMEOUT, exchange).await {
        Ok(answer) => answer,
        Err(_) => Err(format!("no answer within {}s", DELIVERY_TIMEOUT.as_secs())),
    }
}

/// What a dispatcher delivers to, and how: the subscriptions it serves, the app whose
/// routes they are, the retry settings and the HTTP client. Both dispatchers, the embedded
/// one here and the NATS one, are made from one.
#[derive(Clone)]
pub struct Targets {
    /// The retry settings of `[broker]`.
    pub settings: BrokerSettings,
    /// The subscriptions to deliver to.
    pub subscriptions: Vec<Subscription>,
    /// The app's base URL, such as `http://127.0.0.1:3000`.
    pub app_base: String,
    /// The client that POSTs the deliveries.
    pub client: HttpClient,
}

impl Targets {
    /// The URL of `subscription`'s route.
    pub fn url(&self, subscription: &Subscription) -> String {
        format!("{}{}", self.app_base, subscription.route)
    }

    /// POSTs `event` to `url`, the route of `subscription`, in a span of the trace the
    /// event carries (`ce-traceparent`), and says what its answer means and how long it
    /// took.
    pub async fn deliver(&self, subscription: &str, url: &str, event: &QueuedEvent) -> Attempt {
        let parent = traces::parent_of(
            event
                .attributes
                .get(traces::CE_TRACEPARENT)
                .map(String::as_str),
        );
        let span = traces::start(
            "broker",
            Kind::Client,
            format!("deliver {}", event.ty),
            &parent,
            vec![
                Attribute::new("messaging.system", "boxoffice"),
                Attribute::new("messaging.destination.name", subscription.to_owned()),
                Attribute::new("messaging.message.id", event.id.clone()),
                Attribute::new("cloudevents.event_type", event.ty.clone()),
                Attribute::new("url.full", url.to_owned()),
            ],
        );
        let start = Instant::now();
        let answer = post(&self.client, url, event, span.traceparent().as_deref()).await;
        match &answer {
            Ok((status, _)) => span.set_http_status(status.as_u16()),
            Err(error) => span.fail(error.clone()),
        }
        Attempt {
            outcome: classify(answer),
            took: start.elapsed(),
        }
    }

    /// How long to wait after `failures_before` failed attempts, jittered.
    pub fn backoff(&self, failures_before: u32) -> Duration {
        backoff(&self.settings, failures_before, fastrand::f64())
    }
}

/// One delivery attempt: what its answer means, and how long it took.
#[derive(Debug)]
pub struct Attempt {
    /// What the answer means.
    pub outcome: Outcome,
    /// From sending to the whole answer.
    pub took: Duration,
}

/// What the dispatcher does after an attempt.
#[derive(Debug, Clone, Copy)]
pub enum Verdict<'a> {
    /// Done.
    Done,
    /// Failed; tried again after `wait`.
    Retry {
        /// What went wrong.
        error: &'a str,
        /// The backoff.
        wait: Duration,
    },
    /// Failed for good: dead-lettered.
    Dead {
        /// What went wrong.
        error: &'a str,
    },
}

/// Logs one delivery attempt of `event` to `subscription` (its `attempt`th) on one line,
/// and counts it in the metrics: both dispatchers report this way.
pub fn report(
    subscription: &str,
    event: &QueuedEvent,
    attempt: u32,
    verdict: Verdict<'_>,
    took: Duration,
) {
    // Milliseconds to the microsecond: a field for a log shipper, not a float's noise.
    let ms = (took.as_secs_f64() * 1_000_000.0).round() / 1000.0;
    let (id, ty) = (event.id.as_str(), event.ty.as_str());
    match verdict {
        Verdict::Done => {
            metrics::delivery(subscription, DeliveryOutcome::Done, took);
            tracing::info!(
                event_id = id,
                event_type = ty,
                subscription,
                attempt,
                outcome = "done",
                duration_ms = ms,
                "deliver {ty} {id} -> {subscription}: done (attempt {attempt}, {ms:.1} ms)"
            );
        }
        Verdict::Retry { error, wait } => {
            metrics::delivery(subscription, DeliveryOutcome::Retry, took);
            let wait_ms = wait.as_millis() as u64;
            tracing::info!(
                event_id = id,
                event_type = ty,
                subscription,
                attempt,
                outcome = "retry",
                duration_ms = ms,
                retry_in_ms = wait_ms,
                error,
                "deliver {ty} {id} -> {subscription}: failed (attempt {attempt}, {ms:.1} ms): {error}; retrying in {wait_ms} ms"
            );
        }
        Verdict::Dead { error } => {
            metrics::delivery(subscription, DeliveryOutcome::Dead, took);
            tracing::warn!(
                event_id = id,
                event_type = ty,
                subscription,
                attempt,
                outcome = "dead",
                duration_ms = ms,
                error,
                "deliver {ty} {id} -> {subscription}: dead-lettered after {attempt} attempt(s): {error}"
            );
        }
    }
}

/// The task that drains the store's due deliveries.
pub struct EmbeddedDispatcher {
    store: Arc<dyn EventStore>,
    targets: Targets,
    names: Vec<String>,
    urls: HashMap<String, String>,
    wake: Arc<Notify>,
}

impl EmbeddedDispatcher {
    /// A dispatcher of `store`'s deliveries to `targets`; `wake` says that new deliveries
    /// are due now.
    pub fn new(
        store: Arc<dyn EventStore>,
        targets: Targets,
        wake: Arc<Notify>,
    ) -> EmbeddedDispatcher {
        EmbeddedDispatcher {
            store,
            names: targets
                .subscriptions
                .iter()
                .map(|s| s.name.clone())
                .collect(),
            urls: targets
                .subscriptions
                .iter()
                .map(|s| (s.name.clone(), targets.url(s)))
                .collect(),
            targets,
            wake,
        }
    }

    /// Runs until aborted.
    pub async fn run(self) {
        let me = Arc::new(self);
        let mut tasks = JoinSet::new();
        let mut in_flight: HashMap<tokio::task::Id, i64> = HashMap::new();
        loop {
            while let Some(done) = tasks.try_join_next_with_id() {
                in_flight.remove(&finished_task(done));
            }
            let now = now_ms();
            let room = MAX_IN_FLIGHT.saturating_sub(in_flight.len());
            let busy: HashSet<i64> = in_flight.values().copied().collect();
            match me.store.due(&me.names, now, room, &busy).await {
                Ok(due) => {
                    for delivery in due {
                        let id = delivery.id;
                        let task = tasks.spawn(me.clone().deliver(delivery));
                        in_flight.insert(task.id(), id);
                    }
                }
                Err(e) => tracing::error!("broker: cannot read due deliveries: {e}"),
            }
            let next = me
                .store
                .next_due_after(&me.names, now)
                .await
                .unwrap_or_else(|e| {
                    tracing::error!("broker: cannot read due deliveries: {e}");
                    None
                });
            let sleep = next
                .map(|at| Duration::from_millis(at.saturating_sub(now).max(1) as u64))
                .unwrap_or(POLL_INTERVAL)
                .min(POLL_INTERVAL);
            tokio::select! {
                () = me.wake.notified() => {}
                () = tokio::time::sleep(sleep) => {}
                Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                    in_flight.remove(&finished_task(done));
                }
            }
        }
    }

    /// One attempt of one delivery, recorded in the store.
    async fn deliver(self: Arc<Self>, delivery: Delivery) {
        let Some(url) = self.urls.get(&delivery.subscription) else {
            return;
        };
        let event = &delivery.event;
        let attempt = self
            .targets
            .deliver(&delivery.subscription, url, event)
            .await;
        let failures = delivery.attempts + 1;
        let report = |verdict| {
            report(
                &delivery.subscription,
                event,
                failures,
                verdict,
                attempt.took,
            )
        };
        let transition = match attempt.outcome {
            Outcome::Done => {
                report(Verdict::Done);
                Transition::Done
            }
            Outcome::Retry(error) if failures < self.targets.settings.max_attempts => {
                let wait = self.targets.backoff(delivery.attempts);
                report(Verdict::Retry {
                    error: &error,
                    wait,
                });
                Transition::Retry {
                    attempts: failures,
                    due_at: now_ms() + wait.as_millis() as i64,
                    error,
                }
            }
            Outcome::Retry(error) | Outcome::Dead(error) => {
                report(Verdict::Dead { error: &error });
                Transition::Dead {
                    attempts: failures,
                    error,
                }
            }
        };
        if let Err(e) = self.store.finish(delivery.id, transition, now_ms()).await {
            tracing::error!(
                "broker: cannot record the delivery of event {} to {}: {e}",
                event.id,
                delivery.subscription
            );
        }
    }
}

fn finished_task(done: Result<(tokio::task::Id, ()), tokio::task::JoinError>) -> tokio::task::Id {
    match done {
        Ok((id, ())) => id,
        Err(e) => {
            tracing::error!("broker: a delivery task failed: {e}");
            e.id()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Result<(StatusCode, Bytes), String> {
        Ok((
            StatusCode::from_u16(status).unwrap(),
            Bytes::from(body.to_owned()),
        ))
    }

    #[test]
    fn only_an_empty_2xx_is_done_and_knatives_retries_are_retried() {
        assert_eq!(classify(answer(200, "")), Outcome::Done);
        assert_eq!(classify(answer(204, "")), Outcome::Done);
        let Outcome::Retry(why) = classify(answer(200, "{}")) else {
            panic!("a 2xx with a body is not done")
        };
        assert!(why.contains("502"), "{why}");
        for status in [500, 502, 503, 404, 408, 409, 429] {
            assert!(
                matches!(classify(answer(status, "")), Outcome::Retry(_)),
                "{status}"
            );
        }
        for status in [400, 401, 403, 413, 422] {
            assert!(
                matches!(classify(answer(status, "")), Outcome::Dead(_)),
                "{status}"
            );
        }
        assert_eq!(
            classify(Err("connection refused".into())),
            Outcome::Retry("connection refused".into())
        );
        assert_eq!(
            classify(answer(400, " {\"errors\":[]}\n")),
            Outcome::Dead("HTTP 400: {\"errors\":[]}".into())
        );
        let Outcome::Retry(long) = classify(answer(503, &"x".repeat(1000))) else {
            panic!()
        };
        assert_eq!(long.len(), "HTTP 503: ".len() + ERROR_BODY_CHARS);
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum_with_jitter_in_the_upper_half() {
        let settings = BrokerSettings {
            max_attempts: 10,
            backoff_initial_ms: 100,
            backoff_max_ms: 1000,
            tick_interval_ms: 1000,
        };
        let top: Vec<u64> = (0..6)
            .map(|n| backoff(&settings, n, 1.0).as_millis() as u64)
            .collect();
        assert_eq!(top, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(backoff(&settings, 0, 0.0), Duration::from_millis(50));
        assert_eq!(backoff(&settings, 2, 0.5), Duration::from_millis(300));
        assert_eq!(backoff(&settings, 200, 1.0), Duration::from_millis(1000));
    }
}
