//! End to end: the health component's `GET /health` and `GET /ready` (docs/health.md) on
//! the real runtime, with every backend answering (embedded; Redis + Postgres + NATS; a
//! wasmCloud host) and with one backend at a time refused or hung, through a runtime
//! config or a variable pointing it at 127.0.0.1 (the shared servers are never stopped).

use boxoffice_testkit as support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::servers::{answering_server, free_port, silent_server};
use support::{Backend, Resp, Runtime, Shop, ShopOptions};

/// How long `/ready` may take, whatever is down: each check is bounded at a second (a hung
/// SQL or key-value server by the runtime's `backend_ms`, 1000 in [`start`]), and the
/// broker's runs beside the other two.
const READY_BOUND: Duration = Duration::from_secs(3);

/// Passwords the tests put in URLs; no answer may ever carry one.
const SECRETS: [&str; 3] = ["pg-hunter2", "redis-hunter2", "broker-hunter2"];

/// GETs `path` and times the answer.
fn timed_get(url: &str) -> (Resp, Duration) {
    let started = Instant::now();
    let resp = support::send("GET", url, &[], None);
    (resp, started.elapsed())
}

/// `/ready`, asserted to be answered within [`READY_BOUND`] with the documented shape
/// and no secret; returns the status of each check by name, and the body.
fn ready(url: &str) -> (u16, Vec<(String, String)>, Value) {
    let (resp, took) = timed_get(url);
    assert!(took < READY_BOUND, "/ready took {took:?}: {}", resp.text);
    assert_eq!(
        resp.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    for secret in SECRETS {
        assert!(!resp.text.contains(secret), "{secret} in {}", resp.text);
    }
    for scheme in ["postgres://", "redis://", "http://"] {
        assert!(!resp.text.contains(scheme), "a URL in {}", resp.text);
    }
    let checks: Vec<(String, String)> = resp.json["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("no checks: {}", resp.text))
        .iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap().to_owned();
            let status = c["status"].as_str().unwrap().to_owned();
            // A failed check says why, briefly; a passing one has nothing to say.
            match status.as_str() {
                "ok" => assert!(c.get("reason").is_none(), "{c}"),
                "failed" => {
                    let reason = c["reason"].as_str().unwrap_or_else(|| panic!("{c}"));
                    assert!(!reason.is_empty() && reason.len() < 100, "{c}");
                }
                other => panic!("check status {other}: {c}"),
            }
            (name, status)
        })
        .collect();
    let expected_status = if resp.status == 200 {
        "ready"
    } else {
        "not_ready"
    };
    assert_eq!(resp.json["status"], expected_status, "{}", resp.text);
    (resp.status, checks, resp.json)
}

/// The checks in their order, `failed` for those named in `failed`, else `ok`.
fn statuses(failed: &[&str]) -> Vec<(String, String)> {
    ["sql", "key_value", "broker"]
        .iter()
        .map(|name| {
            let status = if failed.contains(name) {
                "failed"
            } else {
                "ok"
            };
            (name.to_string(), status.to_owned())
        })
        .collect()
}

/// The reason of check `name` in a `/ready` body.
fn reason<'a>(body: &'a Value, name: &str) -> &'a str {
    body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .and_then(|c| c["reason"].as_str())
        .unwrap_or_else(|| panic!("no reason for {name}: {body}"))
}

/// `/health` answers 200 `{"status":"ok"}` at once.
fn assert_alive(url: &str) {
    let (resp, took) = timed_get(url);
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.json, json!({"status": "ok"}));
    assert!(took < Duration::from_secs(1), "/health took {took:?}");
}

/// `boxoffice up` on spin.toml with `runtime_config` (written to a file, if any) and
/// `variables` (`SPIN_VARIABLE_*`); the temp dir holds its state.
fn start(runtime_config: Option<&str>, variables: &[(&str, &str)]) -> (Runtime, tempfile::TempDir) {
    support::build_components();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("runtime-config.toml");
    std::fs::write(
        &config,
        format!(
            "{}\n[boxoffice.timeouts]\nbackend_ms = 1000\n",
            runtime_config.unwrap_or_default()
        ),
    )
    .unwrap();
    let env: Vec<(String, String)> = variables
        .iter()
        .map(|(k, v)| (format!("SPIN_VARIABLE_{}", k.to_uppercase()), v.to_string()))
        .collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let runtime = Runtime::start(
        &support::workspace_root().join("spin.toml"),
        &dir.path().join("state"),
        &["--runtime-config", config.to_str().unwrap()],
        &env,
    );
    (runtime, dir)
}

fn redis_at(port: u16) -> String {
    let url = format!("redis://:redis-hunter2@127.0.0.1:{port}");
    format!(
        "[key_value_store.default]\ntype = \"redis\"\nurl = \"{url}/0\"\n\n\
         [key_value_store.cart]\ntype = \"redis\"\nurl = \"{url}/1\"\n"
    )
}

fn postgres_at(port: u16) -> String {
    format!("postgres://app:pg-hunter2@127.0.0.1:{port}/shop")
}

