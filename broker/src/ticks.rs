//! The broker's clock: every tick interval, a fresh `boxoffice:tick` event goes straight
//! to each subscription that lists it. Ticks are not stored or retried (the next one comes
//! anyway), and a subscription still busy with the previous tick skips this one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::dispatch::{post, HttpClient};
use crate::subscriptions::{Subscription, TICK_TYPE};
use crate::QueuedEvent;

pub use boxoffice_wire::cloudevent::TICK_SOURCE;

/// A fresh tick event: a new id, the current time, and `{}` as data.
pub fn tick_event() -> QueuedEvent {
    let mut event = QueuedEvent::new(
        &uuid::Uuid::new_v4().to_string(),
        TICK_SOURCE,
        TICK_TYPE,
        &b"{}"[..],
        Some("application/json"),
    );
    event.attributes.insert(
        "ce-time".to_owned(),
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    );
    event
}

struct Target {
    url: String,
    busy: AtomicBool,
}

/// The tick task.
pub struct Clock {
    client: HttpClient,
    targets: Vec<Arc<Target>>,
    interval: Duration,
}

impl Clock {
    /// A clock for those of `subscriptions` that list `boxoffice:tick`.
    pub fn new(
        client: HttpClient,
        app_base: &str,
        subscriptions: &[Subscription],
        interval: Duration,
    ) -> Clock {
        let targets = subscriptions
            .iter()
            .filter(|s| s.wants(TICK_TYPE))
            .map(|s| {
                Arc::new(Target {
                    url: format!("{app_base}{}", s.route),
                    busy: AtomicBool::new(false),
                })
            })
            .collect();
        Clock {
            client,
            targets,
            interval,
        }
    }

    /// Ticks until aborted; the first tick comes one interval after the start.
    pub async fn run(self) {
        if self.targets.is_empty() {
            return;
        }
        let start = tokio::time::Instant::now() + self.interval;
        let mut timer = tokio::time::interval_at(start, self.interval);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            timer.tick().await;
            for target in &self.targets {
                if target.busy.swap(true, Ordering::AcqRel) {
                    tracing::debug!(
                        "broker: tick to {} skipped: the last one is in flight",
                        target.url
                    );
                    continue;
                }
                let (client, target) = (self.client.clone(), target.clone());
                tokio::spawn(async move {
                    let event = tick_event();
                    match post(&client, &target.url, &event, None).await {
                        Ok((status, _)) if status.is_success() => {}
                        Ok((status, _)) => {
                            tracing::debug!("broker: tick to {} answered {status}", target.url)
                        }
                        Err(e) => tracing::debug!("broker: tick to {} failed: {e}", target.url),
                    }
                    target.busy.store(false, Ordering::Release);
                });
            }
        }
    }
}
