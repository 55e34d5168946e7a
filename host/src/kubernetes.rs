//! The Knative Eventing part of `k8s/base`, rendered from `events.toml`, so that the local
//! broker and Kubernetes cannot disagree on who receives what:
//!
//! - `broker.yaml`: the `Broker` on a NATS JetStream channel (its channel template
//!   `ConfigMap`), and the `NatsJetStreamChannel` that takes the dead letters;
//! - `triggers.yaml`: one `Trigger` per subscription, filtered on its event types, to its
//!   route on the events SpinApp, with the retries and backoff of `[broker]`;
//! - `tick.yaml`: the clock, a `PingSource` (Knative's cron: once a minute at most).
//!
//! `boxoffice kubernetes render` writes them; `--check` and the tests keep them current.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{json, Value};

use crate::broker::subscriptions::{BrokerSettings, Subscriptions, TICK_TYPE};
use boxoffice_wire::cloudevent::KNATIVE_PING_TYPE;

/// The Broker's name.
pub const BROKER: &str = "boxoffice";
/// The Service of the SpinApp that serves the event routes.
pub const EVENTS_SERVICE: &str = "boxoffice-events";
/// The channel the dead letters go to.
pub const DEAD_LETTERS: &str = "boxoffice-dead-letters";
/// The PingSource that is the clock.
pub const TICK: &str = "boxoffice-tick";
const CHANNEL_TEMPLATE: &str = "boxoffice-broker-channel";
const NATS_CHANNEL_API: &str = "messaging.knative.dev/v1alpha1";

fn labels(part: &str) -> Value {
    json!({"app.kubernetes.io/name": "boxoffice", "app.kubernetes.io/component": part})
}

/// A millisecond duration in ISO 8601 (`PT0.1S`), as Knative's `backoffDelay` wants it.
pub fn iso_duration(ms: u64) -> String {
    let (seconds, millis) = (ms / 1000, ms % 1000);
    if millis == 0 {
        format!("PT{seconds}S")
    } else {
        let fraction = format!("{millis:03}");
        format!("PT{seconds}.{}S", fraction.trim_end_matches('0'))
    }
}

/// The delivery spec of `[broker]`: `max_attempts` deliveries in all (Knative's `retry`
/// counts those after the first), exponential backoff from `backoff_initial_ms`, and the
/// dead-letter channel. Knative's backoff has no ceiling: `backoff_max_ms` has no
/// equivalent.
pub fn delivery(settings: &BrokerSettings) -> Value {
    json!({
        "retry": settings.max_attempts.saturating_sub(1),
        "backoffPolicy": "exponential",
        "backoffDelay": iso_duration(settings.backoff_initial_ms),
        "deadLetterSink": {"ref": {"apiVersion": NATS_CHANNEL_API,
            "kind": "NatsJetStreamChannel", "name": DEAD_LETTERS}},
    })
}

/// The CloudEvent types a subscription's Trigger passes: its types, with Knative's ping
/// beside the broker's tick (a PingSource cannot send another type).
pub fn trigger_types(types: &[String]) -> Vec<String> {
    let mut out: Vec<String> = types.to_vec();
    if types.iter().any(|t| t == TICK_TYPE) {
        out.push(KNATIVE_PING_TYPE.to_owned());
    }
    out
}

fn broker(settings: &BrokerSettings) -> Vec<Value> {
    vec![
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": CHANNEL_TEMPLATE, "labels": labels("eventing")},
            "data": {"channel-template-spec":
                format!("apiVersion: {NATS_CHANNEL_API}\nkind: NatsJetStreamChannel\n")}}),
        json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
        "metadata": {"name": BROKER, "labels": labels("eventing"),
            "annotations": {"eventing.knative.dev/broker.class": "MTChannelBasedBroker"}},
        "spec": {
            "config": {"apiVersion": "v1", "kind": "ConfigMap", "name": CHANNEL_TEMPLATE},
            "delivery": delivery(settings),
        }}),
        json!({"apiVersion": NATS_CHANNEL_API, "kind": "NatsJetStreamChannel",
            "metadata": {"name": DEAD_LETTERS, "labels": labels("eventing")}}),
    ]
}

fn triggers(subscriptions: &Subscriptions) -> Vec<Value> {
    subscriptions
        .subscriptions
        .iter()
        .map(|s| {
            let any: Vec<Value> = trigger_types(&s.types)
                .iter()
                .map(|t| json!({"exact": {"type": t}}))
                .collect();
            json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Trigger",
            "metadata": {"name": format!("boxoffice-{}", s.name), "labels": labels("eventing")},
            "spec": {
                "broker": BROKER,
                "filters": [{"any": any}],
                "subscriber": {
                    "ref": {"apiVersion": "v1", "kind": "Service", "name": EVENTS_SERVICE},
                    "uri": s.route,
                },
                "delivery": delivery(&subscriptions.broker),
            }})
        })
        .collect()
}

fn tick() -> Value {
    json!({"apiVersion": "sources.knative.dev/v1", "kind": "PingSource",
    "metadata": {"name": TICK, "labels": labels("eventing")},
    "spec": {
        "schedule": "* * * * *",
        "contentType": "application/json",
        "data": "{}",
        "sink": {"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
            "name": BROKER}},
    }})
}

fn documents(docs: &[Value]) -> anyhow::Result<String> {
    crate::generated::yaml_documents("boxoffice kubernetes render", "events.toml", docs)
}

/// The folders the render owns under its output.
pub const OWNED: [&str; 1] = ["eventing"];

/// The files under `k8s/base`, by path relative to it.
pub fn files(subscriptions: &Subscriptions) -> anyhow::Result<BTreeMap<PathBuf, String>> {
    let eventing = PathBuf::from("eventing");
    Ok(BTreeMap::from([
        (
            eventing.join("broker.yaml"),
            documents(&broker(&subscriptions.broker))?,
        ),
        (
            eventing.join("triggers.yaml"),
            documents(&triggers(subscriptions))?,
        ),
        (eventing.join("tick.yaml"), documents(&[tick()])?),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_iso_8601() {
        assert_eq!(iso_duration(100), "PT0.1S");
        assert_eq!(iso_duration(1500), "PT1.5S");
        assert_eq!(iso_duration(2000), "PT2S");
        assert_eq!(iso_duration(25), "PT0.025S");
    }

    #[test]
    fn a_trigger_per_subscription_with_its_types_and_the_ping_for_the_tick() {
        let subscriptions = Subscriptions::parse(
            "[broker]\nmax_attempts = 4\nbackoff_initial_ms = 250\n\n\
             [[subscription]]\nname = \"a\"\ncomponent = \"a\"\nroute = \"/internal/events/a\"\n\
             types = [\"x:created\", \"boxoffice:tick\"]\n",
        )
        .unwrap();
        let triggers = triggers(&subscriptions);
        assert_eq!(triggers.len(), 1);
        let t = &triggers[0];
        assert_eq!(t["metadata"]["name"], "boxoffice-a");
        assert_eq!(t["spec"]["subscriber"]["uri"], "/internal/events/a");
        assert_eq!(
            t["spec"]["filters"][0]["any"],
            json!([{"exact": {"type": "x:created"}}, {"exact": {"type": "boxoffice:tick"}},
                   {"exact": {"type": "dev.knative.sources.ping"}}])
        );
        assert_eq!(t["spec"]["delivery"]["retry"], 3);
        assert_eq!(t["spec"]["delivery"]["backoffDelay"], "PT0.25S");
    }
}
