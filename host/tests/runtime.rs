//! End-to-end tests of `boxoffice up`: the real binary serving the real probe component
//! (host/tests/fixtures/probe) over HTTP. Every test uses its own state directory and port
//! 0, and every wait is bounded.

use boxoffice_testkit as support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use support::{
    agent, assert_one_line_error, boxoffice, run_to_exit, workspace_root, Runtime, HTTP_TIMEOUT,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The probe components, built once per test run so that `up` finds them fresh.
fn build_fixtures() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let status = support::cargo()
            .args(["build", "--target", "wasm32-wasip2", "--release"])
            .args(["-p", "probe", "-p", "probe-llm"])
            .status()
            .expect("run cargo build for the fixtures");
        assert!(status.success(), "building the fixture components failed");
    });
}

fn probe_wasm() -> PathBuf {
    workspace_root().join("target/wasm32-wasip2/release/probe.wasm")
}

/// `boxoffice up` listening on `listen` (its broker on a free port) for `manifest`: the
/// start of every command line here that is expected to fail before serving.
fn up_command(listen: &str, manifest: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = boxoffice();
    cmd.args([
        "up",
        "--broker-listen",
        "127.0.0.1:0",
        "--listen",
        listen,
        "--manifest",
    ])
    .arg(manifest);
    cmd
}

/// Starts `boxoffice up` on a fixture manifest, with the fixtures built.
fn start(manifest: &Path, state: &Path) -> Runtime {
    start_with(manifest, state, &[], &[])
}

fn start_with(manifest: &Path, state: &Path, args: &[&str], env: &[(&str, &str)]) -> Runtime {
    build_fixtures();
    Runtime::start(manifest, state, args, env)
}

fn get(url: &str) -> (u16, String) {
    let mut response = agent().get(url).call().expect("GET");
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}

fn send(method: &str, url: &str, body: &[u8]) -> (u16, String) {
    let request = http::Request::builder()
        .method(method)
        .uri(url)
        .body(body.to_vec())
        .unwrap();
    let mut response = agent().run(request).expect("request");
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn probe_manifest() -> PathBuf {
    fixtures().join("probe.toml")
}

#[test]
fn a_trap_gives_500_and_the_runtime_keeps_serving() {
    let state = tempfile::tempdir().unwrap();
    let rt = start(&probe_manifest(), state.path());
    let (status, body) = get(&rt.url("/probe/trap"));
    assert_eq!(status, 500);
    assert_eq!(
        json(&body),
        serde_json::json!({"errors": [{"message": "Internal server error"}]})
    );
    let (status, _) = get(&rt.url("/probe/echo"));
    assert_eq!(status, 200, "the next request is served");
    rt.wait_for_log("trapped");
    rt.wait_for_log("GET /probe/trap -> probe 500");
    rt.wait_for_log("GET /probe/echo -> probe 200");
}

#[test]
fn unrouted_paths_give_404_json() {
    let state = tempfile::tempdir().unwrap();
    let rt = start(&probe_manifest(), state.path());
    for path in ["/", "/nope", "/probex"] {
        let (status, body) = get(&rt.url(path));
        assert_eq!(status, 404, "{path}");
        assert_eq!(
            json(&body),
            serde_json::json!({"errors": [{"message": "Route not found"}]})
        );
    }
    let (status, _) = send("DELETE", &rt.url("/nope"), b"");
    assert_eq!(status, 404);
}

/// Sends a 2 MiB body on a raw socket (the server may answer before reading it all) and
/// returns the status and body of the response.
fn post_raw(addr: &str, path: &str, body_len: usize) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(HTTP_TIMEOUT)).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {body_len}\r\nConnection: close\r\n\r\n"
    );
    let mut writer = stream.try_clone().unwrap();
    std::thread::spawn(move || {
        let _ = writer.write_all(head.as_bytes());
        let _ = writer.write_all(&vec![b'x'; body_len]);
    });
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in: {text}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn bodies_over_1_mib_get_413_without_running_the_component() {
    let state = tempfile::tempdir().unwrap();
    let rt = start(&probe_manifest(), state.path());
    let (status, body) = post_raw(&rt.addr(), "/probe/echo", 2 << 20);
    assert_eq!(status, 413);
    assert_eq!(
        json(&body),
        serde_json::json!({"errors": [{"message": "Request body too large"}]})
    );
    let (status, body) = send("POST", &rt.url("/probe/echo"), &vec![b'y'; 1000]);
    assert_eq!(status, 200);
    assert_eq!(json(&body)["bodyLength"], 1000);
}

