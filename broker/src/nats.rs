//! The broker's queue on NATS JetStream, chosen by `[boxoffice.broker] type = "nats"`.
//!
//! - One stream (`<STREAM>`, subjects `<stream>.>`) holds the events: each accepted event is
//!   published once on `<stream>.events`, its `ce-*` attributes as headers and its data as
//!   the payload, with `Nats-Msg-Id` = source and id so that JetStream drops a duplicate.
//! - One durable pull consumer per subscription (named after it, explicit acks) reads the
//!   whole stream; the dispatcher acks at once what the subscription does not list, POSTs
//!   the rest to the subscription's route, and acks only after a 2xx. A retryable failure
//!   is NAKed with the broker's backoff as the delay; after `max_attempts` deliveries, or
//!   on a 4xx, the event goes to the dead-letter stream (`<STREAM>_DLQ`, subject
//!   `<stream>_dlq.<subscription>`) and is terminated.
//! - A replay publishes the dead letter again on `<stream>.replay.<subscription>`, which
//!   only that subscription's consumer delivers, and deletes it from the dead-letter stream.
//!
//! The client reconnects by itself; while NATS is away, publishing answers 503 (the
//! services keep the event in their outbox) and consumers are re-created with backoff.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream, AckKind};
use async_nats::HeaderMap;
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt as _;
use tokio::sync::Semaphore;

use crate::dispatch::{self, Outcome, Targets, Verdict, DELIVERY_TIMEOUT};
use crate::store::{
    Accepted, DeadLetter, DeliveryStatus, EventQueue, Millis, Replay, StatusCount, StoreError,
};
use crate::subscriptions::{Subscription, TICK_TYPE};
use crate::QueuedEvent;

/// Deliveries in flight at once per subscription.
pub const IN_FLIGHT_PER_SUBSCRIPTION: usize = 8;
/// How long events are kept in the stream.
const MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// The window in which JetStream drops a re-published event with the same id.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// The longest wait between two attempts to (re)create a consumer.
const MAX_RECONNECT_WAIT: Duration = Duration::from_secs(5);

const SUBSCRIPTION_HEADER: &str = "Boxoffice-Subscription";
const ATTEMPTS_HEADER: &str = "Boxoffice-Attempts";
const ERROR_HEADER: &str = "Boxoffice-Last-Error";
const DEAD_AT_HEADER: &str = "Boxoffice-Dead-At";
const CONTENT_TYPE_HEADER: &str = "Content-Type";

/// The broker's queue on a JetStream stream.
pub struct NatsQueue {
    js: jetstream::Context,
    stream: String,
    prefix: String,
    subscriptions: Vec<String>,
    timeout: Duration,
}

fn nats_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Nats(e.to_string())
}

