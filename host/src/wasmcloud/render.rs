//! The files under `wadm/`, rendered from the [plan](super::plan):
//!
//! - `host/<workload>.json`: the `workload.start` requests a local `wash host` takes, with
//!   Spin templates (`{{ broker_url }}`, `{{ oci_registry }}`) that
//!   [`boxoffice wasmcloud deploy`](super::deploy) expands;
//! - `kubernetes/<workload>.yaml` and `kubernetes/kustomization.yaml`: wasmCloud 2
//!   `WorkloadDeployment`s for the wasmCloud operator, secrets from Kubernetes Secrets;
//! - `wadm.yaml`: the same app as a wadm application for wasmCloud 1.x.
//!
//! [`files`] renders them all; [`crate::generated`] writes them or says which differ, for
//! the test that keeps the committed ones current.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde_json::{json, Map, Value};

use super::plan::{self, Workload, ADAPTER, DATABASE_PREFIX, REGISTRY, SHOP_HOST, TAG};
use crate::manifest::Manifest;
use crate::outbound_http::origin as allowed_host;
use crate::variables::AppVariables;

/// The WIT versions a wash 2.10 host serves and the workloads ask for.
const HTTP_VERSION: &str = "0.2.0";
const KEYVALUE_VERSION: &str = "0.2.0-draft";
const CONFIG_VERSION: &str = "0.2.0-rc.1";
const POSTGRES_VERSION: &str = "0.1.1-draft";

/// The deployment settings the Kubernetes and wadm files are written with. Kustomize
/// (`images:`, patches) changes them per environment.
fn published_settings() -> [(&'static str, &'static str); 4] {
    [
        (REGISTRY, "registry.example.com/boxoffice"),
        (TAG, env!("CARGO_PKG_VERSION")),
        (DATABASE_PREFIX, "boxoffice_"),
        (SHOP_HOST, "boxoffice.example.com"),
    ]
}

fn image(workload_image: &str) -> String {
    format!("{{{{ {REGISTRY} }}}}/{workload_image}:{{{{ {TAG} }}}}")
}

fn string_map(map: &BTreeMap<String, String>) -> Value {
    Value::Object(
        map.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

fn http_interface(w: &Workload) -> Value {
    let mut config = Map::new();
    config.insert("host".into(), w.host.clone().into());
    if !w.host_aliases.is_empty() {
        config.insert("host-aliases".into(), w.host_aliases.join(",").into());
    }
    if let Some(route) = &w.local_route {
        config.insert("localRoute".into(), route.clone().into());
    }
    json!({"namespace": "wasi", "package": "http", "interfaces": ["incoming-handler"],
           "version": HTTP_VERSION, "config": config})
}

/// The host interfaces of `w`. With the adapter, all three it imports are there (the
/// host would not link it otherwise): `config` is the `wasi:config` entry's config and
/// `secrets` the Secrets it also reads (Kubernetes only).
fn host_interfaces(w: &Workload, config: Option<Value>, secrets: &[String]) -> Vec<Value> {
    let mut interfaces = vec![http_interface(w)];
    let Some(mut config) = config else {
        return interfaces;
    };
    interfaces.push(json!({"namespace": "wasi", "package": "keyvalue",
        "interfaces": ["store"], "version": KEYVALUE_VERSION}));
    config[KEY_VALUE_STORES] = w.key_value_stores.join(",").into();
    let mut entry = json!({"namespace": "wasi", "package": "config",
        "interfaces": ["store"], "version": CONFIG_VERSION, "config": config});
    if !secrets.is_empty() {
        entry["secretFrom"] = secrets.iter().map(|s| json!({"name": s})).collect();
    }
    interfaces.push(entry);
    let mut postgres = json!({"namespace": "wasmcloud", "package": "postgres",
        "interfaces": ["types", "query"], "version": POSTGRES_VERSION});
    if let Some(database) = &w.database {
        postgres["config"] = json!({"database": database});
    }
    interfaces.push(postgres);
    interfaces
}

/// The config key that lists the key-value stores a component may open, read by the
/// adapter. Not a valid Spin variable name, so no variable can shadow it.
pub const KEY_VALUE_STORES: &str = "spin.key-value-stores";

/// The `workload.start` request of `w` for a `wash host`, templates intact.
pub fn host_definition(namespace: &str, w: &Workload) -> Value {
    let mut resources = Map::new();
    if !w.environment.is_empty() {
        resources.insert("environment".into(), string_map(&w.environment));
    }
    if !w.allowed_hosts.is_empty() {
        resources.insert("allowedHosts".into(), json!(w.allowed_hosts));
    }
    let mut components = vec![json!({"name": w.name, "image": image(&w.image),
        "localResources": resources})];
    if w.adapter {
        components.push(json!({"name": ADAPTER, "image": image(ADAPTER)}));
    }
    let config = w.adapter.then(|| string_map(&w.config));
    json!({
        "workloadId": format!("{namespace}-{}", w.name),
        "workload": {
            "namespace": namespace,
            "name": w.name,
            "witWorld": {
                "components": components,
                "hostInterfaces": host_interfaces(w, config, &[]),
            }
        }
    })
}

/// The Secret that holds the secret app variable `name` under the key `name`.
pub fn secret_name(namespace: &str, name: &str) -> String {
    format!("{namespace}-{}", name.replace('_', "-"))
}

/// Expands `template` with `values`, refusing a value that is only a placeholder for a
/// variable with no default.
fn expand(values: &AppVariables, template: &str) -> anyhow::Result<String> {
    let expanded = values.expand(template)?;
    if expanded.contains(NO_DEFAULT) {
        bail!("`{template}` needs a variable that has no default; give it from a Secret");
    }
    Ok(expanded)
}

/// Stands for a required variable without default while rendering.
const NO_DEFAULT: &str = "\u{0}no-default";

/// The app variables at their defaults, and the published deployment settings.
fn published_values(manifest: &Manifest) -> anyhow::Result<AppVariables> {
    let missing = manifest
        .variables
        .iter()
        .filter(|(_, decl)| decl.default.is_none())
        .map(|(name, _)| (name.clone(), NO_DEFAULT.to_owned()))
        .collect();
    let mut values = AppVariables::resolve(&manifest.variables, |_| None, &missing)?;
    for (name, value) in published_settings() {
        values = values.with(name, value);
    }
    Ok(values)
}

/// The secret app variable a config template is exactly (`{{ jwt_key }}` for `jwt_key`).
fn secret_of<'a>(manifest: &'a Manifest, key: &str, template: &str) -> Option<&'a str> {
    let name = template
        .trim()
        .strip_prefix("{{")?
        .strip_suffix("}}")?
        .trim();
    let (name, decl) = manifest.variables.get_key_value(name)?;
    (decl.secret && name == key).then_some(name.as_str())
}