#[test]
fn the_component_sees_the_original_path_and_spin_headers() {
    let state = tempfile::tempdir().unwrap();
    let rt = start(&probe_manifest(), state.path());
    let (status, body) = get(&rt.url("/probe/echo/a/b?x=1&y=2"));
    assert_eq!(status, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["path"], "/probe/echo/a/b");
    assert_eq!(v["query"], "x=1&y=2");
    let h = &v["headers"];
    assert_eq!(h["spin-full-url"], rt.url("/probe/echo/a/b?x=1&y=2"));
    assert_eq!(h["spin-path-info"], "/echo/a/b");
    assert_eq!(h["spin-matched-route"], "/probe/...");
    assert_eq!(h["spin-raw-component-route"], "/probe/...");
    assert_eq!(h["spin-component-route"], "/probe");
    assert_eq!(h["spin-base-path"], "/");
    assert!(
        h["spin-client-addr"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{h}"
    );
    // The wildcard also matches its base path.
    let (status, body) = get(&rt.url("/probe"));
    assert_eq!((status, body.as_str()), (404, "probe has no /probe"));
}

#[test]
fn key_value_persists_across_a_restart() {
    let state = tempfile::tempdir().unwrap();
    let rt = start(&probe_manifest(), state.path());
    let (status, _) = send("PUT", &rt.url("/probe/kv?color"), b"blue");
    assert_eq!(status, 204);
    assert_eq!(get(&rt.url("/probe/kv?color")), (200, "blue".to_owned()));
    assert_eq!(get(&rt.url("/probe/kv?missing")).0, 404);
    drop(rt);
    assert!(state.path().join("sqlite_key_value.db").is_file());

    let rt = start(&probe_manifest(), state.path());
    assert_eq!(get(&rt.url("/probe/kv?color")), (200, "blue".to_owned()));
}

#[test]
fn unlisted_key_value_stores_and_databases_are_access_denied() {
    let state = tempfile::tempdir().unwrap();
    let rt = start(&probe_manifest(), state.path());
    for route in ["/probe/kv-denied", "/probe/sql-denied"] {
        let (status, body) = get(&rt.url(route));
        assert_eq!(status, 200);
        assert!(body.contains("AccessDenied"), "{route}: {body}");
    }
    assert!(!state.path().join("forbidden.db").exists());
}

#[test]
fn sqlite_transactions_span_several_executes() {
    let state = tempfile::tempdir().unwrap();
    let rt = start(&probe_manifest(), state.path());
    assert_eq!(get(&rt.url("/probe/sql")), (200, "1 1".to_owned()));
    assert_eq!(get(&rt.url("/probe/sql")), (200, "2 2".to_owned()));
    assert!(state.path().join("sqlite_db.db").is_file());
}

#[test]
fn variables_come_from_the_component_table_and_the_environment() {
    let state = tempfile::tempdir().unwrap();
    let rt = start(&probe_manifest(), state.path());
    assert_eq!(
        get(&rt.url("/probe/var?greeting")),
        (200, "hello, world".into())
    );
    let (_, body) = get(&rt.url("/probe/var?secret_thing"));
    assert!(
        body.contains("Undefined"),
        "not in the component's table: {body}"
    );
    drop(rt);

    let rt = start_with(
        &probe_manifest(),
        state.path(),
        &[],
        &[("SPIN_VARIABLE_GREETING", "hi")],
    );
    assert_eq!(
        get(&rt.url("/probe/var?greeting")),
        (200, "hi, world".into())
    );
}

#[test]
fn outbound_http_is_limited_to_allowed_hosts_and_chains_in_process() {
    let state = tempfile::tempdir().unwrap();
    let rt = start(&probe_manifest(), state.path());
    let (status, body) = get(&rt.url("/probe/outbound?http://example.com/"));
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("HttpRequestDenied"), "{body}");
    rt.wait_for_log("http://example.com/ denied");
    // Counted, under one host for every denied destination.
    let (status, metrics) = get(&format!("{}/metrics", rt.admin));
    assert_eq!(status, 200);
    assert!(
        metrics.contains(
            r#"boxoffice_outbound_requests_total{component="probe",host="(denied)",status="error"} 1"#
        ),
        "{metrics}"
    );
    assert!(!metrics.contains("example.com"), "{metrics}");

    let (status, body) =
        get(&rt.url("/probe/outbound?http://probe.spin.internal/probe/echo/chained"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("status 200"), "{body}");
    assert!(body.contains("/probe/echo/chained"), "{body}");
}

#[test]
fn port_in_use_is_a_one_line_error() {
    build_fixtures();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let state = tempfile::tempdir().unwrap();
    let mut cmd = up_command(&addr, probe_manifest());
    cmd.arg("--state-dir").arg(state.path());
    let (code, stderr) = run_to_exit(cmd);
    assert_one_line_error(code, &stderr, &["cannot listen on", &addr]);
}

fn run_manifest(text: &str, args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("spin.toml");
    std::fs::write(&manifest, text).unwrap();
    let mut cmd = up_command("127.0.0.1:0", &manifest);
    cmd.arg("--state-dir")
        .arg(dir.path().join("state"))
        .args(args);
    run_to_exit(cmd)
}

#[test]
fn bad_manifests_are_one_line_errors() {
    let (code, stderr) = run_manifest("spin_manifest_version = 2\n[component.x\n", &[]);
    assert_one_line_error(code, &stderr, &["invalid manifest"]);

    let (code, stderr) = run_manifest(
        "spin_manifest_version = 2\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"ghost\"\n",
        &[],
    );
    assert_one_line_error(code, &stderr, &["unknown component `ghost`"]);

    let (code, stderr) = run_manifest(
        "spin_manifest_version = 2\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"c\"\n[component.c]\nsource = \"missing.wasm\"\n",
        &[],
    );
    assert_one_line_error(code, &stderr, &["component `c`", "no build command"]);

    let missing = tempfile::tempdir().unwrap().path().join("absent.toml");
    let (code, stderr) = run_to_exit(up_command("127.0.0.1:0", &missing));
    assert_one_line_error(code, &stderr, &["cannot read manifest"]);
}

fn probe_app_with_variables(variables: &str) -> String {
    format!(
        "spin_manifest_version = 2\n[variables]\n{variables}\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"probe\"\n[component.probe]\nsource = {:?}\n",
        probe_wasm().display().to_string()
    )
}

#[test]
fn a_required_variable_without_value_is_named() {
    build_fixtures();
    let (code, stderr) = run_manifest(
        &probe_app_with_variables("api_token = { required = true }"),
        &[],
    );
    assert_one_line_error(code, &stderr, &["api_token"]);
}

#[test]
fn keys_are_kept_in_the_state_dir_except_in_production() {
    build_fixtures();
    let manifest = probe_app_with_variables(
        "jwt_key = { required = true, secret = true }\norders_events_key = { required = true, secret = true }\nevents_public_keys = { required = true }",
    );
    let (code, stderr) = run_manifest(&manifest, &["--production"]);
    assert_one_line_error(code, &stderr, &["SPIN_VARIABLE_"]);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spin.toml");
    std::fs::write(&path, manifest).unwrap();
    let state = dir.path().join("state");
    let rt = start(&path, &state);
    rt.wait_for_log("jwt_key.secret");
    for file in ["jwt_key.secret", "orders_events_key.secret"] {
        assert!(state.join(file).is_file(), "{file}");
    }
}

#[test]
fn unknown_runtime_config_type_is_a_one_line_error() {
    build_fixtures();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("runtime-config.toml");
    std::fs::write(&config, "[key_value_store.default]\ntype = \"dynamo\"\n").unwrap();
    let mut cmd = up_command("127.0.0.1:0", probe_manifest());
    cmd.arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("--runtime-config")
        .arg(&config);
    let (code, stderr) = run_to_exit(cmd);
    assert_one_line_error(code, &stderr, &["unsupported type `dynamo`"]);
}

/// The probe app started with a runtime config file holding `config`, in `dir`.
fn start_with_runtime_config(dir: &Path, config: &str) -> Runtime {
    let file = dir.join("runtime-config.toml");
    std::fs::write(&file, config).unwrap();
    let file = file.to_string_lossy().into_owned();
    start_with(
        &probe_manifest(),
        &dir.join("state"),
        &["--runtime-config", &file],
        &[],
    )
}

#[test]
fn a_runtime_config_moves_the_default_store() {
    let dir = tempfile::tempdir().unwrap();
    let rt = start_with_runtime_config(
        dir.path(),
        "[key_value_store.default]\ntype = \"spin\"\npath = \"elsewhere/kv.db\"\n",
    );
    assert_eq!(send("PUT", &rt.url("/probe/kv?k"), b"v").0, 204);
    assert!(dir.path().join("elsewhere/kv.db").is_file());
    assert!(!dir.path().join("state/sqlite_key_value.db").exists());
}

/// A guest that computes for ever is stopped at its request's deadline (an epoch tick
/// after it), answered 503, and the runtime goes on serving: before, it held a runtime
/// thread until the process ended.
#[test]
fn a_guest_that_computes_for_ever_is_stopped_at_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let rt = start_with_runtime_config(dir.path(), "[boxoffice.timeouts]\nrequest_ms = 2000\n");
    let stuck: Vec<_> = (0..3)
        .map(|_| {
            let url = rt.url("/probe/spin");
            std::thread::spawn(move || {
                let start = std::time::Instant::now();
                (send("GET", &url, b"").0, start.elapsed())
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let start = std::time::Instant::now();
    assert_eq!(send("GET", &rt.url("/probe/echo"), b"hi").0, 200);
    assert!(
        start.elapsed() < std::time::Duration::from_secs(1),
        "the spinning guests held the runtime: {:?}",
        start.elapsed()
    );
    for guest in stuck {
        let (status, took) = guest.join().unwrap();
        assert_eq!(status, 503);
        assert!(
            took < std::time::Duration::from_secs(4),
            "stopped after {took:?}"
        );
    }
    assert_eq!(send("GET", &rt.url("/probe/echo"), b"again").0, 200);
}

#[test]
fn a_component_importing_an_unprovided_interface_fails_at_startup() {
    build_fixtures();
    let state = tempfile::tempdir().unwrap();
    let mut cmd = up_command("127.0.0.1:0", fixtures().join("probe-llm.toml"));
    cmd.arg("--state-dir").arg(state.path());
    let (code, stderr) = run_to_exit(cmd);
    assert_one_line_error(code, &stderr, &["probe-llm", "fermyon:spin/llm@2.0.0"]);
}

#[test]
fn build_runs_each_build_command_and_summarises() {
    build_fixtures();
    let mut cmd = boxoffice();
    cmd.args(["build", "--manifest"]).arg(probe_manifest());
    let (code, stderr) = run_to_exit(cmd);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("✓ probe built"), "{stderr}");
    assert!(stderr.contains("Finished building 1 component"), "{stderr}");
}

#[test]
fn a_failing_build_shows_its_output_and_fails() {
    let (code, stderr) = {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("spin.toml");
        std::fs::write(
            &manifest,
            "spin_manifest_version = 2\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"c\"\n[component.c]\nsource = \"c.wasm\"\n[component.c.build]\ncommand = \"echo compiler says no >&2; exit 2\"\n",
        )
        .unwrap();
        let mut cmd = boxoffice();
        cmd.args(["build", "--manifest"]).arg(&manifest);
        run_to_exit(cmd)
    };
    assert!(stderr.contains("compiler says no"), "{stderr}");
    assert_one_line_error(code, &stderr, &["build of component `c` failed"]);
}

#[test]
fn concurrent_transactions_wait_for_each_other_instead_of_failing() {
    let state = tempfile::tempdir().unwrap();
    let rt = start(&probe_manifest(), state.path());
    let url = rt.url("/probe/sql");
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || get(&url))
        })
        .collect();
    for worker in workers {
        let (status, body) = worker.join().unwrap();
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(get(&url), (200, "17 17".to_owned()));
}

/// Needs a Postgres server: set `BOXOFFICE_TEST_POSTGRES_URL` (e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres`, a 127.0.0.1 address as the probe's
/// allowed_outbound_hosts require); without it the test only checks the refusal path.
#[test]
fn postgres_round_trips_values_and_respects_allowed_hosts() {
    let state = tempfile::tempdir().unwrap();
    let rt = start(&probe_manifest(), state.path());
    let (status, body) = get(&rt.url("/probe/pg?postgres://user@db.example.com:5432/app"));
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("ConnectionFailed"), "{body}");
    assert!(body.contains("allowed_outbound_hosts"), "{body}");

    let Ok(url) = std::env::var("BOXOFFICE_TEST_POSTGRES_URL") else {
        eprintln!("BOXOFFICE_TEST_POSTGRES_URL not set: skipping the Postgres round trip");
        return;
    };
    let (status, body) = get(&rt.url(&format!("/probe/pg?{url}")));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        concat!(
            r#"inserted 1 columns ["id:DbDataType::Int32", "name:DbDataType::Str", "#,
            r#""score:DbDataType::Floating64", "ok:DbDataType::Boolean", "note:DbDataType::Str"] "#,
            r#"rows [[DbValue::Int32(7), DbValue::Str("seven"), DbValue::Floating64(1.5), "#,
            r#"DbValue::Boolean(true), DbValue::DbNull]]"#
        )
    );
}

