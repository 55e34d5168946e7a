//! The import/export surface of every built component: nothing outside `wit/service.wit`,
//! and `wit/service.wit` nothing outside what Spin 3.6 provides (`spin:up/platform@3.6.0`,
//! taken from the `spin-sdk` crate's WIT at build time, not from a copy).

use boxoffice_testkit as support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use wit_component::DecodedWasm;
use wit_parser::{Resolve, WorldId, WorldItem, WorldKey};

/// `namespace:package/interface@version` of every interface a world imports or exports.
fn interfaces(resolve: &Resolve, world: WorldId, imports: bool) -> BTreeSet<String> {
    let world = &resolve.worlds[world];
    let items = if imports {
        &world.imports
    } else {
        &world.exports
    };
    items
        .iter()
        .filter_map(|(key, item)| match (key, item) {
            (WorldKey::Interface(id), WorldItem::Interface { .. }) => resolve.id_of(*id),
            _ => None,
        })
        .collect()
}

/// Splits `ns:pkg/iface@1.2.3` into (`ns:pkg/iface`, version).
fn split(id: &str) -> (&str, semver::Version) {
    let (name, version) = id.rsplit_once('@').unwrap_or((id, "0.0.0"));
    (
        name,
        semver::Version::parse(version).expect("a semver version"),
    )
}

/// The interface among `provided` that serves an import of `wanted`: the same interface on
/// the same semver track. That is wasmtime's matching rule (and so Spin's): `0.2.x` imports
/// link against any `0.2.y` definition, `0.3` does not. Rust's standard library for
/// wasm32-wasip2 may name a newer patch release than Spin's WIT (`@0.2.12` against `0.2.6`),
/// so [`items_outside`] then checks, item by item, that what the component uses exists in
/// the provided version.
fn served_by<'a>(wanted: &str, provided: &'a BTreeSet<String>) -> Option<&'a String> {
    let (name, version) = split(wanted);
    provided
        .iter()
        .filter(|p| {
            let (pname, pversion) = split(p);
            let same_track = if version.major == 0 {
                pversion.major == 0 && pversion.minor == version.minor
            } else {
                pversion.major == version.major
            };
            pname == name && same_track
        })
        .max_by_key(|p| split(p).1)
}

/// The functions and types that `used` (an interface as a component imports it) has and
/// `provided` (the same interface in a world) lacks.
fn items_outside(
    used_resolve: &Resolve,
    used: &str,
    provided_resolve: &Resolve,
    provided: &str,
) -> Vec<String> {
    let find = |resolve: &Resolve, id: &str| {
        resolve
            .interfaces
            .iter()
            .find(|(i, _)| resolve.id_of(*i).as_deref() == Some(id))
            .map(|(_, iface)| iface.clone())
            .unwrap_or_else(|| panic!("interface {id} not found"))
    };
    let used_iface = find(used_resolve, used);
    let provided_iface = find(provided_resolve, provided);
    let mut missing: Vec<String> = used_iface
        .functions
        .keys()
        .filter(|f| !provided_iface.functions.contains_key(*f))
        .map(|f| format!("{used}: func {f}"))
        .collect();
    missing.extend(
        used_iface
            .types
            .keys()
            .filter(|t| !provided_iface.types.contains_key(*t))
            .map(|t| format!("{used}: type {t}")),
    );
    missing
}

struct Worlds {
    resolve: Resolve,
    service: WorldId,
    spin_platform: WorldId,
    spin_http_trigger: WorldId,
}

fn worlds() -> Worlds {
    let spin_wit = PathBuf::from(env!("SPIN_SDK_WIT_DIR"));
    let mut resolve = Resolve::default();
    let (spin_up, _) = resolve
        .push_dir(&spin_wit)
        .unwrap_or_else(|e| panic!("parse {}: {e:#}", spin_wit.display()));
    let spin_platform = resolve
        .select_world(&[spin_up], Some("platform"))
        .expect("spin:up has a platform world");
    assert_eq!(
        resolve.packages[spin_up].name.to_string(),
        "spin:up@3.6.0",
        "the spin-sdk crate's WIT is not the Spin 3.6 world any more"
    );
    let spin_http_trigger = resolve
        .select_world(&[spin_up], Some("fermyon:spin/http-trigger@2.0.0"))
        .expect("fermyon:spin@2.0.0 has the WASI 0.2 http-trigger world");
    let service_wit = support::workspace_root().join("wit/service.wit");
    let service_pkg = resolve
        .push_file(&service_wit)
        .unwrap_or_else(|e| panic!("parse {}: {e:#}", service_wit.display()));
    let service = resolve
        .select_world(&[service_pkg], Some("service"))
        .expect("wit/service.wit has the service world");
    Worlds {
        resolve,
        service,
        spin_platform,
        spin_http_trigger,
    }
}

