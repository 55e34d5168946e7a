//! The event broker of boxoffice (docs/events.md): accepts CloudEvents over HTTP, keeps them durably,
//! and pushes each to the component routes whose subscription lists its type, retrying
//! with backoff until a 2xx or the dead-letter queue. It also sends the `boxoffice:tick`
//! clock. It runs inside `boxoffice up` or alone as `boxoffice broker`.
//!
//! - [`subscriptions`]: `events.toml`, the contract of who receives what.
//! - [`store`]: the durable queue behind a small trait; SQLite (`broker.db`) embedded.
//! - [`nats`]: the queue on NATS JetStream, with its own consumers.
//! - [`ingress`]: the HTTP endpoint services POST events to.
//! - [`dispatch`]: delivery, retries and dead-lettering.
//! - [`ticks`]: the clock.
//! - [`dlq`]: the operator's view: `boxoffice events dlq list|replay` and `events stats`.

pub mod dispatch;
pub mod dlq;
pub mod ingress;
pub mod nats;
pub mod store;
pub mod subscriptions;
pub mod ticks;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use boxoffice_telemetry::metrics::Gauges;
use boxoffice_wire::signature::PublicKeys;
use bytes::Bytes;
use tokio::sync::Notify;

use self::nats::NatsQueue;
use self::store::{EventQueue, EventStore};
use self::subscriptions::{Subscription, Subscriptions};

pub use boxoffice_wire::cloudevent::SPEC_VERSION;

/// One CloudEvent as the broker keeps and forwards it: in binary mode, its attributes are
/// the `ce-*` headers and its data is the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedEvent {
    /// `id`: with `source`, what makes the event unique.
    pub id: String,
    /// `source`.
    pub source: String,
    /// `type`, such as `ticket:created`.
    pub ty: String,
    /// Every attribute as its `ce-*` header (lower-case name), forwarded as received.
    pub attributes: BTreeMap<String, String>,
    /// The content type of `data`.
    pub content_type: Option<String>,
    /// The data.
    pub data: Bytes,
}

impl QueuedEvent {
    /// An event with the required attributes and no others.
    pub fn new(
        id: &str,
        source: &str,
        ty: &str,
        data: impl Into<Bytes>,
        content_type: Option<&str>,
    ) -> QueuedEvent {
        let attributes = [
            ("ce-specversion", SPEC_VERSION),
            ("ce-id", id),
            ("ce-source", source),
            ("ce-type", ty),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        QueuedEvent {
            id: id.to_owned(),
            source: source.to_owned(),
            ty: ty.to_owned(),
            attributes,
            content_type: content_type.map(str::to_owned),
            data: data.into(),
        }
    }
}

/// Where the broker keeps its events.
#[derive(Clone)]
pub enum Queue {
    /// The embedded store, with the broker's own delivery bookkeeping.
    Embedded(Arc<dyn EventStore>),
    /// NATS JetStream, with a durable consumer per subscription.
    Nats(Arc<NatsQueue>),
}

impl Queue {
    /// The queue as the ingress and the operator's commands see it.
    pub fn events(&self) -> Arc<dyn EventQueue> {
        match self {
            Queue::Embedded(store) => store.clone(),
            Queue::Nats(queue) => queue.clone(),
        }
    }
}

/// A broker ready to serve: its queue, its subscriptions and where the app listens.
pub struct Broker {
    queue: Queue,
    subscriptions: Arc<Subscriptions>,
    app_base: String,
    deliver_to: Vec<Subscription>,
    tick_interval: Duration,
    publishers: Option<Arc<PublicKeys>>,
}

impl Broker {
    /// A broker that delivers to every subscription on `app_base` (such as
    /// `http://127.0.0.1:3000`), ticking as `[broker]` says.
    pub fn new(queue: Queue, subscriptions: Subscriptions, app_base: &str) -> Broker {
        Broker {
            queue,
            deliver_to: subscriptions.subscriptions.clone(),
            tick_interval: subscriptions.broker.tick_interval(),
            subscriptions: Arc::new(subscriptions),
            app_base: app_base.trim_end_matches('/').to_owned(),
            publishers: None,
        }
    }

    /// Accepts at its ingress only events signed by the publisher their source names,
    /// with one of `keys` (see [`ingress`]); without, it accepts any CloudEvent.
    pub fn accepting_only_signed(mut self, keys: PublicKeys) -> Broker {
        self.publishers = Some(Arc::new(keys));
        self
    }

    /// Overrides the tick period of `[broker]`.
    pub fn with_tick_interval(mut self, interval: Duration) -> Broker {
        self.tick_interval = interval;
        self
    }

    /// Delivers (and ticks) only to the subscriptions `keep` accepts; the others' events
    /// are still queued and wait in the store. `up` keeps those whose component the
    /// manifest has, so that a component added later receives what it missed.
    pub fn deliver_only_to(mut self, keep: impl Fn(&Subscription) -> bool) -> Broker {
        self.deliver_to.retain(|s| keep(s));
        self
    }

    /// What sets the queue-depth and dead-letter gauges of the subscriptions at a scrape.
    pub fn gauges(&self) -> Arc<dyn Gauges> {
        Arc::new(QueueGauges {
            queue: self.queue.events(),
            names: self
                .subscriptions
                .subscriptions
                .iter()
                .map(|s| s.name.clone())
                .collect(),
        })
    }

    /// Accepts events on `listener` and delivers them until the future is dropped.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
        let wake = Arc::new(Notify::new());
        let client = dispatch::client();
        let targets = dispatch::Targets {
            settings: self.subscriptions.broker,
            subscriptions: self.deliver_to.clone(),
            app_base: self.app_base.clone(),
            client: client.clone(),
        };
        let dispatcher = match &self.queue {
            Queue::Embedded(store) => tokio::spawn(
                dispatch::EmbeddedDispatcher::new(store.clone(), targets, wake.clone()).run(),
            ),
            Queue::Nats(queue) => {
                tokio::spawn(nats::NatsDispatcher::new(queue.clone(), targets).run())
            }
        };
        let clock = ticks::Clock::new(client, &self.app_base, &self.deliver_to, self.tick_interval);
        let _tasks = AbortOnDrop(vec![dispatcher, tokio::spawn(clock.run())]);
        let ingress = ingress::Ingress {
            store: self.queue.events(),
            subscriptions: self.subscriptions,
            publishers: self.publishers,
            wake,
        };
        ingress.serve(listener).await
    }
}

/// The gauges of the queue's backlog, per subscription.
struct QueueGauges {
    queue: Arc<dyn EventQueue>,
    names: Vec<String>,
}

impl Gauges for QueueGauges {
    fn refresh(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async {
            if let Err(e) = dlq::record_metrics(&*self.queue, &self.names).await {
                tracing::warn!("broker: cannot count the queue for the metrics: {e:#}");
            }
        })
    }
}

/// Background tasks that end with the broker.
struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}
