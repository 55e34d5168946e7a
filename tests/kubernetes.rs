//! The Kubernetes manifests of `k8s/`: the Knative eventing is what `events.toml` renders,
//! its Triggers are the local broker's subscriptions, every overlay (and component) renders
//! and validates against the published schemas, and no secret value is in git; the event
//! routes answer as Knative's broker requires, and the SpinApps are ones the shim starts, in
//! an order an empty cluster accepts.

use boxoffice_testkit as support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

fn k8s() -> PathBuf {
    support::workspace_root().join("k8s")
}

fn documents(text: &str) -> Vec<Value> {
    boxoffice::kubernetes::parse_documents(text).expect("YAML documents")
}

/// Why the validation cannot run here (kubectl with kustomize v5, the Python packages),
/// if it cannot: a skip with a message, or a failure with `CI=true`.
fn validation_missing() -> Option<String> {
    let kustomize = Command::new("kubectl")
        .args(["version", "--client"])
        .output();
    match kustomize {
        Ok(out) if String::from_utf8_lossy(&out.stdout).contains("Kustomize Version: v5") => {}
        _ => return Some("kubectl with kustomize v5 is not installed".into()),
    }
    let python = Command::new("python3")
        .args(["-c", "import kubernetes_validate, jsonschema, yaml"])
        .output();
    match python {
        Ok(out) if out.status.success() => None,
        _ => Some("the Python package kubernetes-validate is not installed (scripts/setup)".into()),
    }
}

fn can_validate() -> bool {
    support::runnable("of the manifests", validation_missing())
}

