//! The scripts the README tells a user to run, run as a user runs them: a script no test
//! runs rots. `scripts/test` (this very run) and `scripts/services start` run before the
//! tests; `scripts/k8s-validate` is run by tests/kubernetes.rs and `scripts/bench --tiny`
//! by bench/tests/tiny.rs. The rest are here, each on free ports and dirs of its own, so
//! that they run beside the other tests and beside a shop the developer may have running.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use boxoffice_testkit as support;
use support::servers::free_port;

/// How long one script may run (scripts/fuzz builds its targets on first use).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(900);

fn root() -> PathBuf {
    support::workspace_root()
}

/// `scripts/<name> args…` in the repository's root, with `env`, to its end (bounded).
fn script(name: &str, args: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = Command::new(root().join("scripts").join(name));
    support::as_from_a_shell(&mut cmd)
        .current_dir(root())
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("BOXOFFICE_ADMIN_LISTEN", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = support::spawn_tied(cmd).unwrap_or_else(|e| panic!("run scripts/{name}: {e}"));
    support::output_within(child, SCRIPT_TIMEOUT, &format!("scripts/{name}"))
}

fn assert_ok(name: &str, out: &Output) -> String {
    let said = support::output_text(out);
    assert!(out.status.success(), "scripts/{name} failed:\n{said}");
    said
}

#[test]
fn every_script_is_run_by_a_test() {
    let tests: String = ["tests", "host/tests", "bench/tests"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(root().join(dir)).into_iter().flatten())
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|x| x == "rs"))
        .map(|path| std::fs::read_to_string(path).unwrap_or_default())
        .collect();
    let scripts_run_by_scripts_test = ["test", "setup", "deny", "services"];
    let mut untested = Vec::new();
    for entry in std::fs::read_dir(root().join("scripts")).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let executable = {
            use std::os::unix::fs::PermissionsExt as _;
            entry.metadata().unwrap().permissions().mode() & 0o111 != 0
        };
        if !executable || scripts_run_by_scripts_test.contains(&name.as_str()) {
            continue;
        }
        if !tests.contains(&format!("script(\"{name}\""))
            && !tests.contains(&format!("\"scripts/{name}\""))
        {
            untested.push(name);
        }
    }
    assert!(untested.is_empty(), "no test runs scripts/{untested:?}");
}

/// Every tool scripts/setup installs from a registry that can pin is pinned to one version:
/// each PyPI requirement `name==version` (installed with `--no-deps`, so nothing comes in
/// unpinned), each npm dependency an exact version beside its lock, each crates.io tool
/// `name=version`. A tool that moves upstream then cannot break a fresh machine.
#[test]
fn every_tool_setup_installs_is_pinned() {
    let root = root();
    let requirements = std::fs::read_to_string(root.join("scripts/requirements.txt")).unwrap();
    let pins: Vec<&str> = requirements
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(pins.len() > 10, "{pins:?}");
    for pin in &pins {
        let (name, version) = pin
            .split_once("==")
            .unwrap_or_else(|| panic!("unpinned: {pin}"));
        assert!(
            !name.is_empty() && version.split('.').all(|p| !p.is_empty()),
            "not one version: {pin}"
        );
    }
    let setup = std::fs::read_to_string(root.join("scripts/setup")).unwrap();
    assert!(
        setup.contains("--no-deps -r scripts/requirements.txt"),
        "pip must install exactly the pinned list"
    );
    let package: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("tests/browser/package.json")).unwrap(),
    )
    .unwrap();
    for (name, version) in package["dependencies"].as_object().unwrap() {
        let version = version.as_str().unwrap();
        assert!(
            version.chars().all(|c| c.is_ascii_digit() || c == '.'),
            "npm {name} is not pinned: {version}"
        );
    }
    assert!(root.join("tests/browser/package-lock.json").is_file());
    let tools = setup
        .lines()
        .find_map(|l| l.strip_prefix("CARGO_TOOLS=("))
        .expect("CARGO_TOOLS in scripts/setup");
    for tool in tools.trim_end_matches(')').split_whitespace() {
        let (_, version) = tool
            .split_once('=')
            .unwrap_or_else(|| panic!("unpinned: {tool}"));
        assert!(
            version.chars().all(|c| c.is_ascii_digit() || c == '.'),
            "crates.io {tool} is not one version"
        );
    }
}

