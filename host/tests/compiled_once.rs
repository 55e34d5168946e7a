//! Every crate is compiled once by the README's two commands on a fresh clone: the start
//! command (`cargo run --release -p boxoffice`, then `boxoffice up` building the components
//! of spin.toml) and the test command (scripts/test: the test build, the same components,
//! the wasmCloud gateway and adapter, the runtime tests' probes, and the bench's build).
//!
//! What cargo compiles is read from its unit graph (`--unit-graph`, the list of every
//! compilation a command would run, with features, profile and dependencies), not from
//! `cargo tree`'s resolve: two units of one crate that differ in any of those are two
//! compilations, two files in `target/<profile>/deps`. The workspace-hack crate (`hack/`,
//! written by `cargo hakari generate`) is what makes them agree; this test also fails when
//! it is out of date with the workspace.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use boxoffice::builder;
use boxoffice::manifest::Manifest;
use boxoffice::wasmcloud::plan;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ is in the workspace")
}

fn cargo() -> Command {
    boxoffice_testkit::cargo()
}

/// The cargo invocations of a `cargo ...` command line (words, as the scripts write them).
fn words(line: &str) -> Vec<String> {
    let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
    assert_eq!(words[0], "cargo", "{line}");
    words[1..].to_vec()
}

/// Every cargo invocation of the README's two commands, by command.
fn commands() -> Vec<(&'static str, Vec<String>)> {
    let manifest = Manifest::load(&root().join("spin.toml")).expect("spin.toml");
    let components: Vec<_> = manifest.components.values().collect();
    let component_builds: Vec<Vec<String>> = builder::steps(&components)
        .iter()
        .map(|step| words(&step.command))
        .collect();
    let mut all = vec![(
        "start",
        words("cargo build --release --locked -p boxoffice"),
    )];
    all.extend(component_builds.iter().map(|b| ("start", b.clone())));
    all.push((
        "test",
        words("cargo test --release --locked --workspace --no-run"),
    ));
    all.extend(component_builds.into_iter().map(|b| ("test", b)));
    all.push(("test", words(plan::BUILD_GATEWAY_AND_ADAPTER)));
    // host/tests/runtime.rs builds its fixtures.
    all.push((
        "test",
        words("cargo build --release --target wasm32-wasip2 -p probe -p probe-llm"),
    ));
    // scripts/screenshots (tests/commands.rs runs it).
    all.push((
        "test",
        words("cargo test --release --locked --workspace --test browser --no-run"),
    ));
    // scripts/bench (the test build runs `scripts/bench --tiny`).
    all.push((
        "test",
        words("cargo build --release --locked -p boxoffice -p boxoffice-bench"),
    ));
    all
}