fn validate(args: &[&Path]) -> (bool, String) {
    let out = Command::new(support::workspace_root().join("scripts/k8s-validate"))
        .args(args)
        .output()
        .expect("run scripts/k8s-validate");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_eventing_is_what_events_toml_renders() {
    let mut cmd = support::boxoffice();
    cmd.current_dir(support::workspace_root())
        .args(["kubernetes", "render", "--check"]);
    let (code, stderr) = support::run_to_exit(cmd);
    assert_eq!(
        code,
        Some(0),
        "k8s/base/eventing is stale: run `boxoffice kubernetes render`\n{stderr}"
    );
}

#[test]
fn the_triggers_are_the_local_brokers_subscriptions() {
    let events: toml::Table =
        std::fs::read_to_string(support::workspace_root().join("events.toml"))
            .unwrap()
            .parse()
            .unwrap();
    let mut subscriptions = BTreeMap::new();
    for s in events["subscription"].as_array().unwrap() {
        let types: BTreeSet<String> = s["types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_owned())
            .collect();
        subscriptions.insert(
            format!("boxoffice-{}", s["name"].as_str().unwrap()),
            (s["route"].as_str().unwrap().to_owned(), types),
        );
    }
    let text = std::fs::read_to_string(k8s().join("base/eventing/triggers.yaml")).unwrap();
    let mut triggers = BTreeMap::new();
    for t in documents(&text) {
        assert_eq!(t["kind"], "Trigger");
        assert_eq!(t["spec"]["broker"], "boxoffice");
        assert_eq!(t["spec"]["subscriber"]["ref"]["name"], "boxoffice-events");
        let types: BTreeSet<String> = t["spec"]["filters"][0]["any"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["exact"]["type"].as_str().unwrap().to_owned())
            // Knative's clock, beside the broker's tick.
            .filter(|ty| ty != "dev.knative.sources.ping")
            .collect();
        triggers.insert(
            t["metadata"]["name"].as_str().unwrap().to_owned(),
            (
                t["spec"]["subscriber"]["uri"].as_str().unwrap().to_owned(),
                types,
            ),
        );
    }
    assert_eq!(triggers, subscriptions);
}

#[test]
fn every_overlay_and_component_validates_against_the_published_schemas() {
    if !can_validate() {
        return;
    }
    let (ok, output) = validate(&[]);
    assert!(ok, "{output}");
    for label in [
        "overlays/staging",
        "overlays/production",
        "k8s/argocd/production.yaml",
    ] {
        assert!(
            output.contains(label),
            "{label} was not validated:\n{output}"
        );
    }
}

#[test]
fn the_validator_rejects_a_broken_manifest() {
    if !can_validate() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The base, and one broken document beside it.
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        format!(
            "resources: [{}, broken.yaml]\n",
            pathdiff(&k8s().join("base"), dir.path())
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("broken.yaml"),
        "apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: broken}\n\
         spec:\n  broker: boxoffice\n  subscriber: {uri: /internal/events/x, urii: /y}\n",
    )
    .unwrap();
    let (ok, output) = validate(&[dir.path()]);
    assert!(!ok, "{output}");
    assert!(
        output.contains("Trigger/broken: spec.subscriber") && output.contains("'urii'"),
        "{output}"
    );
    assert_eq!(
        output.matches("error:").count(),
        1,
        "only the broken one:\n{output}"
    );
}

/// `to` relative to `from`, for a kustomization outside the repository.
fn pathdiff(to: &Path, from: &Path) -> String {
    let up = from.components().count();
    let mut path = PathBuf::new();
    for _ in 0..up - 1 {
        path.push("..");
    }
    path.push(to.strip_prefix("/").unwrap());
    path.display().to_string()
}

#[test]
fn no_secret_value_is_in_git() {
    let files = boxoffice::kubernetes::yaml_files(&k8s()).unwrap();
    assert!(files.len() > 10, "{files:?}");
    let secret_names = [
        "jwt_key",
        "_events_key",
        "stripe_secret_key",
        "stripe_webhook_secret",
        "database_url",
        "password",
    ];
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        for doc in documents(&text) {
            let kind = doc["kind"].as_str().unwrap_or_default();
            let name = format!("{}: {kind}/{}", path.display(), doc["metadata"]["name"]);
            assert_ne!(kind, "Secret", "{name}: a Secret in git; seal it");
            if kind == "SealedSecret" {
                for (key, value) in doc["spec"]["encryptedData"].as_object().unwrap() {
                    let value = value.as_str().unwrap_or_default();
                    // A template, or kubeseal's ciphertext (long base64), safe in git.
                    let sealed = value.len() >= 100
                        && value
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b));
                    assert!(value == "SEAL-ME" || sealed, "{name}: {key} is not sealed");
                }
            }
            if kind == "ConfigMap" {
                for (key, value) in doc["data"].as_object().into_iter().flatten() {
                    assert!(!secret_names.contains(&key.as_str()), "{name}: {key}");
                    let value = value.as_str().unwrap_or_default();
                    for marker in [
                        "sk_live_",
                        "sk_test_",
                        "-----BEGIN",
                        "://postgres:",
                        "PASSWORD=",
                    ] {
                        assert!(!value.contains(marker), "{name}: {key} holds {marker}");
                    }
                }
            }
            // SpinApp variables that are secret come from Secrets, never as a value.
            if kind == "SpinApp" {
                for variable in doc["spec"]["variables"].as_array().into_iter().flatten() {
                    let var = variable["name"].as_str().unwrap();
                    if secret_names.contains(&var) {
                        assert!(variable.get("value").is_none(), "{name}: {var} has a value");
                    }
                }
            }
        }
    }
}

/// The documents `kubectl kustomize` renders for the kustomization in `dir`.
fn kustomize(dir: &Path) -> Vec<Value> {
    let out = Command::new("kubectl")
        .args(["kustomize", "--load-restrictor", "LoadRestrictionsNone"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    documents(&String::from_utf8_lossy(&out.stdout))
}

/// The documents `kubectl kustomize` renders for `k8s/overlays/<overlay>`.
fn rendered(overlay: &str) -> Vec<Value> {
    kustomize(&k8s().join("overlays").join(overlay))
}

/// The documents of the production overlay with `components` of `k8s/components`, in its
/// namespace, as when they are listed in its `components:`.
fn rendered_with(components: &[&str]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let relative = |path: PathBuf| pathdiff(&path, dir.path());
    let kustomization = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": "boxoffice",
        "resources": [relative(k8s().join("overlays/production"))],
        "components": components.iter().map(|c| relative(k8s().join("components").join(c)))
            .collect::<Vec<_>>(),
    });
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        serde_norway::to_string(&kustomization).unwrap(),
    )
    .unwrap();
    kustomize(dir.path())
}