/// The release workflow holds a write token and the registry's secret, so what it runs is
/// pinned as the tools are: every action by a full commit SHA (a tag can be moved to other
/// code) with its tag in a comment, and no download piped into a shell. The token may do
/// nothing unless a job asks (docs/supply-chain.md).
#[test]
fn the_release_workflow_runs_only_pinned_code() {
    let text = std::fs::read_to_string(root().join(".github/workflows/release.yaml")).unwrap();
    let workflow: serde_json::Value = serde_norway::from_str(&text).expect("release.yaml");
    assert!(
        workflow["permissions"]
            .as_object()
            .is_some_and(|p| p.is_empty()),
        "the workflow's default permissions must be none: `permissions: {{}}`"
    );
    let mut actions = 0;
    for (name, job) in workflow["jobs"].as_object().expect("jobs") {
        assert!(
            job["permissions"].is_object(),
            "job {name} must say which permissions it needs"
        );
        for step in job["steps"].as_array().expect("steps") {
            if let Some(action) = step["uses"].as_str() {
                actions += 1;
                let sha = action.split_once('@').map_or("", |(_, r)| r);
                assert!(
                    sha.len() == 40 && sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
                    "{action} is not pinned to a full commit SHA"
                );
                let line = text.lines().find(|l| l.contains(action)).unwrap();
                assert!(
                    line.contains(" # v"),
                    "{action}: name the tag it stands for in a comment: {line}"
                );
            }
            // A download in the same command as a shell: `curl … | bash`, `bash <(curl …)`.
            let run = step["run"]
                .as_str()
                .unwrap_or_default()
                .replace("\\\n", " ");
            for line in run.lines() {
                let words: Vec<&str> = line
                    .split(|c: char| c.is_whitespace() || "|()<>\"'$;&".contains(c))
                    .collect();
                let downloads = words.iter().any(|w| matches!(*w, "curl" | "wget"));
                let shell = words
                    .iter()
                    .any(|w| matches!(*w, "sh" | "bash" | "zsh" | "dash"));
                assert!(
                    !(downloads && shell),
                    "{name} pipes a download into a shell: {line}"
                );
            }
        }
    }
    assert!(
        actions > 0,
        "no action found: has the workflow's shape changed?"
    );
}

#[test]
fn scripts_services_status_names_the_three_servers() {
    if !support::runnable(
        "scripts/services status",
        support::backends::Servers::shared().err(),
    ) {
        return;
    }
    let out = script("services", &["status"], &[]);
    let said = assert_ok("services", &out);
    for server in ["redis", "postgres", "nats"] {
        assert!(
            said.lines()
                .any(|l| l.contains(server) && l.contains("listening")),
            "{said}"
        );
    }
}

#[test]
fn scripts_import_loops_finds_none() {
    let out = script("import-loops", &[], &[]);
    let said = assert_ok("import-loops", &out);
    assert!(said.lines().count() > 10, "{said}");
    assert!(said.lines().all(|l| l.ends_with("loops: none")), "{said}");
}

#[test]
fn scripts_fuzz_runs_every_target_without_a_finding() {
    let cargo_fuzz = Command::new("cargo-fuzz")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let why = (!cargo_fuzz).then(|| "cargo-fuzz is not installed (scripts/setup cargo)".into());
    if !support::runnable("scripts/fuzz", why) {
        return;
    }
    // A smoke run: three seconds each, built unoptimised (a third less to build).
    let out = script(
        "fuzz",
        &[],
        &[("FUZZ_SECONDS", "3".into()), ("FUZZ_BUILD", "dev".into())],
    );
    let said = assert_ok("fuzz", &out);
    for target in ["api_request", "cloudevent", "session_cookie"] {
        let line = said
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{target}:")))
            .unwrap_or_else(|| panic!("no summary for {target}:\n{said}"));
        assert!(line.contains("no finding"), "{line}");
        let runs: u64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count of runs in {line:?}"));
        assert!(runs > 100, "{line}");
    }
}

/// Why the wasmCloud shop cannot run here, if it cannot.
fn wasmcloud_missing() -> Option<String> {
    support::wasmcloud::missing()
}