/// The units of `args` that land in `target/<profile>/deps` (libraries, proc macros,
/// binaries, tests; not build scripts, whose binaries live in `build/`), each with a key
/// that differs whenever cargo would compile it differently.
fn unit_graph(args: &[String]) -> Vec<(String, String, String)> {
    let out = cargo()
        .args(args)
        .args(["--unit-graph", "-Z", "unstable-options"])
        // `--unit-graph` is unstable: the stable toolchain allows it with this switch.
        .env("RUSTC_BOOTSTRAP", "1")
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "cargo {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    let graph: Value = serde_json::from_slice(&out.stdout).expect("a unit graph");
    assert_eq!(graph["version"], 1, "the unit graph's format changed");
    let units = graph["units"].as_array().expect("units");
    let mut keys: Vec<Option<String>> = vec![None; units.len()];
    fn key(i: usize, units: &[Value], keys: &mut Vec<Option<String>>) -> String {
        if let Some(k) = &keys[i] {
            return k.clone();
        }
        let unit = &units[i];
        let mut deps: Vec<String> = unit["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| key(d["index"].as_u64().expect("index") as usize, units, keys))
            .collect();
        deps.sort();
        // A digest, so that a key does not hold its dependencies' keys in full.
        let k = digest(
            &serde_json::json!([
                unit["pkg_id"],
                unit["target"]["name"],
                unit["target"]["kind"],
                unit["mode"],
                unit["platform"],
                unit["profile"],
                unit["features"],
                deps
            ])
            .to_string(),
        );
        keys[i] = Some(k.clone());
        k
    }
    (0..units.len())
        .filter(|&i| {
            let unit = &units[i];
            unit["mode"] != "run-custom-build"
                && !unit["target"]["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "custom-build"))
        })
        .map(|i| {
            let unit = &units[i];
            let kinds: Vec<&str> = unit["target"]["kind"]
                .as_array()
                .map(|k| k.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let id = format!(
                "{} {} {} ({})",
                package_name(unit["pkg_id"].as_str().unwrap_or_default()),
                kinds.join("+"),
                unit["target"]["name"].as_str().unwrap_or_default(),
                unit["mode"].as_str().unwrap_or_default()
            );
            let platform = unit["platform"].as_str().unwrap_or("host").to_owned();
            let describe = format!(
                "features {:?}, opt-level {}",
                unit["features"]
                    .as_array()
                    .map(|f| f.iter().filter_map(Value::as_str).collect::<Vec<_>>())
                    .unwrap_or_default(),
                unit["profile"]["opt_level"]
            );
            (
                format!("{id} on {platform}"),
                key(i, units, &mut keys),
                describe,
            )
        })
        .collect()
}

fn digest(text: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `name@version` of a package id (`registry+...#name@1.2.3`, `path+file:///...#0.1.0`).
fn package_name(pkg_id: &str) -> String {
    let (source, rest) = pkg_id.rsplit_once('#').unwrap_or(("", pkg_id));
    if rest.contains('@') {
        rest.to_owned()
    } else {
        let dir = source.rsplit('/').next().unwrap_or(source);
        format!("{dir}@{rest}")
    }
}

#[test]
fn the_readme_commands_compile_every_crate_once() {
    // unit → its distinct compilations → (which commands, how it is built)
    let mut seen: BTreeMap<String, BTreeMap<String, (BTreeSet<&str>, String)>> = BTreeMap::new();
    for (command, args) in commands() {
        for (unit, key, describe) in unit_graph(&args) {
            seen.entry(unit)
                .or_default()
                .entry(key)
                .or_insert_with(|| (BTreeSet::new(), describe))
                .0
                .insert(command);
        }
    }
    let twice: Vec<String> = seen
        .iter()
        .filter(|(_, ways)| ways.len() > 1)
        .map(|(unit, ways)| {
            let alike = ways
                .values()
                .all(|(_, d)| *d == ways.values().next().unwrap().1);
            let ways: Vec<String> = ways
                .values()
                .map(|(commands, describe)| {
                    let over = if alike {
                        ", over dependencies built differently"
                    } else {
                        ""
                    };
                    format!("    by {commands:?}: {describe}{over}")
                })
                .collect();
            format!("  {unit}, {} ways:\n{}", ways.len(), ways.join("\n"))
        })
        .collect();
    assert!(
        twice.is_empty(),
        "{} of {} crates would be compiled more than once by the README's two commands. \
         Where the features differ, run `cargo hakari generate` and `cargo hakari \
         manage-deps`; where only the opt-level does (a crate used by a build script or \
         macro and by the program), give the crate the same profile for both in Cargo.toml \
         (docs/development.md):\n{}",
        twice.len(),
        seen.len(),
        twice.join("\n")
    );
    eprintln!(
        "{} compilations, each once, for the start and test commands",
        seen.len()
    );
}

/// `cargo hakari`, the pinned one scripts/setup installs, or why it cannot run.
fn hakari() -> Option<Command> {
    let found = Command::new("cargo-hakari")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let why = (!found).then(|| {
        "cargo-hakari is not on PATH (scripts/setup installs it into .boxoffice/tools/bin)"
            .to_owned()
    });
    boxoffice_testkit::runnable("the workspace-hack check", why).then(|| {
        let mut cmd = cargo();
        cmd.arg("hakari");
        cmd
    })
}

#[test]
fn the_workspace_hack_is_what_cargo_hakari_writes() {
    for (args, wrong) in [
        (
            ["generate", "--diff", "--quiet"],
            "hack/Cargo.toml is not what `cargo hakari generate` writes (run it)",
        ),
        (
            ["manage-deps", "--dry-run", "--quiet"],
            "a workspace member does not depend on boxoffice-hack as it should (run `cargo hakari manage-deps`)",
        ),
    ] {
        let Some(mut hakari) = hakari() else {
            return;
        };
        let out = hakari.args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{wrong}:\n{}",
            boxoffice_testkit::output_text(&out)
        );
    }
}