/// The sync wave Argo CD applies `doc` in (0 unless annotated).
fn sync_wave(doc: &Value) -> i64 {
    doc["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
        .as_str()
        .map_or(0, |wave| wave.parse().expect("a sync wave is an integer"))
}

/// On an empty cluster, spin-operator's validating webhook refuses a SpinApp whose
/// executor does not exist yet: `kubectl apply -k` applies in the rendered order, so the
/// executor comes first there; Argo CD applies by sync wave (then by its own kind order,
/// which puts SpinApp first), so the executor is a wave earlier.
#[test]
fn each_executor_is_applied_before_the_spin_apps_that_name_it() {
    if !can_validate() {
        return;
    }
    for overlay in ["staging", "production"] {
        let docs = rendered(overlay);
        let mut apps = 0;
        for (at, app) in docs
            .iter()
            .enumerate()
            .filter(|(_, d)| d["kind"] == "SpinApp")
        {
            apps += 1;
            let name = &app["metadata"]["name"];
            let executor = &app["spec"]["executor"];
            let (before, found) = docs
                .iter()
                .enumerate()
                .find(|(_, d)| d["kind"] == "SpinAppExecutor" && d["metadata"]["name"] == *executor)
                .unwrap_or_else(|| {
                    panic!("{overlay}: {name} names the executor {executor}, not rendered")
                });
            assert!(
                before < at,
                "{overlay}: the executor {executor} is rendered after {name}"
            );
            assert!(
                sync_wave(found) < sync_wave(app),
                "{overlay}: Argo CD would apply {name} in the executor's wave or before"
            );
        }
        assert_eq!(apps, 3, "{overlay}");
    }
}

/// The shim runs Spin's check of selective deployments before it starts a SpinApp that
/// lists `components`: every rendered one passes it.
#[test]
fn every_spin_app_is_a_selective_deployment_spin_starts() {
    if !can_validate() {
        return;
    }
    let manifest =
        boxoffice::manifest::Manifest::load(&support::workspace_root().join("spin.toml")).unwrap();
    for overlay in ["staging", "production"] {
        let refused = boxoffice::kubernetes::refused_spin_apps(&manifest, &rendered(overlay));
        assert!(refused.is_empty(), "{overlay}: {refused:#?}");
    }
}

#[test]
fn each_overlay_points_the_services_at_the_broker_of_its_namespace() {
    if !can_validate() {
        return;
    }
    for (overlay, namespace) in [
        ("staging", "boxoffice-staging"),
        ("production", "boxoffice"),
    ] {
        let docs = rendered(overlay);
        let apps: Vec<&Value> = docs.iter().filter(|d| d["kind"] == "SpinApp").collect();
        assert_eq!(apps.len(), 3);
        for app in apps {
            assert_eq!(app["metadata"]["namespace"], namespace);
            for variable in app["spec"]["variables"].as_array().into_iter().flatten() {
                if variable["name"] == "broker_url" {
                    assert_eq!(
                        variable["value"],
                        format!(
                            "http://broker-ingress.knative-eventing.svc.cluster.local/{namespace}/boxoffice"
                        ),
                        "{overlay}"
                    );
                }
            }
        }
        // The event routes are never reached through the Ingress.
        let ingress = docs.iter().find(|d| d["kind"] == "Ingress").unwrap();
        let paths = ingress["spec"]["rules"][0]["http"]["paths"]
            .as_array()
            .unwrap();
        let internal = paths.iter().find(|p| p["path"] == "/internal").unwrap();
        assert_eq!(
            internal["backend"]["service"]["name"],
            "boxoffice-not-found"
        );
        assert!(paths
            .iter()
            .all(|p| p["backend"]["service"]["name"] != "boxoffice-events"));
    }
}

#[test]
fn the_probes_are_the_health_components_and_it_is_not_public() {
    if !can_validate() {
        return;
    }
    for overlay in ["staging", "production"] {
        let docs = rendered(overlay);
        let apps: Vec<&Value> = docs.iter().filter(|d| d["kind"] == "SpinApp").collect();
        let mut probed = BTreeSet::new();
        for app in apps {
            let name = app["metadata"]["name"].as_str().unwrap();
            let serves_health = app["spec"]["components"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == "health");
            let checks = &app["spec"]["checks"];
            let (readiness, liveness) = (
                &checks["readiness"]["httpGet"]["path"],
                &checks["liveness"]["httpGet"]["path"],
            );
            if serves_health {
                assert_eq!(readiness, "/ready", "{overlay}: {name}");
                assert_eq!(liveness, "/health", "{overlay}: {name}");
                // /ready may take a second per check: more than the kubelet's default 1 s.
                assert!(
                    checks["readiness"]["timeoutSeconds"].as_i64() >= Some(3),
                    "{overlay}: {name}"
                );
                probed.insert(name.to_owned());
            } else {
                // Without the component, /ready would be another component's 404.
                assert_ne!(readiness, "/ready", "{overlay}: {name}");
                assert_ne!(liveness, "/health", "{overlay}: {name}");
            }
        }
        assert_eq!(
            probed,
            BTreeSet::from(["boxoffice".to_owned(), "boxoffice-events".to_owned()]),
            "{overlay}"
        );
        // The probes are the kubelet's; through the Ingress both are the 404 app's.
        let ingress = docs.iter().find(|d| d["kind"] == "Ingress").unwrap();
        let paths = ingress["spec"]["rules"][0]["http"]["paths"]
            .as_array()
            .unwrap();
        for path in ["/health", "/ready"] {
            let rule = paths
                .iter()
                .find(|p| p["path"] == path)
                .unwrap_or_else(|| panic!("{overlay}: no Ingress rule for {path}"));
            assert_eq!(rule["pathType"], "Exact", "{overlay}: {path}");
            assert_eq!(
                rule["backend"]["service"]["name"], "boxoffice-not-found",
                "{overlay}: {path}"
            );
        }
    }
}

/// A payload of `event_type` its consumers read (docs/events.md), about entities the shop
/// does not know: a creation is applied, a later change is "not yet".
fn sample_payload(event_type: &str) -> Value {
    let lines = json!([{"sku": "MUG-K8S", "quantity": 1}]);
    match event_type {
        "ticket:created" => json!({"id": "t-k8s", "version": 0, "title": "Knative night",
            "price": 20, "userId": "u-k8s"}),
        "ticket:updated" => json!({"id": "t-k8s", "version": 1, "title": "Knative night",
            "price": 25, "userId": "u-k8s"}),
        "order:created" => json!({"id": "o-k8s", "version": 0, "status": "created",
            "userId": "u-k8s", "expiresAt": "2999-01-01T00:00:00.000Z",
            "ticket": {"id": "t-k8s", "price": 20}}),
        "order:cancelled" => json!({"id": "o-k8s", "version": 1, "ticket": {"id": "t-k8s"}}),
        "order:completed" => json!({"id": "o-k8s", "version": 2, "ticket": {"id": "t-k8s"}}),
        "expiration:complete" => json!({"orderId": "o-k8s"}),
        "payment:created" => json!({"id": "p-k8s", "orderId": "o-k8s", "stripeId": "ch_k8s"}),
        "product:created" => json!({"sku": "MUG-K8S", "version": 0, "name": "Mug",
            "price": 9.5, "stock": 3, "userId": "u-k8s"}),
        "product:updated" => json!({"sku": "MUG-K8S", "version": 1, "name": "Mug",
            "price": 9.5, "stock": 2, "userId": "u-k8s"}),
        "purchase:created" => json!({"id": "pu-k8s", "version": 0, "status": "created",
            "userId": "u-k8s", "expiresAt": "2999-01-01T00:00:00.000Z", "total": 9.5,
            "lines": lines}),
        "purchase:cancelled" => json!({"id": "pu-k8s", "version": 1}),
        "purchase:completed" => json!({"id": "pu-k8s", "version": 2, "userId": "u-k8s",
            "city": "Lisbon", "lines": lines}),
        "shipment:dispatched" => json!({"id": "s-k8s", "purchaseId": "pu-k8s",
            "userId": "u-k8s", "city": "Lisbon", "dispatchedAt": "2026-01-01T00:00:00.000Z"}),
        other => panic!("no sample payload for {other}: add one"),
    }
}

/// What Knative's broker filter passes back to the channel for a subscriber's reply
/// (knative.dev/eventing, `pkg/broker/filter/filter_handler.go`): a non-2xx as it is; a
/// 2xx as it is only when its body is empty (or a CloudEvent, which would be published:
/// the shop's routes reply none), otherwise 502, which the channel retries and then
/// dead-letters.
fn through_knative_filter(reply: &support::Resp) -> u16 {
    let success = (200..300).contains(&reply.status);
    let is_cloudevent = reply.headers.contains_key("ce-specversion")
        || reply
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/cloudevents"));
    assert!(
        !is_cloudevent,
        "a route replied with a CloudEvent: {}",
        reply.text
    );
    if success && !reply.text.is_empty() {
        502
    } else {
        reply.status
    }
}

/// Every event type, and the clock's tick as Knative's PingSource sends it, delivered to
/// each route that subscribes to it the way Knative's broker delivers (re-encoded, its
/// time written by the Go SDK): the reply is one Knative passes on (never a 502) and means
/// the same to it as to our broker (204, 503, or 400 for an event about an entity a service
/// can never know), and the signature still verifies (never a 403).
#[test]
fn every_delivery_is_answered_as_knatives_broker_requires() {
    let shop = support::Shop::start();
    let events: toml::Table =
        std::fs::read_to_string(support::workspace_root().join("events.toml"))
            .unwrap()
            .parse()
            .unwrap();
    let mut delivered = BTreeSet::new();
    let mut applied = 0;
    for subscription in events["subscription"].as_array().unwrap() {
        let route = subscription["route"].as_str().unwrap();
        for event_type in subscription["types"].as_array().unwrap() {
            let event_type = event_type.as_str().unwrap();
            let (headers, body) = if event_type == "boxoffice:tick" {
                let ping = vec![
                    ("ce-specversion".to_owned(), "1.0".to_owned()),
                    ("ce-id".to_owned(), format!("ping-{route}")),
                    ("ce-type".to_owned(), "dev.knative.sources.ping".to_owned()),
                    (
                        "ce-source".to_owned(),
                        "/apis/v1/namespaces/boxoffice/pingsources/boxoffice-tick".to_owned(),
                    ),
                    ("ce-time".to_owned(), "2026-01-01T00:01:00.12Z".to_owned()),
                    ("content-type".to_owned(), "application/json".to_owned()),
                ];
                (ping, b"{}".to_vec())
            } else {
                let data = sample_payload(event_type);
                let id = format!("k8s-{event_type}-{route}");
                let publisher = support::test_publisher_key(event_type);
                let mut headers = support::event_headers(event_type, &id, &data, Some(&publisher));
                for (name, value) in &mut headers {
                    if name == "ce-time" {
                        *value = support::as_go_writes_it(value);
                        assert_ne!(*value, "2026-01-01T00:00:00.000Z", "the time was rewritten");
                    }
                }
                (headers, data.to_string().into_bytes())
            };
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            let reply = support::send("POST", &shop.url(route), &headers, Some(body));
            let what = format!("{event_type} to {route}: {} {:?}", reply.status, reply.text);
            assert_ne!(
                through_knative_filter(&reply),
                502,
                "Knative: 502 for {what}"
            );
            assert!(
                matches!(reply.status, 204 | 400 | 503),
                "applied (204), never (400) or not yet (503) expected, {what}"
            );
            if reply.status == 204 {
                applied += 1;
            }
            delivered.insert(event_type.to_owned());
        }
    }
    assert_eq!(
        delivered.len(),
        14,
        "every type and the tick: {delivered:?}"
    );
    assert!(applied >= 10, "most deliveries apply: {applied}");
}

/// A pod, as a NetworkPolicy sees it: its namespace and labels.
#[derive(Debug, Clone)]
struct Pod {
    namespace: &'static str,
    labels: BTreeMap<&'static str, &'static str>,
}

fn pod(namespace: &'static str, labels: &[(&'static str, &'static str)]) -> Pod {
    Pod {
        namespace,
        labels: labels.iter().copied().collect(),
    }
}

/// Whether a label selector (`matchLabels`, `matchExpressions`; `{}` is every pod) selects
/// `labels`.
fn selects(selector: &Value, labels: &BTreeMap<&str, &str>) -> bool {
    let by_label = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k.as_str()).copied() == v.as_str());
    let by_expression = selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|e| {
            let value = labels.get(e["key"].as_str().unwrap()).copied();
            let values: Vec<&str> = e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            match e["operator"].as_str().unwrap() {
                "In" => value.is_some_and(|v| values.contains(&v)),
                "NotIn" => !value.is_some_and(|v| values.contains(&v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                other => panic!("unknown selector operator {other}"),
            }
        });
    by_label && by_expression
}

