//! `boxoffice up` rebuilds a component only when a file its `watch` globs match is newer
//! than its `.wasm` (host/src/builder.rs). Every crate of this workspace that a component
//! is built from must therefore be watched, or an edit to it (a shared crate, the API
//! description) is served stale until something else changes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use boxoffice::manifest::Manifest;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Each workspace package by name: its directory (relative to the workspace) and the
/// workspace packages it depends on (normal dependencies, by path).
fn packages() -> BTreeMap<String, (String, Vec<String>)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .current_dir(workspace())
        .args(["metadata", "--locked", "--no-deps", "--format-version", "1"])
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let root = workspace();
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|package| {
            let manifest = Path::new(package["manifest_path"].as_str().unwrap());
            let dir = manifest.parent().unwrap().strip_prefix(&root).unwrap();
            let deps = package["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["path"].is_string() && d["kind"].is_null())
                .map(|d| d["name"].as_str().unwrap().to_owned())
                .collect();
            let name = package["name"].as_str().unwrap().to_owned();
            (name, (dir.to_string_lossy().into_owned(), deps))
        })
        .collect()
}

#[test]
fn every_crate_a_component_is_built_from_is_watched() {
    let manifest = Manifest::load(&workspace().join("spin.toml")).unwrap();
    let packages = packages();
    let mut checked = 0;
    for (id, component) in &manifest.components {
        let Some(build) = &component.build else {
            continue;
        };
        let package = build
            .command
            .split_whitespace()
            .skip_while(|word| *word != "-p")
            .nth(1)
            .unwrap_or_else(|| panic!("component `{id}`: no `-p <package>` in its build command"));
        let mut todo = vec![package.to_owned()];
        let mut crates = BTreeSet::new();
        while let Some(name) = todo.pop() {
            if crates.insert(name.clone()) {
                let (_, deps) = &packages[&name];
                todo.extend(deps.iter().cloned());
            }
        }
        for name in crates {
            let dir = &packages[&name].0;
            for glob in [format!("{dir}/**/*.rs"), format!("{dir}/Cargo.toml")] {
                assert!(
                    build.watch.contains(&glob),
                    "component `{id}` is built from {name}, but its watch list lacks \"{glob}\""
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 7, "only {checked} components have a build");
}
