//! The wasmCloud workloads of an app, derived from its Spin manifest.
//!
//! Every component of `spin.toml` becomes a workload of its own, and one more, the gateway,
//! serves the app's routes under one host name. Values stay Spin templates (`{{ name }}`)
//! over the app's variables and four deployment settings ([`SETTINGS`]), which
//! [`super::deploy`] and [`super::render`] expand.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::manifest::{Component, Manifest};

/// The OCI image name of the adapter component.
pub const ADAPTER: &str = "wasmcloud-adapter";
/// The name of the gateway workload and its image.
pub const GATEWAY: &str = "gateway";
/// Where the gateway and the adapter are built, relative to the manifest's directory: they
/// are not components of the manifest, so the plan names them.
pub const GATEWAY_WASM: &str = "target/wasm32-wasip2/release/gateway.wasm";
/// See [`GATEWAY_WASM`].
pub const ADAPTER_WASM: &str = "target/wasm32-wasip2/release/wasmcloud_adapter.wasm";
/// The command that builds them, in the manifest's directory.
pub const BUILD_GATEWAY_AND_ADAPTER: &str =
    "cargo build --target wasm32-wasip2 --release -p wasmcloud-adapter -p gateway";
/// The environment variable that carries the gateway's route table.
pub const ROUTES_ENV: &str = "BOXOFFICE_ROUTES";
/// Services answer under `<component>.<INTERNAL_DOMAIN>`, served in memory (`localRoute`,
/// with `wash host --http-local-routing`) and never from the network: the names of Spin's
/// service chaining, so the gateway and a component chaining to another (the pages
/// reading the API) reach the services by the same names as under Spin.
pub const INTERNAL_DOMAIN: &str = "spin.internal";
/// The host name each service must also bind for the network (the host requires one); no
/// DNS name points at it.
pub const DIRECT_DOMAIN: &str = "direct.boxoffice";

/// The deployment settings the definitions leave as templates, beside the app variables.
pub const SETTINGS: [&str; 4] = [REGISTRY, TAG, DATABASE_PREFIX, SHOP_HOST];
/// Where the images are (`127.0.0.1:5000`, `ghcr.io/me`).
pub const REGISTRY: &str = "oci_registry";
/// The image tag.
pub const TAG: &str = "oci_tag";
/// The prefix of each service's database name.
pub const DATABASE_PREFIX: &str = "database_prefix";
/// The host name the shop answers at (the gateway's binding).
pub const SHOP_HOST: &str = "shop_host";

/// What a workload is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// The component id in `spin.toml`, or [`GATEWAY`].
    pub name: String,
    /// The component's image (without registry and tag).
    pub image: String,
    /// Whether the adapter runs beside it (it imports Spin interfaces).
    pub adapter: bool,
    /// The host name it binds for incoming requests (a template).
    pub host: String,
    /// More host names it answers to.
    pub host_aliases: Vec<String>,
    /// The in-memory name the gateway reaches it by.
    pub local_route: Option<String>,
    /// Its Spin variables: name → template over the app variables.
    pub config: BTreeMap<String, String>,
    /// The key-value stores it may open (Spin's `key_value_stores`); the adapter refuses
    /// any other label, as Spin does.
    pub key_value_stores: Vec<String>,
    /// Its database (a template), when it uses SQL (`wasmcloud:postgres`).
    pub database: Option<String>,
    /// Where it may send HTTP requests (templates of URLs).
    pub allowed_hosts: Vec<String>,
    /// Environment variables.
    pub environment: BTreeMap<String, String>,
}

/// Why a manifest cannot be planned for wasmCloud.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A component uses a name the plan keeps for itself.
    #[error("a component may not be called `{0}` on wasmCloud: the name is the gateway's")]
    ReservedName(String),
    /// The app has no HTTP route.
    #[error("the manifest has no HTTP route for the gateway to serve")]
    NoRoutes,
}