/// Whether a rule's peer (`from` or `to` entry) of a policy in `namespace` is `peer`.
fn is_peer(entry: &Value, namespace: &str, peer: &Pod) -> bool {
    if entry.get("ipBlock").is_some() {
        return false; // pod traffic is matched by selectors here
    }
    let namespace_labels = BTreeMap::from([("kubernetes.io/metadata.name", peer.namespace)]);
    let in_namespace = match entry.get("namespaceSelector") {
        Some(selector) => selects(selector, &namespace_labels),
        None => peer.namespace == namespace,
    };
    let pod_matches = entry
        .get("podSelector")
        .is_none_or(|selector| selects(selector, &peer.labels));
    in_namespace && pod_matches
}

fn port_listed(rule: &Value, port: u16) -> bool {
    match rule["ports"].as_array() {
        None => true,
        Some(ports) => ports.iter().any(|p| {
            p["protocol"].as_str().unwrap_or("TCP") == "TCP"
                && p["port"].as_u64() == Some(port.into())
        }),
    }
}

/// Whether the NetworkPolicies among `docs` let `from` open a TCP connection to `to` on
/// `port`, by Kubernetes' rules: each end's side is open when no policy of its namespace
/// selects it for that direction, or one that does has a rule naming the other end and the
/// port. Only the policies of the app's namespace are known: an end elsewhere is open.
fn allowed(docs: &[Value], from: &Pod, to: &Pod, port: u16) -> bool {
    let side = |direction: &str, rules: &str, peers: &str, own: &Pod, other: &Pod| {
        let policies: Vec<&Value> = docs
            .iter()
            .filter(|d| d["kind"] == "NetworkPolicy")
            .filter(|d| d["metadata"]["namespace"] == own.namespace)
            .filter(|d| selects(&d["spec"]["podSelector"], &own.labels))
            .filter(|d| {
                d["spec"]["policyTypes"]
                    .as_array()
                    .is_some_and(|types| types.iter().any(|t| t == direction))
            })
            .collect();
        policies.is_empty()
            || policies.iter().any(|policy| {
                let namespace = policy["metadata"]["namespace"].as_str().unwrap();
                policy["spec"][rules]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|rule| {
                        let peer = match rule[peers].as_array() {
                            None => true,
                            Some(entries) => entries.iter().any(|e| is_peer(e, namespace, other)),
                        };
                        peer && port_listed(rule, port)
                    })
            })
    };
    side("Egress", "egress", "to", from, to) && side("Ingress", "ingress", "from", to, from)
}