/// The environment variable that turns the next test into the child of the one after it.
const ABANDON: &str = "BOXOFFICE_TEST_ABANDON_RUNTIME";

/// Not a test of its own: run by the test below as a separate process, it starts a
/// runtime, prints its pid, and exits at once without dropping anything.
#[test]
#[ignore = "run by a_runtime_never_outlives_the_test_process_that_started_it"]
fn abandon_a_runtime() {
    if std::env::var_os(ABANDON).is_none() {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let rt = start(&probe_manifest(), state.path());
    println!("runtime pid {}", rt.pid());
    std::io::stdout().flush().unwrap();
    std::process::exit(0);
}

/// However a test binary ends, the runtimes it started end with it (the harness ties every
/// child to the process with PR_SET_PDEATHSIG): a binary that exits without dropping its
/// runtime leaves no `boxoffice up` behind.
#[test]
fn a_runtime_never_outlives_the_test_process_that_started_it() {
    build_fixtures();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["abandon_a_runtime", "--exact", "--ignored", "--nocapture"])
        .env(ABANDON, "1")
        .output()
        .expect("run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let pid: u32 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("runtime pid "))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pid: {stdout}{}", String::from_utf8_lossy(&out.stderr)));
    let gone = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_or(true, |stat| stat.split(' ').nth(2) == Some("Z"))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !gone(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "runtime {pid} outlived its test process"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
