//! The wasmCloud files of `wadm/`: what `spin.toml` renders, committed, and accepted by the
//! published schemas of the platforms that take them. (The shop itself runs on a wash host
//! in `tests/purchase.rs`; the workloads' imports are checked in `tests/wit_surface.rs`.)

use boxoffice_testkit as support;

use std::path::{Path, PathBuf};

use serde_json::Value;

fn wadm() -> PathBuf {
    support::workspace_root().join("wadm")
}

fn schema_file(name: &str) -> PathBuf {
    support::workspace_root().join("schemas").join(name)
}

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `schema` made strict: an object schema that lists its properties accepts no others
/// (kubeconform's `-strict`), since an API server drops an unknown field silently.
fn strict(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            map.values_mut().for_each(strict);
        }
        Value::Array(items) => items.iter_mut().for_each(strict),
        _ => {}
    }
}

/// The errors of `instance` against `schema`, one line each.
fn violations(schema: &Value, instance: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(schema).expect("a valid schema");
    validator
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// The strict schema of `kind` in a CRD file, and its apiVersion.
fn crd_schema(file: &str, kind: &str) -> (String, Value) {
    let crd = yaml(&schema_file(file));
    assert_eq!(crd["spec"]["names"]["kind"], kind);
    let version = &crd["spec"]["versions"][0];
    let mut schema = version["schema"]["openAPIV3Schema"].clone();
    strict(&mut schema);
    let api_version = format!(
        "{}/{}",
        crd["spec"]["group"].as_str().unwrap(),
        version["name"].as_str().unwrap()
    );
    (api_version, schema)
}

#[test]
fn wadm_is_what_spin_toml_renders() {
    let (code, stderr) = support::run_to_exit({
        let mut cmd = support::boxoffice();
        cmd.current_dir(support::workspace_root())
            .args(["wasmcloud", "render", "--check"]);
        cmd
    });
    assert_eq!(
        code,
        Some(0),
        "wadm/ is stale: run `boxoffice wasmcloud render`\n{stderr}"
    );
}

#[test]
fn a_stale_file_is_named_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("wadm");
    let render = |check: bool| {
        let mut cmd = support::boxoffice();
        cmd.current_dir(support::workspace_root())
            .args(["wasmcloud", "render", "--out"])
            .arg(&out);
        if check {
            cmd.arg("--check");
        }
        support::run_to_exit(cmd)
    };
    let (code, stderr) = render(false);
    assert_eq!(code, Some(0), "{stderr}");
    let gateway = out.join("host/gateway.json");
    std::fs::write(&gateway, "{}").unwrap();
    std::fs::write(out.join("host/left-over.json"), "{}").unwrap();
    let (code, stderr) = render(true);
    support::assert_one_line_error(
        code,
        &stderr,
        &[
            "host/gateway.json",
            "host/left-over.json",
            "boxoffice wasmcloud render",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(&gateway).unwrap(),
        "{}",
        "--check wrote"
    );
    let (code, _) = render(false);
    assert_eq!(code, Some(0));
    assert!(!out.join("host/left-over.json").exists());
    assert_ne!(std::fs::read_to_string(&gateway).unwrap(), "{}");
}

#[test]
fn the_kubernetes_workloads_validate_against_the_wasmcloud_2_7_crd() {
    let (api_version, schema) = crd_schema(
        "wasmcloud-v2.7.0-runtime.wasmcloud.dev_workloaddeployments.yaml",
        "WorkloadDeployment",
    );
    let kustomization = yaml(&wadm().join("kubernetes/kustomization.yaml"));
    let resources = kustomization["resources"].as_array().unwrap();
    assert!(resources.len() >= 7, "{resources:?}");
    for resource in resources {
        let path = wadm().join("kubernetes").join(resource.as_str().unwrap());
        let manifest = yaml(&path);
        assert_eq!(
            manifest["apiVersion"],
            api_version.as_str(),
            "{}",
            path.display()
        );
        assert_eq!(manifest["kind"], "WorkloadDeployment");
        let errors = violations(&schema, &manifest);
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
        // No secret value is in git: secret variables come from Secrets.
        let text = std::fs::read_to_string(&path).unwrap();
        for secret in [
            "jwt_key:",
            "events_key:",
            "stripe_secret_key:",
            "stripe_webhook_secret:",
        ] {
            assert!(!text.contains(secret), "{}: {secret}", path.display());
        }
    }
}

#[test]
fn the_strict_schema_refuses_an_unknown_field() {
    let (_, schema) = crd_schema(
        "wasmcloud-v2.7.0-runtime.wasmcloud.dev_workloaddeployments.yaml",
        "WorkloadDeployment",
    );
    let mut manifest = yaml(&wadm().join("kubernetes/auth.yaml"));
    manifest["spec"]["template"]["spec"]["components"][0]["imagePullPolicyy"] = "Always".into();
    let errors = violations(&schema, &manifest);
    assert!(
        errors.iter().any(|e| e.contains("imagePullPolicyy")),
        "{errors:#?}"
    );
}

#[test]
fn the_wadm_application_validates_against_the_oam_schema() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(schema_file("wadm-v0.21.1-oam.schema.json")).unwrap(),
    )
    .unwrap();
    let app = yaml(&wadm().join("wadm.yaml"));
    let errors = violations(&schema, &app);
    assert!(errors.is_empty(), "wadm.yaml: {errors:#?}");
    let names: Vec<&str> = app["spec"]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for component in [
        "auth",
        "tickets",
        "orders",
        "expiration",
        "payments",
        "web",
        "health",
        "gateway",
    ] {
        assert!(names.contains(&component), "{names:?}");
    }
}

fn deploy(nats: &str, host_id: &str) -> (Option<i32>, String) {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = support::boxoffice();
    cmd.current_dir(support::workspace_root())
        .args(["wasmcloud", "deploy", "--nats", nats, "--host-id", host_id])
        .args(["--registry", "127.0.0.1:1/boxoffice", "--state-dir"])
        .arg(state.path());
    support::run_to_exit(cmd)
}

#[test]
fn deploying_to_no_host_or_no_nats_is_one_clear_error() {
    let nats = support::servers::ChildServer::nats();
    let (code, stderr) = deploy(&nats.url(), "no-such-host");
    support::assert_one_line_error(
        code,
        &stderr,
        &["no wash host with id no-such-host", "host_id="],
    );
    let closed = format!("nats://127.0.0.1:{}", support::servers::free_port());
    let (code, stderr) = deploy(&closed, "any");
    support::assert_one_line_error(code, &stderr, &["cannot connect to NATS at", &closed]);
}