/// Every flow the shop needs is let through by the production overlay's NetworkPolicies,
/// with each optional component that needs one of its own (its policies ship with it), and
/// the flows it must not have are not.
#[test]
fn the_network_policies_let_every_documented_flow_and_no_other() {
    if !can_validate() {
        return;
    }
    const NS: &str = "boxoffice";
    let app = |name| pod(NS, &[("core.spinkube.dev/app-name", name)]);
    let data = |name| pod(NS, &[("app.kubernetes.io/component", name)]);
    let (shop, events, not_found) = (
        app("boxoffice"),
        app("boxoffice-events"),
        app("boxoffice-not-found"),
    );
    let (postgres, redis, nats) = (data("postgres"), data("redis"), data("nats"));
    let collector = data("otel-collector");
    let ingress = pod(
        "ingress-nginx",
        &[("app.kubernetes.io/name", "ingress-nginx")],
    );
    let knative = pod(
        "knative-eventing",
        &[("app.kubernetes.io/component", "broker-filter")],
    );
    let dns = pod("kube-system", &[("k8s-app", "kube-dns")]);
    let prometheus = pod("monitoring", &[("app.kubernetes.io/name", "prometheus")]);
    let istiod = pod("istio-system", &[("app", "istiod")]);
    let mut base = vec![
        (&ingress, &shop, 80),
        (&ingress, &not_found, 80),
        (&knative, &events, 80),
        (&shop, &postgres, 5432),
        (&events, &postgres, 5432),
        (&shop, &redis, 6379),
        (&events, &redis, 6379),
        (&shop, &knative, 80),
        (&events, &knative, 80),
        (&knative, &nats, 4222),
    ];
    for each in [&shop, &events, &not_found] {
        base.push((each, &dns, 53));
    }
    let never = [
        (&ingress, &events, 80),
        (&shop, &nats, 4222),
        (&not_found, &postgres, 5432),
        (&prometheus, &shop, 80),
    ];
    let with_otel: Vec<_> = [&shop, &events, &not_found]
        .into_iter()
        .map(|from| (from, &collector, 4318))
        .collect();
    let scrape = [(&prometheus, &collector, 8889)];
    let sidecars: Vec<_> = [&shop, &events, &not_found, &postgres, &redis, &nats]
        .into_iter()
        .map(|from| (from, &istiod, 15012))
        .collect();
    let cases: [(&[&str], Vec<_>); 4] = [
        (&[], vec![]),
        (&["otel"], with_otel.clone()),
        (
            &["otel", "service-monitor"],
            [with_otel, scrape.to_vec()].concat(),
        ),
        (&["istio"], sidecars),
    ];
    for (components, extra) in cases {
        let docs = rendered_with(components);
        for (from, to, port) in base.iter().chain(&extra) {
            assert!(
                allowed(&docs, from, to, *port),
                "with {components:?}: {from:?} cannot reach {to:?} on {port}"
            );
        }
        for (from, to, port) in never {
            assert!(
                !allowed(&docs, from, to, port),
                "with {components:?}: {from:?} reaches {to:?} on {port}"
            );
        }
    }
}