#[test]
fn the_service_world_is_inside_the_spin_3_6_world() {
    let w = worlds();
    let spin_imports = interfaces(&w.resolve, w.spin_platform, true);
    let service_imports = interfaces(&w.resolve, w.service, true);
    assert!(service_imports.len() > 5, "{service_imports:?}");
    for import in &service_imports {
        assert!(
            spin_imports.contains(import),
            "wit/service.wit imports {import}, which Spin 3.6 does not provide"
        );
    }
    assert_eq!(
        interfaces(&w.resolve, w.service, false),
        interfaces(&w.resolve, w.spin_http_trigger, false),
        "a service exports what Spin's WASI 0.2 http trigger calls"
    );
}

fn component_sources() -> Vec<(String, PathBuf)> {
    let root = support::workspace_root();
    let manifest: toml::Table = std::fs::read_to_string(root.join("spin.toml"))
        .unwrap()
        .parse()
        .unwrap();
    manifest["component"]
        .as_table()
        .unwrap()
        .iter()
        .map(|(name, c)| {
            let source = c["source"].as_str().expect("a file source");
            (name.clone(), root.join(source))
        })
        .collect()
}

fn decode(path: &Path) -> (Resolve, WorldId) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    match wit_component::decode(&bytes).expect("decode the component") {
        DecodedWasm::Component(resolve, world) => (resolve, world),
        DecodedWasm::WitPackage(..) => panic!("{} is a WIT package", path.display()),
    }
}

#[test]
fn every_component_imports_only_the_service_world() {
    support::build_components();
    let w = worlds();
    let allowed_imports = interfaces(&w.resolve, w.service, true);
    let allowed_exports = interfaces(&w.resolve, w.service, false);
    let sources = component_sources();
    assert!(sources.len() >= 3, "{sources:?}");
    for (name, path) in sources {
        let (resolve, world) = decode(&path);
        let imports = interfaces(&resolve, world, true);
        let mut outside = Vec::new();
        for import in &imports {
            match served_by(import, &allowed_imports) {
                None => outside.push(format!("{import} (not in the world)")),
                Some(provided) => {
                    outside.extend(items_outside(&resolve, import, &w.resolve, provided))
                }
            }
        }
        assert!(
            outside.is_empty(),
            "component {name} uses what wit/service.wit does not provide: {outside:#?}"
        );
        // Every component here serves HTTP, so it uses at least the WASI basics.
        assert!(
            imports.iter().any(|i| i.starts_with("wasi:http/types@0.2")),
            "{name}: {imports:?}"
        );
        let exports = interfaces(&resolve, world, false);
        assert_eq!(exports, allowed_exports, "component {name} exports");
    }
}

