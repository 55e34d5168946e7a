//! The Kubernetes manifests of `k8s/`: the Knative eventing is what `events.toml` renders,
//! its Triggers are the local broker's subscriptions, every overlay (and component) renders
//! and validates against the published schemas, and no secret value is in git.

use boxoffice_testkit as support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn k8s() -> PathBuf {
    support::workspace_root().join("k8s")
}

fn documents(text: &str) -> Vec<Value> {
    text.split("\n---\n")
        .filter_map(|doc| serde_norway::from_str::<Value>(doc).ok())
        .filter(|doc| !doc.is_null())
        .collect()
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
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
    let mut files = Vec::new();
    yaml_files(&k8s(), &mut files);
    assert!(files.len() > 10, "{files:?}");
    let secret_names = [
        "jwt_key",
        "events_key",
        "stripe_secret_key",
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

/// The documents `kubectl kustomize` renders for `k8s/overlays/<overlay>`.
fn rendered(overlay: &str) -> Vec<Value> {
    let out = Command::new("kubectl")
        .args(["kustomize"])
        .arg(k8s().join("overlays").join(overlay))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    documents(&String::from_utf8_lossy(&out.stdout))
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
