//! Writes the `wit_bindgen::generate!` invocation of the adapter's world, with the WIT of
//! the packages it names taken from the crates that publish them (found through
//! `cargo metadata`): `fermyon:spin@2.0.0` from `spin-sdk`, `wasi:keyvalue@0.2.0-draft`
//! from `wasmcloud-component`. The rest is this crate's own `wit/`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=wit");

    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(manifest_dir.join("Cargo.toml"))
        .output()
        .expect("run `cargo metadata`");
    assert!(
        output.status.success(),
        "`cargo metadata` failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("`cargo metadata` prints JSON");

    let spin = crate_dir(&metadata, "spin-sdk", "5.").join("wit");
    let keyvalue = crate_dir(&metadata, "wasmcloud-component", "0.1.")
        .join("wit")
        .join("deps")
        .join("keyvalue");
    for dir in [&spin, &keyvalue] {
        assert!(dir.is_dir(), "no WIT at {}", dir.display());
        println!("cargo:rerun-if-changed={}", dir.display());
    }

    // One folder that resolves on its own: this crate's world and deps,
    // `fermyon:spin@2.0.0` and the WASI packages its worlds name (from the spin-sdk WIT),
    // and the `wasi:keyvalue` package. Only one version of each package the adapter uses,
    // so that the generated modules carry no version in their names.
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let wit = out_dir.join("wit");
    if wit.exists() {
        std::fs::remove_dir_all(&wit).expect("clear the generated wit/");
    }
    copy_dir(&manifest_dir.join("wit"), &wit);
    for entry in std::fs::read_dir(spin.join("deps")).expect("spin-sdk's wit/deps") {
        let entry = entry.expect("a folder entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        if spin_dependency(&name) {
            copy_dir(&entry.path(), &wit.join("deps").join(&name));
        }
    }
    copy_dir(
        &keyvalue,
        &wit.join("deps").join("wasi-keyvalue-0.2.0-draft"),
    );

    let bindings = format!(
        "wit_bindgen::generate!({{\n    \
            path: {wit:?},\n    \
            world: \"boxoffice:wasmcloud-adapter/adapter\",\n    \
            generate_all,\n\
        }});\n",
        wit = wit.display().to_string(),
    );
    std::fs::write(out_dir.join("bindings.rs"), bindings).expect("write bindings.rs");
}

/// The folder of the package `name` whose version starts with `version`.
fn crate_dir(metadata: &serde_json::Value, name: &str, version: &str) -> PathBuf {
    let manifest = metadata["packages"]
        .as_array()
        .expect("packages array")
        .iter()
        .filter(|p| p["name"] == name)
        .filter(|p| {
            p["version"]
                .as_str()
                .is_some_and(|v| v.starts_with(version))
        })
        .find_map(|p| p["manifest_path"].as_str())
        .unwrap_or_else(|| panic!("the {name} {version}x package is not in the metadata"));
    Path::new(manifest)
        .parent()
        .expect("a manifest has a folder")
        .to_path_buf()
}

/// Whether the spin-sdk WIT folder `name` is `fermyon:spin@2.0.0` or a WASI package its
/// worlds name (0.2.0, and the 2023-10-18 release candidate of its `rc20231018` worlds).
fn spin_dependency(name: &str) -> bool {
    name == "spin@2.0.0" || name.ends_with("@0.2.0") || name.ends_with("-2023-10-18")
}

/// Copies the folder `from` into `to`, recursively (`to` and its parents are created).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display()))
    {
        let entry = entry.expect("a folder entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
        }
    }
}
