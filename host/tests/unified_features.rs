//! The README's start command (`cargo run --release -p boxoffice`) and `scripts/bench`
//! (`-p boxoffice -p boxoffice-bench`) must resolve every dependency of the runtime with the
//! features the test build (`cargo test --workspace`) gives it; otherwise each command
//! compiles those crates, and everything above them, its own way (unify/Cargo.toml).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Each package (`name vX.Y.Z`) of the build that selects `packages`, with its features.
fn features(packages: &[&str], dev: bool) -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let edges = if dev {
        "normal,build,dev"
    } else {
        "normal,build"
    };
    let mut command = Command::new(cargo);
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tree", "--locked", "--prefix", "none", "-f", "{p}|{f}", "-e", edges,
        ])
        .args(["--target", host_target()]);
    for package in packages {
        command.arg(package);
    }
    let out = command.output().expect("run cargo tree");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // A package met before is marked ` (*)` at the end of the line.
        let line = line.trim_end_matches(" (*)");
        let Some((package, list)) = line.split_once('|') else {
            continue;
        };
        // `name v1.2.3 (path) (*)`: the name and version identify it.
        let id: Vec<&str> = package.split_whitespace().take(2).collect();
        found
            .entry(id.join(" "))
            .or_default()
            .extend(list.split(',').filter(|f| !f.is_empty()).map(str::to_owned));
    }
    found
}

fn host_target() -> &'static str {
    if cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        "x86_64-unknown-linux-gnu"
    } else if cfg!(all(target_arch = "aarch64", target_os = "linux")) {
        "aarch64-unknown-linux-gnu"
    } else {
        "all"
    }
}

#[test]
fn the_start_command_and_the_bench_build_the_runtime_as_the_tests_do() {
    let tests = features(&["--workspace"], true);
    for (command, packages) in [
        ("cargo run -p boxoffice", &["-p", "boxoffice"][..]),
        (
            "scripts/bench",
            &["-p", "boxoffice", "-p", "boxoffice-bench"][..],
        ),
    ] {
        let runtime = features(packages, false);
        let differ: Vec<String> = runtime
            .iter()
            .filter_map(|(package, features)| {
                let wanted = tests.get(package)?;
                let missing: Vec<&String> = wanted.difference(features).collect();
                (!missing.is_empty()).then(|| format!("{package}: add {missing:?}"))
            })
            .collect();
        assert!(
            differ.is_empty(),
            "`{command}` would compile these with fewer features than scripts/test does; \
             ask for them in unify/Cargo.toml:\n{}",
            differ.join("\n")
        );
    }
}
