//! Finds the `wit/` folder of the `spin-sdk` crate through `cargo metadata` and writes the
//! `bindgen!` invocation for the `fermyon:spin@2.0.0` interfaces that the runtime provides.
//! The WIT is not copied into the repository: it comes from the crate that publishes it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");

    let manifest_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let workspace_manifest = manifest_dir
        .parent()
        .expect("host/ sits inside the workspace")
        .join("Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());

    let output = Command::new(cargo)
        .arg("metadata")
        .arg("--format-version")
        .arg("1")
        .arg("--manifest-path")
        .arg(&workspace_manifest)
        .output()
        .expect("run `cargo metadata`");
    if !output.status.success() {
        panic!(
            "`cargo metadata` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("`cargo metadata` prints JSON");
    let wit_dir = spin_sdk_wit_dir(&metadata);

    println!("cargo:rustc-env=SPIN_SDK_WIT_DIR={}", wit_dir.display());
    println!("cargo:rerun-if-changed={}", wit_dir.display());
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let spin_wit = spin_interfaces(&wit_dir, &out_dir);

    let bindings = format!(
        r#"wasmtime::component::bindgen!({{
    path: {path:?},
    inline: "
        package boxoffice:host;

        /// The `fermyon:spin@2.0.0` interfaces that boxoffice provides besides WASI 0.2.
        world spin-imports {{
            import fermyon:spin/key-value@2.0.0;
            import fermyon:spin/sqlite@2.0.0;
            import fermyon:spin/postgres@2.0.0;
            import fermyon:spin/variables@2.0.0;
        }}
    ",
    world: "boxoffice:host/spin-imports",
    imports: {{ default: async | trappable }},
    with: {{
        "fermyon:spin/key-value.store": crate::key_value::StoreHandle,
        "fermyon:spin/sqlite.connection": crate::sqlite::ConnectionHandle,
        "fermyon:spin/postgres.connection": crate::postgres::ConnectionHandle,
    }},
}});
"#,
        path = spin_wit.display().to_string()
    );
    std::fs::write(out_dir.join("spin_bindings.rs"), bindings).expect("write spin_bindings.rs");
}

/// The interfaces the runtime provides, as a package of their own under `out_dir`: their
/// files as spin-sdk publishes them (`wit/deps/spin@2.0.0/`), and the package's name. Not
/// the whole folder: its world and its neighbours (WASI 0.3's streams and futures) would
/// need wasmtime's component-model-async support compiled in for nothing.
fn spin_interfaces(wit_dir: &Path, out_dir: &Path) -> PathBuf {
    let from = wit_dir.join("deps/spin@2.0.0");
    let to = out_dir.join("spin-wit");
    std::fs::create_dir_all(&to).expect("create the spin-wit folder");
    for file in [
        "key-value.wit",
        "sqlite.wit",
        "postgres.wit",
        "rdbms-types.wit",
        "variables.wit",
    ] {
        std::fs::copy(from.join(file), to.join(file))
            .unwrap_or_else(|e| panic!("{}: {e}", from.join(file).display()));
    }
    std::fs::write(to.join("package.wit"), "package fermyon:spin@2.0.0;\n")
        .expect("write package.wit");
    to
}

/// The `wit/` folder next to the `spin-sdk` package's `Cargo.toml`.
fn spin_sdk_wit_dir(metadata: &serde_json::Value) -> PathBuf {
    let packages = metadata["packages"].as_array().expect("packages array");
    let manifest_path = packages
        .iter()
        .filter(|p| p["name"] == "spin-sdk")
        .filter(|p| p["version"].as_str().is_some_and(|v| v.starts_with("5.")))
        .find_map(|p| p["manifest_path"].as_str())
        .expect("the spin-sdk 5.x package is in the workspace metadata");
    let wit = Path::new(manifest_path)
        .parent()
        .expect("manifest has a parent")
        .join("wit");
    assert!(wit.is_dir(), "no wit/ folder at {}", wit.display());
    wit
}