/// Stops what `scripts/wasmcloud start` started (and the NATS it had scripts/services
/// start), and drops its databases, however the test ends.
struct WasmcloudScript {
    env: Vec<(&'static str, String)>,
    prefix: String,
    _dir: tempfile::TempDir,
}

impl Drop for WasmcloudScript {
    fn drop(&mut self) {
        let _ = script("wasmcloud", &["stop"], &self.env);
        let _ = script("services", &["stop"], &self.env);
        if let Ok(servers) = support::backends::Servers::shared() {
            support::wasmcloud::drop_databases(&servers.postgres, &self.prefix);
        }
    }
}

fn pid(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.pid")))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

#[test]
fn scripts_wasmcloud_runs_every_component_and_a_second_start_changes_nothing() {
    if !support::runnable("scripts/wasmcloud", wasmcloud_missing()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("wasmcloud");
    let http = free_port();
    let prefix = format!("bo_script_{}_", std::process::id());
    let env = vec![
        ("BOXOFFICE_WASMCLOUD_DIR", state.display().to_string()),
        ("BOXOFFICE_WASMCLOUD_PORT", http.to_string()),
        ("BOXOFFICE_REGISTRY_PORT", free_port().to_string()),
        ("BOXOFFICE_BROKER_PORT", free_port().to_string()),
        ("BOXOFFICE_DATABASE_PREFIX", prefix.clone()),
        // Its own NATS, started by scripts/services in a dir of its own.
        (
            "BOXOFFICE_SERVICES_DIR",
            dir.path().join("services").display().to_string(),
        ),
        ("BOXOFFICE_NATS_PORT", free_port().to_string()),
        ("BOXOFFICE_NATS_MONITOR_PORT", "0".into()),
    ];
    let guard = WasmcloudScript {
        env: env.clone(),
        prefix,
        _dir: dir,
    };

    let said = assert_ok("wasmcloud", &script("wasmcloud", &["start"], &env));
    let first: Vec<String> = ["host", "broker", "registry"]
        .iter()
        .map(|name| pid(&state, name))
        .collect();
    assert!(first.iter().all(|p| !p.is_empty()), "{first:?}\n{said}");

    // The shop answers through the gateway, and its events flow: a signed-up user is
    // known to the API at once.
    let base = format!("http://127.0.0.1:{http}");
    let resp = support::send("GET", &format!("{base}/api/users/currentuser"), &[], None);
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.json["currentUser"], serde_json::Value::Null);

    // Every component of spin.toml runs, and the gateway.
    let status = assert_ok("wasmcloud", &script("wasmcloud", &["status"], &env));
    let manifest =
        boxoffice::manifest::Manifest::load(&root().join("spin.toml")).expect("spin.toml");
    for component in manifest
        .components
        .keys()
        .map(String::as_str)
        .chain(["gateway"])
    {
        assert!(
            status
                .lines()
                .any(|l| l.contains(&format!("boxoffice-{component}: running"))),
            "{component} is not running:\n{status}"
        );
    }

    eprintln!("scripts/wasmcloud status:\n{status}");

    // A second start changes nothing: the same processes, every workload left running.
    let again = assert_ok("wasmcloud", &script("wasmcloud", &["start"], &env));
    let second: Vec<String> = ["host", "broker", "registry"]
        .iter()
        .map(|name| pid(&state, name))
        .collect();
    assert_eq!(first, second, "{again}");
    assert!(again.contains("(0 started, "), "{again}");

    assert_ok("wasmcloud", &script("wasmcloud", &["stop"], &env));
    let after = script("wasmcloud", &["status"], &env);
    assert!(!after.status.success(), "{}", support::output_text(&after));
    assert!(
        support::try_send("GET", &format!("{base}/health"), &[], None).is_err(),
        "the host still answers after stop"
    );
    drop(guard);
}

#[test]
fn scripts_screenshots_renews_a_folder_of_every_page() {
    if !support::runnable("scripts/screenshots", support::browser::missing()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("shots");
    let said = assert_ok(
        "screenshots",
        &script("screenshots", &[&out.display().to_string()], &[]),
    );
    let names = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}\n{said}", dir.display()))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    // The same pages as the committed set, which tests/browser.rs holds to the scenarios.
    assert_eq!(names(&out), names(&root().join("docs/screenshots")));
    for name in names(&out) {
        let bytes = std::fs::read(out.join(&name)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{name}");
        assert!(bytes.len() < 50_000, "{name} is {} bytes", bytes.len());
    }
}