fn broker_at(port: u16) -> String {
    format!("http://user:broker-hunter2@127.0.0.1:{port}/boxoffice/boxoffice")
}

/// With every backend answering, `/health` and `/ready` are 200 and `/ready` lists each.
fn every_backend_answering_is_ready(backend: Backend) {
    let shop = Shop::start_with(ShopOptions {
        backend,
        ..ShopOptions::default()
    });
    assert_alive(&shop.url("/health"));
    let (status, checks, body) = ready(&shop.url("/ready"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(checks, statuses(&[]));
    // A probe every few seconds changes nothing the shop keeps.
    let again = ready(&shop.url("/ready"));
    assert_eq!(again.0, 200, "{}", again.2);
}

boxoffice_testkit::on_both_backends!(every_backend_answering_is_ready);
boxoffice_testkit::on_wasmcloud!(every_backend_answering_is_ready);

#[test]
fn other_methods_and_paths_are_the_apis_json_404_route_not_found() {
    let shop = Shop::shared();
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        for path in ["/health", "/ready"] {
            let resp = support::send(method, &shop.url(path), &[], Some(b"{}".to_vec()));
            assert_eq!(resp.status, 404, "{method} {path}: {}", resp.text);
            assert_eq!(
                resp.error_messages(),
                ["Route not found"],
                "{method} {path}"
            );
        }
    }
    // Only the exact paths are the component's; the rest is the web component's 404.
    let resp = support::send("GET", &shop.url("/ready/now"), &[], None);
    assert_eq!(resp.status, 404, "{}", resp.text);
}

#[test]
fn the_local_broker_answers_its_own_health_route() {
    let shop = Shop::shared();
    let broker = shop.runtime().broker.clone().expect("up runs a broker");
    let resp = support::send("GET", &format!("{broker}/health"), &[], None);
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.json, json!({"status": "ok"}));
    // Events are still POSTs only.
    let resp = support::send("GET", &format!("{broker}/boxoffice/boxoffice"), &[], None);
    assert_eq!(resp.status, 405, "{}", resp.text);
}

/// `/ready` on `runtime` is a 503 in which only the check `failed` failed, for `why`;
/// and no password reached the runtime's log either.
fn assert_only_failed(runtime: &Runtime, failed: &str, why: &str) {
    let (status, checks, body) = ready(&runtime.url("/ready"));
    assert_eq!(status, 503, "{body}");
    assert_eq!(checks, statuses(&[failed]), "{body}");
    assert_eq!(reason(&body, failed), why, "{body}");
    let log = runtime.stderr();
    for secret in SECRETS {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
}

#[test]
fn an_unreachable_key_value_store_fails_its_check_alone() {
    let (runtime, _dir) = start(Some(&redis_at(free_port())), &[]);
    assert_alive(&runtime.url("/health"));
    assert_only_failed(
        &runtime,
        "key_value",
        "the key-value store cannot be reached",
    );
}

#[test]
fn an_unreachable_postgres_fails_its_check_alone() {
    let (runtime, _dir) = start(None, &[("database_url", &postgres_at(free_port()))]);
    assert_only_failed(&runtime, "sql", "the database cannot be reached");
}

#[test]
fn an_unreachable_broker_fails_its_check_alone() {
    let (runtime, _dir) = start(None, &[("broker_url", &broker_at(free_port()))]);
    assert_only_failed(&runtime, "broker", "the broker refused the connection");
}

#[test]
fn any_http_answer_from_the_brokers_origin_counts_as_reachable() {
    // As Knative's broker ingress, which answers 404 at a path that names no broker.
    let port = answering_server(404);
    let (runtime, _dir) = start(None, &[("broker_url", &broker_at(port))]);
    let (status, checks, body) = ready(&runtime.url("/ready"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(checks, statuses(&[]));
}

#[test]
fn hung_servers_fail_their_checks_within_the_bound() {
    // Each accepts connections and never answers: only a timeout ends the wait.
    let (database, key_value, broker) = (silent_server(), silent_server(), silent_server());
    let (runtime, _dir) = start(
        Some(&redis_at(key_value)),
        &[
            ("database_url", &postgres_at(database)),
            ("broker_url", &broker_at(broker)),
        ],
    );
    assert_alive(&runtime.url("/health"));
    let started = Instant::now();
    let (status, checks, body) = ready(&runtime.url("/ready"));
    assert_eq!(status, 503, "{body}");
    assert_eq!(checks, statuses(&["sql", "key_value", "broker"]), "{body}");
    assert_eq!(reason(&body, "broker"), "the broker did not answer in time");
    // It waited for the timeouts rather than failing at once.
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    // Still alive, and still as quick to say so.
    assert_alive(&runtime.url("/health"));
}

#[test]
fn a_database_url_that_is_not_postgres_is_named_without_being_repeated() {
    let (runtime, _dir) = start(None, &[("database_url", "mysql://app:pg-hunter2@db/shop")]);
    let (status, _, body) = ready(&runtime.url("/ready"));
    assert_eq!(status, 503, "{body}");
    assert!(reason(&body, "sql").contains("database_url"), "{body}");
    assert!(!body.to_string().contains("mysql"), "{body}");
}