/// Whether `template` names the variable `name` (`{{ name }}`, any spacing).
pub fn mentions(template: &str, name: &str) -> bool {
    template
        .split("{{")
        .skip(1)
        .filter_map(|rest| rest.split_once("}}"))
        .any(|(inside, _)| inside.trim() == name)
}

fn template(name: &str) -> String {
    format!("{{{{ {name} }}}}")
}

/// The database URL a service reads on wasmCloud: the host's `wasmcloud:postgres` plugin
/// chooses server and database, so only the scheme matters to the adapter; the path names
/// the database for a reader.
fn database_url(database: &str) -> String {
    format!("postgres://wasmcloud/{database}")
}

fn service(component: &Component) -> Workload {
    let uses_sql = !component.sqlite_databases.is_empty();
    let adapter =
        !component.variables.is_empty() || !component.key_value_stores.is_empty() || uses_sql;
    // The adapter imports wasmcloud:postgres whatever the component uses, and the host
    // links that only with a database to name: an adapted component without SQL (one that
    // reads only variables, such as graphql) gets its own, empty.
    let database = adapter.then(|| format!("{}{}", template(DATABASE_PREFIX), component.id));
    let mut config = component.variables.clone();
    if let Some(database) = &database {
        if config.contains_key("database_url") {
            config.insert("database_url".into(), database_url(database));
        }
    }
    Workload {
        name: component.id.clone(),
        image: component.id.clone(),
        adapter,
        host: format!("{}.{DIRECT_DOMAIN}", component.id),
        host_aliases: Vec::new(),
        local_route: Some(format!("{}.{INTERNAL_DOMAIN}", component.id)),
        config,
        key_value_stores: component.key_value_stores.clone(),
        database,
        // The database is reached through the host's plugin, not over HTTP.
        allowed_hosts: component
            .allowed_outbound_hosts
            .iter()
            .filter(|host| !mentions(host, "database_host") && !host.starts_with("postgres"))
            .cloned()
            .collect(),
        environment: BTreeMap::new(),
    }
}