impl NatsQueue {
    /// A queue on the stream `stream` of the server at `url`, for `subscriptions` (their
    /// names, for the statistics). The connection is made in the background and remade
    /// after a loss; operations give up after `timeout`.
    pub async fn connect(
        url: &str,
        stream: &str,
        subscriptions: Vec<String>,
        timeout: Duration,
    ) -> Result<NatsQueue, StoreError> {
        let client = async_nats::ConnectOptions::new()
            .name("boxoffice-broker")
            .connection_timeout(timeout)
            .request_timeout(Some(timeout))
            .retry_on_initial_connect()
            .max_reconnects(None)
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis((100 * 2u64.saturating_pow(attempts.min(6) as u32)).min(2000))
            })
            .event_callback(|event| async move {
                match event {
                    async_nats::Event::Disconnected => {
                        tracing::warn!("broker: lost the connection to NATS; reconnecting")
                    }
                    async_nats::Event::Connected => {
                        tracing::info!("broker: connected to NATS")
                    }
                    other => tracing::debug!("broker: NATS: {other}"),
                }
            })
            .connect(url)
            .await
            .map_err(nats_error)?;
        let js = jetstream::ContextBuilder::new()
            .timeout(timeout)
            .build(client);
        Ok(NatsQueue {
            js,
            prefix: stream.to_ascii_lowercase(),
            stream: stream.to_owned(),
            subscriptions,
            timeout,
        })
    }

    fn dlq_stream(&self) -> String {
        format!("{}_DLQ", self.stream)
    }

    fn events_subject(&self) -> String {
        format!("{}.events", self.prefix)
    }

    fn replay_subject(&self, subscription: &str) -> String {
        format!("{}.replay.{subscription}", self.prefix)
    }

    fn dlq_subject(&self, subscription: &str) -> String {
        format!("{}_dlq.{subscription}", self.prefix)
    }

    /// Creates the event and dead-letter streams if they do not exist.
    pub async fn ensure_streams(&self) -> Result<(), StoreError> {
        for (name, subject) in [
            (self.stream.clone(), format!("{}.>", self.prefix)),
            (self.dlq_stream(), format!("{}_dlq.>", self.prefix)),
        ] {
            self.js
                .get_or_create_stream(stream::Config {
                    name,
                    subjects: vec![subject],
                    storage: stream::StorageType::File,
                    max_age: MAX_AGE,
                    duplicate_window: DUPLICATE_WINDOW,
                    ..Default::default()
                })
                .await
                .map_err(nats_error)?;
        }
        Ok(())
    }

    /// Publishes and waits for JetStream's acknowledgement, within the timeout.
    async fn publish(
        &self,
        subject: String,
        headers: HeaderMap,
        payload: Bytes,
    ) -> Result<jetstream::publish::PublishAck, StoreError> {
        let work = async {
            self.js
                .publish_with_headers(subject, headers, payload)
                .await
                .map_err(nats_error)?
                .await
                .map_err(nats_error)
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Nats(format!(
                "no acknowledgement within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }

    async fn dlq(&self) -> Result<stream::Stream, StoreError> {
        self.js
            .get_stream(self.dlq_stream())
            .await
            .map_err(nats_error)
    }

    /// Every dead letter with its sequence in the dead-letter stream, oldest first.
    async fn dead_letter_messages(
        &self,
    ) -> Result<Vec<(u64, DeadLetter, QueuedEvent)>, StoreError> {
        let mut dlq = match self.dlq().await {
            Ok(dlq) => dlq,
            Err(StoreError::Nats(e)) if e.contains("not found") => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let state = dlq.info().await.map_err(nats_error)?.state.clone();
        let mut letters = Vec::new();
        if state.messages == 0 {
            return Ok(letters);
        }
        for sequence in state.first_sequence..=state.last_sequence {
            let message = match dlq.get_raw_message(sequence).await {
                Ok(message) => message,
                // Deleted by a replay.
                Err(e) if e.kind() == stream::RawMessageErrorKind::NoMessageFound => continue,
                Err(e) => return Err(nats_error(e)),
            };
            let event = event_from(&message.headers, message.payload.clone())?;
            let header = |name: &str| {
                message
                    .headers
                    .get(name)
                    .map(|v| v.as_str().to_owned())
                    .unwrap_or_default()
            };
            let letter = DeadLetter {
                event_id: event.id.clone(),
                source: event.source.clone(),
                ty: event.ty.clone(),
                subscription: header(SUBSCRIPTION_HEADER),
                attempts: header(ATTEMPTS_HEADER).parse().unwrap_or(0),
                last_error: header(ERROR_HEADER),
                dead_at: header(DEAD_AT_HEADER).parse().unwrap_or(0),
            };
            letters.push((sequence, letter, event));
        }
        Ok(letters)
    }
}

/// Acknowledges `message` as `kind`; a lost acknowledgement only means another delivery.
async fn acknowledge(message: &jetstream::Message, kind: AckKind) {
    if let Err(e) = message.ack_with(kind).await {
        tracing::debug!("broker: cannot acknowledge a message: {e}");
    }
}

/// The headers that carry `event`.
fn headers_of(event: &QueuedEvent) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in &event.attributes {
        headers.insert(name.as_str(), value.as_str());
    }
    if let Some(content_type) = &event.content_type {
        headers.insert(CONTENT_TYPE_HEADER, content_type.as_str());
    }
    headers
}

/// The event a message carries.
fn event_from(headers: &HeaderMap, payload: Bytes) -> Result<QueuedEvent, StoreError> {
    let mut attributes = BTreeMap::new();
    for (name, values) in headers.iter() {
        let name = name.to_string();
        if name.starts_with("ce-") {
            if let Some(value) = values.first() {
                attributes.insert(name, value.as_str().to_owned());
            }
        }
    }
    let required = |name: &str| {
        attributes
            .get(name)
            .cloned()
            .ok_or_else(|| StoreError::Corrupt(format!("a message without {name}")))
    };
    Ok(QueuedEvent {
        id: required("ce-id")?,
        source: required("ce-source")?,
        ty: required("ce-type")?,
        content_type: headers
            .get(CONTENT_TYPE_HEADER)
            .map(|v| v.as_str().to_owned()),
        attributes,
        data: payload,
    })
}

#[async_trait]
impl EventQueue for NatsQueue {
    async fn accept(
        &self,
        event: QueuedEvent,
        subscriptions: Vec<String>,
        _now: Millis,
    ) -> Result<Accepted, StoreError> {
        let mut headers = headers_of(&event);
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            format!("{} {}", event.source, event.id).as_str(),
        );
        let ack = match self
            .publish(self.events_subject(), headers.clone(), event.data.clone())
            .await
        {
            Ok(ack) => ack,
            // Before the dispatcher's first connection the stream may not exist yet.
            Err(first) => {
                self.ensure_streams().await.map_err(|_| first)?;
                self.publish(self.events_subject(), headers, event.data.clone())
                    .await?
            }
        };
        Ok(if ack.duplicate {
            Accepted::Duplicate
        } else {
            Accepted::New(subscriptions.len())
        })
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        Ok(self
            .dead_letter_messages()
            .await?
            .into_iter()
            .map(|(_, letter, _)| letter)
            .collect())
    }

    async fn replay(&self, which: Replay, _now: Millis) -> Result<usize, StoreError> {
        let letters = self.dead_letter_messages().await?;
        let chosen: Vec<&(u64, DeadLetter, QueuedEvent)> = match &which {
            Replay::All => letters.iter().collect(),
            Replay::Events(ids) => {
                let unknown: Vec<String> = ids
                    .iter()
                    .filter(|id| !letters.iter().any(|(_, l, _)| &l.event_id == *id))
                    .cloned()
                    .collect();
                if !unknown.is_empty() {
                    return Err(StoreError::UnknownEvents(unknown));
                }
                letters
                    .iter()
                    .filter(|(_, l, _)| ids.contains(&l.event_id))
                    .collect()
            }
        };
        let dlq = self.dlq().await?;
        for (sequence, letter, event) in &chosen {
            let mut headers = headers_of(event);
            headers.insert(
                async_nats::header::NATS_MESSAGE_ID,
                format!("replay {} {sequence}", self.dlq_stream()).as_str(),
            );
            self.publish(
                self.replay_subject(&letter.subscription),
                headers,
                event.data.clone(),
            )
            .await?;
            dlq.delete_message(*sequence).await.map_err(nats_error)?;
        }
        Ok(chosen.len())
    }

    async fn stats(&self) -> Result<Vec<StatusCount>, StoreError> {
        let mut counts = Vec::new();
        let mut dead: HashMap<String, u64> = HashMap::new();
        for letter in self.dead_letters().await? {
            *dead.entry(letter.subscription).or_default() += 1;
        }
        let stream = match self.js.get_stream(&self.stream).await {
            Ok(stream) => Some(stream),
            Err(e) if e.to_string().contains("not found") => None,
            Err(e) => return Err(nats_error(e)),
        };
        for name in &self.subscriptions {
            let pending = match &stream {
                Some(stream) => match stream.consumer_info(name).await {
                    // Not yet delivered, or delivered and not yet acknowledged; messages
                    // the subscription does not list are counted until they are skipped.
                    Ok(info) => info.num_pending + info.num_ack_pending as u64,
                    Err(_) => 0,
                },
                None => 0,
            };
            counts.push(StatusCount {
                subscription: name.clone(),
                status: DeliveryStatus::Pending,
                count: pending,
            });
            if let Some(&n) = dead.get(name) {
                counts.push(StatusCount {
                    subscription: name.clone(),
                    status: DeliveryStatus::Dead,
                    count: n,
                });
            }
        }
        Ok(counts)
    }
}

/// The delivery tasks: one durable consumer per subscription.
pub struct NatsDispatcher {
    queue: Arc<NatsQueue>,
    targets: Targets,
}

impl NatsDispatcher {
    /// A dispatcher of `queue`'s deliveries to `targets`.
    pub fn new(queue: Arc<NatsQueue>, targets: Targets) -> NatsDispatcher {
        NatsDispatcher { queue, targets }
    }

    /// Runs until aborted.
    pub async fn run(self) {
        let me = Arc::new(self);
        let mut tasks = tokio::task::JoinSet::new();
        for subscription in me.targets.subscriptions.clone() {
            tasks.spawn(me.clone().consume(subscription));
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Delivers `subscription`'s events for ever, re-creating its consumer after a failure.
    async fn consume(self: Arc<Self>, subscription: Subscription) {
        let mut failures = 0u32;
        loop {
            match self.consume_once(&subscription).await {
                Ok(()) => failures = 0,
                Err(e) => {
                    failures += 1;
                    // One warning per outage; the retries after it are debug lines.
                    if failures == 1 {
                        tracing::warn!(
                            "broker: subscription `{}`: {e}; retrying",
                            subscription.name
                        );
                    } else {
                        tracing::debug!("broker: subscription `{}`: {e}", subscription.name);
                    }
                }
            }
            let wait = Duration::from_millis(100 * 2u64.saturating_pow(failures.min(6)))
                .min(MAX_RECONNECT_WAIT);
            tokio::time::sleep(wait).await;
        }
    }

    async fn consume_once(self: &Arc<Self>, subscription: &Subscription) -> Result<(), StoreError> {
        self.queue.ensure_streams().await?;
        let stream = self
            .queue
            .js
            .get_stream(&self.queue.stream)
            .await
            .map_err(nats_error)?;
        let consumer: consumer::PullConsumer = stream
            .get_or_create_consumer(
                &subscription.name,
                consumer::pull::Config {
                    durable_name: Some(subscription.name.clone()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    // Longer than an attempt can take, so that only a lost broker's
                    // deliveries come back by themselves.
                    ack_wait: DELIVERY_TIMEOUT * 3,
                    // The dispatcher bounds attempts itself, so that the last failure
                    // is dead-lettered rather than silently dropped by the server.
                    max_deliver: -1,
                    max_ack_pending: (IN_FLIGHT_PER_SUBSCRIPTION * 4) as i64,
                    filter_subject: format!("{}.>", self.queue.prefix),
                    ..Default::default()
                },
            )
            .await
            .map_err(nats_error)?;
        let mut messages = consumer.messages().await.map_err(nats_error)?;
        tracing::debug!("broker: consuming for subscription `{}`", subscription.name);
        let slots = Arc::new(Semaphore::new(IN_FLIGHT_PER_SUBSCRIPTION));
        let url = self.targets.url(subscription);
        while let Some(message) = messages.next().await {
            let message = message.map_err(nats_error)?;
            let permit = slots.clone().acquire_owned().await.map_err(nats_error)?;
            let (me, subscription, url) = (self.clone(), subscription.clone(), url.clone());
            tokio::spawn(async move {
                me.handle(&subscription, &url, message).await;
                drop(permit);
            });
        }
        Err(StoreError::Nats(
            "the consumer's message stream ended".into(),
        ))
    }

    /// Whether `subscription` should get the message on `subject` of type `ty`.
    fn wanted(&self, subscription: &Subscription, subject: &str, ty: &str) -> bool {
        if subject == self.queue.events_subject() {
            ty != TICK_TYPE && subscription.wants(ty)
        } else {
            subject == self.queue.replay_subject(&subscription.name)
        }
    }

    async fn handle(&self, subscription: &Subscription, url: &str, message: jetstream::Message) {
        let ack = |kind: AckKind| acknowledge(&message, kind);
        let event = match message
            .headers
            .as_ref()
            .ok_or_else(|| StoreError::Corrupt("a message without headers".into()))
            .and_then(|h| event_from(h, message.payload.clone()))
        {
            Ok(event) => event,
            Err(e) => {
                tracing::warn!("broker: dropped an unreadable message: {e}");
                return ack(AckKind::Term).await;
            }
        };
        if !self.wanted(subscription, message.subject.as_str(), &event.ty) {
            return ack(AckKind::Ack).await;
        }
        let delivered = message
            .info()
            .map(|i| i.delivered.max(1) as u32)
            .unwrap_or(1);
        let attempt = self.targets.deliver(&subscription.name, url, &event).await;
        let report = |verdict| {
            dispatch::report(&subscription.name, &event, delivered, verdict, attempt.took)
        };
        match attempt.outcome {
            Outcome::Done => {
                report(Verdict::Done);
                ack(AckKind::Ack).await
            }
            Outcome::Retry(error) if delivered < self.targets.settings.max_attempts => {
                let wait = self.targets.backoff(delivered - 1);
                report(Verdict::Retry {
                    error: &error,
                    wait,
                });
                ack(AckKind::Nak(Some(wait))).await
            }
            Outcome::Retry(error) | Outcome::Dead(error) => {
                let mut headers = headers_of(&event);
                headers.insert(SUBSCRIPTION_HEADER, subscription.name.as_str());
                headers.insert(ATTEMPTS_HEADER, delivered.to_string().as_str());
                headers.insert(ERROR_HEADER, error.replace(['\r', '\n'], " ").as_str());
                headers.insert(DEAD_AT_HEADER, crate::store::now_ms().to_string().as_str());
                let sequence = message.info().map(|i| i.stream_sequence).unwrap_or(0);
                headers.insert(
                    async_nats::header::NATS_MESSAGE_ID,
                    format!(
                        "dead {} {sequence} {}",
                        self.queue.stream, subscription.name
                    )
                    .as_str(),
                );
                match self
                    .queue
                    .publish(
                        self.queue.dlq_subject(&subscription.name),
                        headers,
                        event.data.clone(),
                    )
                    .await
                {
                    Ok(_) => {
                        report(Verdict::Dead { error: &error });
                        ack(AckKind::Term).await
                    }
                    Err(e) => {
                        tracing::warn!(
                            "broker: cannot dead-letter event {} for {}: {e}; it will be retried",
                            event.id,
                            subscription.name
                        );
                        ack(AckKind::Nak(Some(Duration::from_millis(
                            self.targets.settings.backoff_max_ms,
                        ))))
                        .await
                    }
                }
            }
        }
    }
}
