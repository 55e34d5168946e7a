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
//! Both also hold every SpinApp of the kustomize base to the check Spin runs on a selective
//! deployment ([`selective_deployment`]), so that none ships that the shim would refuse.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize as _;
use serde_json::{json, Value};

use crate::broker::subscriptions::{BrokerSettings, Subscriptions, TICK_TYPE};
use crate::manifest::Manifest;
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

/// The host name suffix of service chaining (`http://<component>.spin.internal`).
const SERVICE_CHAINING_DOMAIN: &str = "spin.internal";

/// The component an `allowed_outbound_hosts` entry chains to, if it names one, read as
/// Spin reads it (`parse_service_chaining_target` in spin-factor-outbound-networking): the
/// entry parsed as a URI, its host `<name>.spin.internal` (`*` for a wildcard). An entry
/// that is not a URI (a template such as `{{ broker_host }}`) names none.
fn chaining_target(allowed_host: &str) -> Option<String> {
    let uri: http::Uri = allowed_host.parse().ok()?;
    let host = uri.authority()?.host().trim();
    let (first, rest) = host.split_once('.')?;
    (rest == SERVICE_CHAINING_DOMAIN).then(|| first.to_owned())
}

/// Spin's check of a selective deployment (`spin up --component`, and the shim's for a
/// SpinApp's `components`), as Spin 3 runs it before it starts anything
/// (`validate_retained_components_exist` and `validate_service_chaining_for_components`):
/// every retained component exists, and each one that chains to another
/// (`allowed_outbound_hosts = ["http://<name>.spin.internal"]`) chains only to a retained
/// one; wildcard chaining (`http://*.spin.internal`) is refused outright; templated
/// entries are not checked (Spin has not resolved them yet). The error is Spin's message.
pub fn selective_deployment(manifest: &Manifest, retained: &[String]) -> Result<(), String> {
    for id in retained {
        if !manifest.components.contains_key(id) {
            return Err(format!(
                "Specified component \"{id}\" not found in application"
            ));
        }
    }
    for trigger in &manifest.triggers {
        let Some(component) = manifest.components.get(&trigger.component) else {
            continue;
        };
        if !retained.contains(&component.id) {
            continue;
        }
        for host in &component.allowed_outbound_hosts {
            let Some(target) = chaining_target(host) else {
                continue;
            };
            if retained.contains(&target) {
                continue;
            }
            let id = &component.id;
            return Err(if target == "*" {
                format!(
                    "Selected component '{id}' cannot use wildcard service chaining: \
                     allowed_outbound_hosts = [\"http://*.spin.internal\"]"
                )
            } else {
                format!(
                    "Selected component '{id}' cannot use service chaining to unselected \
                     component: allowed_outbound_hosts = [\"http://{target}.spin.internal\"]"
                )
            });
        }
    }
    Ok(())
}

/// Why Spin would refuse to start `document` (parsed YAML), if it is a SpinApp that
/// deploys some of `manifest`'s components (`spec.components`; without it, all of them,
/// which Spin accepts); `None` when Spin would start it or it is no SpinApp.
pub fn refused_spin_app(manifest: &Manifest, document: &Value) -> Option<String> {
    if document["kind"] != "SpinApp" {
        return None;
    }
    let retained: Vec<String> = document["spec"]["components"]
        .as_array()?
        .iter()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    let name = document["metadata"]["name"].as_str().unwrap_or("(unnamed)");
    selective_deployment(manifest, &retained)
        .err()
        .map(|why| format!("SpinApp `{name}` would not start: {why}"))
}

/// [`refused_spin_app`] of each of `documents`: one line per refused app, empty when none is.
pub fn refused_spin_apps(manifest: &Manifest, documents: &[Value]) -> Vec<String> {
    documents
        .iter()
        .filter_map(|document| refused_spin_app(manifest, document))
        .collect()
}

/// The `.yaml` files under `dir`, at any depth, sorted.
pub fn yaml_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", folder.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// The documents of a multi-document YAML `text`, the empty ones left out.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, serde_norway::Error> {
    let mut out = Vec::new();
    for document in serde_norway::Deserializer::from_str(text) {
        let value = Value::deserialize(document)?;
        if !value.is_null() {
            out.push(value);
        }
    }
    Ok(out)
}

/// Fails, naming each one, if Spin would refuse to start a SpinApp of the YAML under
/// `dir` (see [`selective_deployment`]).
pub fn check_spin_apps(manifest: &Manifest, dir: &Path) -> anyhow::Result<()> {
    let mut refused = Vec::new();
    for file in yaml_files(dir)? {
        let text = std::fs::read_to_string(&file)?;
        let documents =
            parse_documents(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        for document in &documents {
            if let Some(why) = refused_spin_app(manifest, document) {
                refused.push(format!("{why} ({})", file.display()));
            }
        }
    }
    anyhow::ensure!(
        refused.is_empty(),
        "{}\n(a SpinApp may retain only components that chain to retained ones; docs/kubernetes.md)",
        refused.join("\n")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop() -> Manifest {
        Manifest::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../spin.toml")).unwrap()
    }

    fn names(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|id| id.to_string()).collect()
    }

    #[test]
    fn the_pages_alone_are_refused_as_spin_refuses_them() {
        // The shape of boxoffice-not-found before it had a component of its own.
        assert_eq!(
            selective_deployment(&shop(), &names(&["web"])),
            Err(
                "Selected component 'web' cannot use service chaining to unselected \
                 component: allowed_outbound_hosts = [\"http://auth.spin.internal\"]"
                    .to_owned()
            )
        );
        assert_eq!(
            selective_deployment(&shop(), &names(&["not-found"])),
            Ok(())
        );
        // The cart chains to shipping: with it, accepted; without it, refused.
        assert_eq!(
            selective_deployment(&shop(), &names(&["cart", "shipping"])),
            Ok(())
        );
        assert!(selective_deployment(&shop(), &names(&["cart"]))
            .unwrap_err()
            .contains("'cart' cannot use service chaining to unselected component"));
        assert_eq!(
            selective_deployment(&shop(), &names(&["nobody"])),
            Err("Specified component \"nobody\" not found in application".to_owned())
        );
    }

    #[test]
    fn chaining_targets_are_read_as_spin_reads_them() {
        assert_eq!(
            chaining_target("http://auth.spin.internal"),
            Some("auth".into())
        );
        assert_eq!(
            chaining_target("https://auth.spin.internal:8443"),
            Some("auth".into())
        );
        assert_eq!(chaining_target("http://*.spin.internal"), Some("*".into()));
        assert_eq!(chaining_target("{{ broker_host }}"), None);
        assert_eq!(chaining_target("postgres://db:5432"), None);
        assert_eq!(chaining_target("http://a.b.spin.internal"), None);
    }

    #[test]
    fn a_spin_app_is_checked_by_the_components_it_lists() {
        let documents = [
            json!({"kind": "SpinApp", "metadata": {"name": "pages"},
                   "spec": {"components": ["web"]}}),
            json!({"kind": "SpinApp", "metadata": {"name": "all"}, "spec": {}}),
            json!({"kind": "SpinApp", "metadata": {"name": "shop"},
                   "spec": {"components": ["web", "auth", "tickets", "orders", "payments",
                     "catalog", "cart", "ratings", "shipping"]}}),
            json!({"kind": "Service", "metadata": {"name": "web"},
                   "spec": {"components": ["web"]}}),
        ];
        let refused = refused_spin_apps(&shop(), &documents);
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert!(refused[0].starts_with("SpinApp `pages` would not start: Selected component 'web'"));
    }

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