/// The gateway's route table: every HTTP route of the manifest, to its component's
/// in-memory name (the format of `gateway::routes`).
pub fn route_table(manifest: &Manifest) -> String {
    manifest
        .triggers
        .iter()
        .filter_map(|t| {
            let route = t.route.as_deref()?;
            Some(format!("{route}=http://{}.{INTERNAL_DOMAIN}", t.component))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The workloads of `manifest`: one per component, by id, then the gateway.
pub fn plan(manifest: &Manifest) -> Result<Vec<Workload>, PlanError> {
    if manifest.components.contains_key(GATEWAY) {
        return Err(PlanError::ReservedName(GATEWAY.to_owned()));
    }
    let routes = route_table(manifest);
    if routes.is_empty() {
        return Err(PlanError::NoRoutes);
    }
    let mut workloads: Vec<Workload> = manifest.components.values().map(service).collect();
    workloads.push(Workload {
        name: GATEWAY.to_owned(),
        image: GATEWAY.to_owned(),
        adapter: false,
        host: template(SHOP_HOST),
        host_aliases: vec!["localhost".to_owned()],
        local_route: None,
        config: BTreeMap::new(),
        key_value_stores: Vec::new(),
        database: None,
        allowed_hosts: vec![format!("*.{INTERNAL_DOMAIN}")],
        environment: BTreeMap::from([(ROUTES_ENV.to_owned(), routes)]),
    });
    Ok(workloads)
}

/// An image the workloads run: its name (without registry and tag) and its `.wasm` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The image name.
    pub name: String,
    /// The file it is made of.
    pub file: PathBuf,
}

/// Every image the workloads of `manifest` run, once each: each component's (its
/// `source`), the gateway's, and the adapter's when a workload runs it.
pub fn images(manifest: &Manifest) -> Result<Vec<Image>, PlanError> {
    let workloads = plan(manifest)?;
    let mut images: Vec<Image> = workloads
        .iter()
        .map(|w| Image {
            name: w.image.clone(),
            file: match manifest.components.get(&w.name) {
                Some(component) => component.source.clone(),
                None => manifest.dir.join(GATEWAY_WASM),
            },
        })
        .collect();
    if workloads.iter().any(|w| w.adapter) {
        images.push(Image {
            name: ADAPTER.to_owned(),
            file: manifest.dir.join(ADAPTER_WASM),
        });
    }
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
spin_manifest_version = 2
[application]
name = "shop"
[variables]
broker_url = { default = "http://127.0.0.1:3001" }
database_url = { default = "" }
database_host = { default = "postgres://127.0.0.1:5432" }
jwt_key = { required = true, secret = true }

[[trigger.http]]
route = "/api/things/..."
component = "things"
[[trigger.http]]
route = "/internal/events/things"
component = "things"
[[trigger.http]]
route = "/..."
component = "web"

[component.things]
source = "things.wasm"
sqlite_databases = ["default"]
key_value_stores = ["default"]
allowed_outbound_hosts = ["{{ broker_url }}", "{{ database_host }}"]
[component.things.variables]
jwt_key = "{{ jwt_key }}"
database_url = "{{ database_url }}"

[component.web]
source = "web.wasm"
"#;

    fn manifest() -> Manifest {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spin.toml");
        std::fs::write(&path, MANIFEST).unwrap();
        Manifest::load(&path).unwrap()
    }

    #[test]
    fn each_component_is_a_workload_and_the_gateway_routes_to_them() {
        let workloads = plan(&manifest()).unwrap();
        let names: Vec<&str> = workloads.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["things", "web", "gateway"]);
        let gateway = &workloads[2];
        assert_eq!(
            gateway.environment[ROUTES_ENV],
            "/api/things/...=http://things.spin.internal \
             /internal/events/things=http://things.spin.internal \
             /...=http://web.spin.internal"
        );
        assert_eq!(gateway.host, "{{ shop_host }}");
    }

    #[test]
    fn a_service_gets_the_adapter_its_database_and_no_database_egress() {
        let things = plan(&manifest()).unwrap().remove(0);
        assert!(things.adapter);
        assert_eq!(things.key_value_stores, ["default"]);
        assert_eq!(
            things.database.as_deref(),
            Some("{{ database_prefix }}things")
        );
        assert_eq!(
            things.config["database_url"],
            "postgres://wasmcloud/{{ database_prefix }}things"
        );
        assert_eq!(things.config["jwt_key"], "{{ jwt_key }}");
        assert_eq!(things.allowed_hosts, ["{{ broker_url }}"]);
        assert_eq!(things.local_route.as_deref(), Some("things.spin.internal"));
        let web = plan(&manifest()).unwrap().remove(1);
        assert!(!web.adapter && web.database.is_none() && web.allowed_hosts.is_empty());
    }

    #[test]
    fn every_workload_image_comes_from_the_manifest_or_the_plan() {
        let manifest = manifest();
        let images = images(&manifest).unwrap();
        let shown: Vec<(&str, PathBuf)> = images
            .iter()
            .map(|i| (i.name.as_str(), i.file.clone()))
            .collect();
        assert_eq!(
            shown,
            [
                ("things", manifest.dir.join("things.wasm")),
                ("web", manifest.dir.join("web.wasm")),
                ("gateway", manifest.dir.join(GATEWAY_WASM)),
                (ADAPTER, manifest.dir.join(ADAPTER_WASM)),
            ]
        );
    }

    #[test]
    fn templates_are_recognised_with_any_spacing() {
        assert!(mentions("{{database_host}}", "database_host"));
        assert!(mentions("x{{  broker_url }}/y", "broker_url"));
        assert!(!mentions("{{ broker_url }}", "database_host"));
    }
}