#[test]
fn the_health_component_imports_only_what_its_checks_use() {
    support::build_components();
    let (_, path) = component_sources()
        .into_iter()
        .find(|(name, _)| name == "health")
        .expect("spin.toml has the health component");
    let (resolve, world) = decode(&path);
    let imports = interfaces(&resolve, world, true);
    // The database and the store it checks, and the variables that name them; no Spin
    // interface beyond those, so a probe instantiates nothing it does not use.
    let spin: BTreeSet<&str> = imports
        .iter()
        .filter(|i| i.starts_with("fermyon:"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        spin,
        BTreeSet::from([
            "fermyon:spin/key-value@2.0.0",
            "fermyon:spin/postgres@2.0.0",
            "fermyon:spin/rdbms-types@2.0.0",
            "fermyon:spin/sqlite@2.0.0",
            "fermyon:spin/variables@2.0.0",
        ])
    );
    // The broker's check: an outgoing request, with a clock to stop waiting for it.
    for needed in [
        "wasi:http/outgoing-handler@0.2",
        "wasi:clocks/monotonic-clock@0.2",
        "wasi:io/poll@0.2",
    ] {
        assert!(
            imports.iter().any(|i| i.starts_with(needed)),
            "{needed}: {imports:?}"
        );
    }
}

#[test]
fn the_compatibility_rule_is_the_semver_track() {
    let provided: BTreeSet<String> = ["wasi:io/streams@0.2.6".to_string()].into();
    assert!(served_by("wasi:io/streams@0.2.0", &provided).is_some());
    assert!(served_by("wasi:io/streams@0.2.12", &provided).is_some());
    assert!(served_by("wasi:io/streams@0.3.0", &provided).is_none());
    assert!(served_by("wasi:io/poll@0.2.0", &provided).is_none());
    let both: BTreeSet<String> = [
        "wasi:io/streams@0.2.0".into(),
        "wasi:io/streams@0.2.6".into(),
    ]
    .into();
    assert_eq!(
        served_by("wasi:io/streams@0.2.3", &both).map(String::as_str),
        Some("wasi:io/streams@0.2.6"),
        "the newest on the track serves"
    );
}

/// What a wash 2.10 host provides to a workload, by package and version: the WASI 0.2
/// set it links for every component (0.2.12 bindings, so any 0.2 import links), and the
/// interfaces of its host plugins, which a workload must also declare in its
/// `hostInterfaces` (`../shared/WASMCLOUD.md`; the plugin list of `wash host`'s log).
const WASH_2_10_WASI: &[(&str, &[&str])] = &[
    (
        "wasi:cli@0.2.12",
        &[
            "environment",
            "exit",
            "stdin",
            "stdout",
            "stderr",
            "terminal-input",
            "terminal-output",
            "terminal-stdin",
            "terminal-stdout",
            "terminal-stderr",
        ],
    ),
    ("wasi:clocks@0.2.12", &["monotonic-clock", "wall-clock"]),
    ("wasi:io@0.2.12", &["error", "poll", "streams"]),
    (
        "wasi:random@0.2.12",
        &["random", "insecure", "insecure-seed"],
    ),
    ("wasi:filesystem@0.2.12", &["types", "preopens"]),
    ("wasi:http@0.2.12", &["types", "outgoing-handler"]),
];
const WASH_2_10_PLUGINS: &[(&str, &[&str])] = &[
    ("wasi:keyvalue@0.2.0-draft", &["store", "atomics", "batch"]),
    ("wasi:config@0.2.0-rc.1", &["store"]),
    ("wasi:logging@0.1.0-draft", &["logging"]),
    (
        "wasmcloud:postgres@0.1.1-draft",
        &["types", "query", "prepared"],
    ),
];

/// `ns:pkg/iface@version` of each interface in `table`.
fn provided(table: &[(&str, &[&str])]) -> BTreeSet<String> {
    table
        .iter()
        .flat_map(|(package, interfaces)| {
            let (name, version) = package.split_once('@').unwrap();
            interfaces
                .iter()
                .map(move |i| format!("{name}/{i}@{version}"))
        })
        .collect()
}

/// The interfaces a definition's `hostInterfaces` declare, as `ns:pkg/iface@version`.
fn declared(definition: &serde_json::Value) -> BTreeSet<String> {
    let mut declared = BTreeSet::new();
    for entry in definition["workload"]["witWorld"]["hostInterfaces"]
        .as_array()
        .unwrap()
    {
        for interface in entry["interfaces"].as_array().unwrap() {
            declared.insert(format!(
                "{}:{}/{}@{}",
                entry["namespace"].as_str().unwrap(),
                entry["package"].as_str().unwrap(),
                interface.as_str().unwrap(),
                entry["version"].as_str().unwrap()
            ));
        }
    }
    declared
}

#[test]
fn every_wasmcloud_workload_imports_only_what_a_wash_host_provides() {
    let release = support::wasmcloud::build_artifacts();
    let wasi = provided(WASH_2_10_WASI);
    let plugins = provided(WASH_2_10_PLUGINS);
    let dir = support::workspace_root().join("wadm/host");
    let mut workloads = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let definition: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let name = definition["workload"]["name"].as_str().unwrap().to_owned();
        let declared = declared(&definition);
        // Each component, decoded from the file its image is pushed from.
        let mut imports = BTreeSet::new();
        let mut exports = BTreeSet::new();
        for component in definition["workload"]["witWorld"]["components"]
            .as_array()
            .unwrap()
        {
            let image = component["image"].as_str().unwrap();
            let file = image.rsplit('/').next().unwrap().split(':').next().unwrap();
            let (resolve, world) =
                decode(&release.join(format!("{}.wasm", file.replace('-', "_"))));
            imports.extend(interfaces(&resolve, world, true));
            exports.extend(interfaces(&resolve, world, false));
        }
        let mut unmet = Vec::new();
        for import in &imports {
            if served_by(import, &exports).is_some() || served_by(import, &wasi).is_some() {
                continue;
            }
            match served_by(import, &plugins) {
                Some(plugin) if served_by(import, &declared).is_some() => {
                    assert_eq!(import, plugin, "{name}: {import} is served as {plugin}");
                }
                Some(_) => unmet.push(format!("{import} (not in its hostInterfaces)")),
                None => unmet.push(format!("{import} (no wash 2.10 host provides it)")),
            }
        }
        assert!(unmet.is_empty(), "workload {name} imports: {unmet:#?}");
        assert!(
            exports.contains("wasi:http/incoming-handler@0.2.0")
                && declared.contains("wasi:http/incoming-handler@0.2.0"),
            "workload {name} serves HTTP: {exports:?}"
        );
        // No Spin interface is left for the host: the adapter serves them all.
        assert!(
            !imports
                .iter()
                .any(|i| i.starts_with("fermyon:") && served_by(i, &exports).is_none()),
            "{name}: {imports:?}"
        );
        workloads += 1;
    }
    assert_eq!(
        workloads,
        component_sources().len() + 1,
        "every component and the gateway"
    );
}