/// `w`'s config as the published files carry it: the values of its non-secret variables,
/// expanded, and the names of the stores (Secrets, named configs) of its secret ones.
fn published_config(
    manifest: &Manifest,
    values: &AppVariables,
    w: &Workload,
) -> anyhow::Result<(BTreeMap<String, String>, Vec<String>)> {
    let mut config = BTreeMap::new();
    let mut secrets = Vec::new();
    for (key, template) in &w.config {
        match secret_of(manifest, key, template) {
            Some(name) => secrets.push(secret_name(&manifest.name, name)),
            None => {
                let value = expand(values, template)
                    .with_context(|| format!("{}: variable {key}", w.name))?;
                config.insert(key.clone(), value);
            }
        }
    }
    Ok((config, secrets))
}

/// The `WorkloadDeployment` of `w` for the wasmCloud operator, with `values` from
/// [`published_values`].
pub fn kubernetes(
    manifest: &Manifest,
    values: &AppVariables,
    w: &Workload,
) -> anyhow::Result<Value> {
    let namespace = &manifest.name;
    let (config, secrets) = published_config(manifest, values, w)?;
    let mut expanded = w.clone();
    expanded.host = expand(values, &w.host)?;
    expanded.database = w
        .database
        .as_deref()
        .map(|d| expand(values, d))
        .transpose()?;
    let mut resources = Map::new();
    if !w.environment.is_empty() {
        resources.insert(
            "environment".into(),
            json!({"config": string_map(&w.environment)}),
        );
    }
    if !w.allowed_hosts.is_empty() {
        let hosts = w
            .allowed_hosts
            .iter()
            .map(|h| expand(values, h).map(|url| allowed_host(&url)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        resources.insert("allowedHosts".into(), json!(hosts));
    }
    let mut components = vec![json!({"name": w.name,
        "image": expand(values, &image(&w.image))?, "localResources": resources})];
    if w.adapter {
        components.push(json!({"name": ADAPTER, "image": expand(values, &image(ADAPTER))?}));
    }
    let wasi_config = w.adapter.then(|| string_map(&config));
    let labels = json!({"app.kubernetes.io/name": namespace,
        "app.kubernetes.io/component": w.name});
    Ok(json!({
        "apiVersion": "runtime.wasmcloud.dev/v1alpha1",
        "kind": "WorkloadDeployment",
        "metadata": {"name": format!("{namespace}-{}", w.name), "labels": labels},
        "spec": {
            "replicas": 1,
            "template": {
                "labels": labels,
                "spec": {
                    "components": components,
                    "hostInterfaces": host_interfaces(&expanded, wasi_config, &secrets),
                }
            }
        }
    }))
}

/// The app as a wadm application for wasmCloud 1.x: each service with its adapter
/// linked to it, the adapters linked to the key-value and Postgres providers, and the
/// gateway behind the HTTP server provider. Secret variables are named configs the
/// operator creates (`wash config put <namespace>-<variable> <variable>=…`).
pub fn wadm(
    manifest: &Manifest,
    values: &AppVariables,
    workloads: &[Workload],
) -> anyhow::Result<Value> {
    let namespace = &manifest.name;
    let mut components = Vec::new();
    let spread = json!({"type": "spreadscaler", "properties": {"instances": 1}});
    for w in workloads {
        let mut traits = vec![spread.clone()];
        if w.adapter {
            let adapter = format!("{}-{ADAPTER}", w.name);
            traits.push(json!({"type": "link", "properties": {
                "target": {"name": adapter}, "namespace": "fermyon", "package": "spin",
                "interfaces": ["key-value", "variables", "rdbms-types", "postgres", "sqlite"]}}));
            let (mut config, secrets) = published_config(manifest, values, w)?;
            config.insert(KEY_VALUE_STORES.to_owned(), w.key_value_stores.join(","));
            let mut config_list = vec![json!({"name": format!("{}-config", w.name),
                "properties": config})];
            config_list.extend(secrets.iter().map(|name| json!({"name": name})));
            let mut adapter_traits = vec![spread.clone()];
            if !w.key_value_stores.is_empty() {
                adapter_traits.push(json!({"type": "link", "properties": {
                    "target": {"name": "keyvalue"}, "namespace": "wasi", "package": "keyvalue",
                    "interfaces": ["store", "atomics"]}}));
            }
            if let Some(database) = &w.database {
                adapter_traits.push(json!({"type": "link", "properties": {
                    "target": {"name": "postgres", "config": [{
                        "name": format!("{}-database", w.name),
                        "properties": {"POSTGRES_DATABASE": expand(values, database)?}}]},
                    "namespace": "wasmcloud", "package": "postgres",
                    "interfaces": ["query"]}}));
            }
            components.push(json!({"name": adapter, "type": "component", "properties": {
                "image": expand(values, &image(ADAPTER))?, "config": config_list},
                "traits": adapter_traits}));
        }
        if !w.allowed_hosts.is_empty() || w.name == plan::GATEWAY {
            traits.push(json!({"type": "link", "properties": {
                "target": {"name": "httpclient"}, "namespace": "wasi", "package": "http",
                "interfaces": ["outgoing-handler"]}}));
        }
        components.push(json!({"name": w.name, "type": "component",
            "properties": {"image": expand(values, &image(&w.image))?},
            "traits": traits}));
    }
    components.push(json!({"name": "httpserver", "type": "capability",
        "properties": {"image": "ghcr.io/wasmcloud/http-server:0.27.1"},
        "traits": [{"type": "link", "properties": {
            "target": {"name": plan::GATEWAY}, "namespace": "wasi", "package": "http",
            "interfaces": ["incoming-handler"],
            "source": {"config": [{"name": "gateway-listener",
                "properties": {"address": "0.0.0.0:8000"}}]}}}]}));
    for (name, image) in [
        ("httpclient", "ghcr.io/wasmcloud/http-client:0.13.1"),
        ("keyvalue", "ghcr.io/wasmcloud/keyvalue-nats:0.3.1"),
        ("postgres", "ghcr.io/wasmcloud/sqldb-postgres:0.9.0"),
    ] {
        components.push(json!({"name": name, "type": "capability",
            "properties": {"image": image}}));
    }
    Ok(json!({
        "apiVersion": "core.oam.dev/v1beta1",
        "kind": "Application",
        "metadata": {
            "name": namespace,
            "annotations": {
                "version": format!("v{}", env!("CARGO_PKG_VERSION")),
                "description": format!(
                    "{namespace} on wasmCloud 1.x, generated from spin.toml by \
                     `boxoffice wasmcloud render`"),
            }
        },
        "spec": {"components": components}
    }))
}

fn yaml(value: &Value) -> anyhow::Result<String> {
    crate::generated::yaml_documents(
        "boxoffice wasmcloud render",
        "spin.toml",
        std::slice::from_ref(value),
    )
}

/// Every file under `wadm/`, by path relative to it.
pub fn files(manifest: &Manifest) -> anyhow::Result<BTreeMap<PathBuf, String>> {
    let workloads = plan::plan(manifest)?;
    let values = published_values(manifest)?;
    let mut files = BTreeMap::new();
    let mut resources = Vec::new();
    for w in &workloads {
        let definition = host_definition(&manifest.name, w);
        files.insert(
            Path::new("host").join(format!("{}.json", w.name)),
            format!("{}\n", serde_json::to_string_pretty(&definition)?),
        );
        let name = format!("{}.yaml", w.name);
        files.insert(
            Path::new("kubernetes").join(&name),
            yaml(&kubernetes(manifest, &values, w)?)?,
        );
        resources.push(name);
    }
    files.insert(
        Path::new("kubernetes").join("kustomization.yaml"),
        yaml(&json!({"apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization", "resources": resources}))?,
    );
    files.insert(
        PathBuf::from("wadm.yaml"),
        yaml(&wadm(manifest, &values, &workloads)?)?,
    );
    Ok(files)
}

/// The folders under `wadm/` that hold generated files only.
pub const OWNED: [&str; 2] = ["host", "kubernetes"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_named_after_their_variable() {
        assert_eq!(secret_name("boxoffice", "jwt_key"), "boxoffice-jwt-key");
    }
}