/// Each StatefulSet's governing Service (`serviceName`) is headless, as Kubernetes
/// requires for its pods' stable names.
#[test]
fn every_stateful_set_is_governed_by_a_headless_service() {
    if !can_validate() {
        return;
    }
    let docs = rendered("production");
    let mut sets = 0;
    for set in docs.iter().filter(|d| d["kind"] == "StatefulSet") {
        sets += 1;
        let name = &set["spec"]["serviceName"];
        let service = docs
            .iter()
            .find(|d| d["kind"] == "Service" && d["metadata"]["name"] == *name)
            .unwrap_or_else(|| panic!("no Service {name}"));
        assert_eq!(service["spec"]["clusterIP"], "None", "{name}");
    }
    assert_eq!(sets, 3);
}

/// With the cert-manager component, cert-manager issues the certificate of every TLS host
/// of the Ingress into the secret it names (its ingress shim reads the annotation).
#[test]
fn the_cert_manager_component_certifies_the_ingress_hosts() {
    if !can_validate() {
        return;
    }
    let docs = rendered_with(&["cert-manager"]);
    let ingress = docs.iter().find(|d| d["kind"] == "Ingress").unwrap();
    assert_eq!(
        ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"],
        "letsencrypt"
    );
    let tls = ingress["spec"]["tls"]
        .as_array()
        .expect("production serves TLS");
    let hosts: BTreeSet<&str> = ingress["spec"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["host"].as_str())
        .collect();
    for host in hosts {
        assert!(
            tls.iter()
                .any(|t| t["hosts"].as_array().unwrap().iter().any(|h| h == host)
                    && t["secretName"].is_string()),
            "{host} has no TLS entry with a secret"
        );
    }
}
