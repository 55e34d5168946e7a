//! The event broker run alone (`boxoffice broker`), against a real HTTP subscriber inside
//! the test: ingress, delivery with the CloudEvent intact, deduplication, retries, the
//! dead-letter queue and its CLI, survival of a SIGKILL, and ticks. Every test has its own
//! state directory, subscriber and ports; every wait is bounded.

use boxoffice_testkit as support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{
    assert_one_line_error, boxoffice, post_event, publish_signed_with, run_to_exit, send,
    spawn_tied, test_broker_env, test_signing_key, Runtime, EXIT_TIMEOUT,
};

/// How long the broker may take to start or to deliver something.
const WAIT: Duration = Duration::from_secs(20);

/// One request the subscriber received.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HashMap<String, String>,
    body: String,
}

type Answer = Box<dyn FnMut(&Received, usize) -> u16 + Send>;

/// The "app": an HTTP server on 127.0.0.1:0 that records every request and answers with
/// the status its `answer` picks (given the request and how many came to that path before).
struct Subscriber {
    base: String,
    received: Arc<Mutex<Vec<Received>>>,
    answer: Arc<Mutex<Answer>>,
}

impl Subscriber {
    fn start(answer: impl FnMut(&Received, usize) -> u16 + Send + 'static) -> Subscriber {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let answer: Arc<Mutex<Answer>> = Arc::new(Mutex::new(Box::new(answer)));
        let (rec, ans) = (received.clone(), answer.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (rec, ans) = (rec.clone(), ans.clone());
                std::thread::spawn(move || serve_one(stream, &rec, &ans));
            }
        });
        Subscriber {
            base,
            received,
            answer,
        }
    }

    /// Changes how the subscriber answers from now on.
    fn answer_with(&self, answer: impl FnMut(&Received, usize) -> u16 + Send + 'static) {
        *self.answer.lock().unwrap() = Box::new(answer);
    }

    fn at(&self, path: &str) -> Vec<Received> {
        let all = self.received.lock().unwrap();
        all.iter().filter(|r| r.path == path).cloned().collect()
    }

    /// Waits (bounded) until `path` has had `n` requests; returns them.
    fn wait_for(&self, path: &str, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + WAIT;
        loop {
            let got = self.at(path);
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{path}: {} of {n} requests arrived: {got:?}",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Reads one HTTP/1.1 request, records it and answers (closing the connection).
fn serve_one(stream: TcpStream, received: &Mutex<Vec<Received>>, answer: &Mutex<Answer>) {
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.trim_end().split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let length = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let request = Received {
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let status = {
        let mut all = received.lock().unwrap();
        let before = all.iter().filter(|r| r.path == request.path).count();
        all.push(request.clone());
        drop(all);
        (answer.lock().unwrap())(&request, before)
    };
    let body = if status == 400 {
        r#"{"errors":[{"message":"cannot apply"}]}"#
    } else {
        ""
    };
    let mut stream = reader.into_inner();
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Starts `boxoffice broker` on a free port (debug logging), delivering to `app`.
/// It accepts what the tests sign ([`test_public_keys`]).
fn start_broker(state: &Path, events: &Path, app: &str, args: &[&str]) -> Runtime {
    let (name, keys) = test_broker_env();
    let env = [("RUST_LOG", "debug"), (name.as_str(), keys.as_str())];
    Runtime::start_broker(state, app, "127.0.0.1:0", events, args, &env)
}

/// Writes an events.toml with small retry settings and one subscription per
/// `(name, types)`, routed to `/<name>`.
fn events_toml(dir: &Path, max_attempts: u32, subs: &[(&str, &[&str])]) -> std::path::PathBuf {
    let mut text = format!(
        "[broker]\nmax_attempts = {max_attempts}\nbackoff_initial_ms = 50\nbackoff_max_ms = 200\ntick_interval_ms = 60000\n"
    );
    for (name, types) in subs {
        text.push_str(&format!(
            "\n[[subscription]]\nname = \"{name}\"\ncomponent = \"{name}\"\nroute = \"/{name}\"\ntypes = {}\n",
            serde_json::to_string(types).unwrap()
        ));
    }
    let path = dir.join("events.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `boxoffice <args>` to a successful exit (bounded) and returns its stdout.
fn run_ok(args: &[&str], state: &Path) -> String {
    let mut cmd = boxoffice();
    cmd.args(args)
        .arg("--state-dir")
        .arg(state)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = spawn_tied(cmd).unwrap();
    let deadline = Instant::now() + EXIT_TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "boxoffice {args:?} did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "boxoffice {args:?}: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Waits (bounded) until `events stats` shows `count` deliveries of `subscription` in
/// `status`.
fn wait_for_status(state: &Path, subscription: &str, status: &str, count: u32) {
    let deadline = Instant::now() + WAIT;
    let expected = format!("{subscription} {status} {count}");
    loop {
        let stats = run_ok(&["events", "stats"], state);
        let rows: Vec<String> = stats
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        if rows.contains(&expected) {
            return;
        }
        assert!(Instant::now() < deadline, "never `{expected}`:\n{stats}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_event_reaches_its_subscribers_intact_and_once() {
    let dir = tempfile::tempdir().unwrap();
    let app = Subscriber::start(|_, _| 200);
    let events = events_toml(
        dir.path(),
        3,
        &[
            ("tickets", &["order:created"]),
            ("orders", &["ticket:created"]),
        ],
    );
    let broker = start_broker(&dir.path().join("state"), &events, &app.base, &[]);

    let body = br#"{"id":"ticket-7","version":0}"#.to_vec();
    let signature = test_signing_key("tickets").sign(
        &support::SignedAttributes {
            id: "evt-1",
            event_type: "ticket:created",
            source: "/boxoffice/tickets",
            subject: "ticket-7",
            time: "2025-05-01T12:00:00Z",
        },
        &body,
    );
    let headers = [
        ("ce-specversion", "1.0"),
        ("ce-id", "evt-1"),
        ("ce-type", "ticket:created"),
        ("ce-source", "/boxoffice/tickets"),
        ("ce-time", "2025-05-01T12:00:00Z"),
        ("ce-subject", "ticket-7"),
        ("ce-boxofficesig", &signature),
        ("content-type", "application/json"),
    ];
    let accepted = send(
        "POST",
        &format!("{}/", broker.base),
        &headers,
        Some(body.clone()),
    );
    assert_eq!(accepted.status, 202, "{}", accepted.text);
    // A duplicate (same source and id), even on another path, is acknowledged and ignored.
    let again = send(
        "POST",
        &format!("{}/any/path", broker.base),
        &headers,
        Some(body),
    );
    assert_eq!(again.status, 202, "{}", again.text);

    let got = app.wait_for("/orders", 1);
    let request = &got[0];
    for (name, value) in headers {
        assert_eq!(
            request.headers.get(name).map(String::as_str),
            Some(value),
            "{name}"
        );
    }
    assert_eq!(request.body, r#"{"id":"ticket-7","version":0}"#);
    wait_for_status(&dir.path().join("state"), "orders", "done", 1);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(app.at("/orders").len(), 1, "delivered more than once");
    assert!(
        app.at("/tickets").is_empty(),
        "tickets does not subscribe to ticket:created"
    );

    // Structured mode arrives in binary mode.
    let data = json!({"id": "order-1"});
    let signature = test_signing_key("orders").sign(
        &support::SignedAttributes {
            id: "evt-2",
            event_type: "order:created",
            source: "/boxoffice/orders",
            subject: "",
            time: "",
        },
        data.to_string().as_bytes(),
    );
    let structured = json!({
        "specversion": "1.0", "id": "evt-2", "type": "order:created", "source": "/boxoffice/orders",
        "data": data, "boxofficesig": signature
    });
    let resp = send(
        "POST",
        &broker.base,
        &[("content-type", "application/cloudevents+json")],
        Some(structured.to_string().into_bytes()),
    );
    assert_eq!(resp.status, 202, "{}", resp.text);
    let got = app.wait_for("/tickets", 1);
    assert_eq!(got[0].headers["ce-id"], "evt-2");
    assert_eq!(got[0].headers["ce-type"], "order:created");
    assert_eq!(got[0].headers["content-type"], "application/json");
    assert_eq!(
        serde_json::from_str::<Value>(&got[0].body).unwrap(),
        json!({"id": "order-1"})
    );

    // An event nobody subscribes to is still acknowledged.
    let resp = post_event(
        &broker.base,
        "nobody:cares",
        "evt-3",
        "/boxoffice/tests",
        &json!({}),
    );
    assert_eq!(resp.status, 202);
}

#[test]
fn malformed_events_and_other_methods_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let app = Subscriber::start(|_, _| 200);
    let events = events_toml(dir.path(), 3, &[("tickets", &["order:created"])]);
    let broker = start_broker(&dir.path().join("state"), &events, &app.base, &[]);

    let missing_type = send(
        "POST",
        &broker.base,
        &[
            ("ce-specversion", "1.0"),
            ("ce-id", "1"),
            ("ce-source", "/s"),
        ],
        Some(b"{}".to_vec()),
    );
    assert_eq!(missing_type.status, 400);
    let messages = missing_type.error_messages();
    assert_eq!(messages.len(), 1, "{}", missing_type.text);
    assert!(messages[0].contains("ce-type"), "{messages:?}");

    let bad_json = send(
        "POST",
        &broker.base,
        &[("content-type", "application/cloudevents+json")],
        Some(b"{not json".to_vec()),
    );
    assert_eq!(bad_json.status, 400);
    assert_eq!(bad_json.error_messages().len(), 1, "{}", bad_json.text);

    let get = send("GET", &broker.base, &[], None);
    assert_eq!(get.status, 405);
    assert_eq!(get.error_messages().len(), 1, "{}", get.text);

    // The ingress is authenticated: unsigned, signed by a stranger, signed by another
    // publisher than the source names, from no service, or a tick (the broker's own clock
    // sends those): 403, and nothing is stored or delivered.
    let order = json!({"id": "o1"});
    let forged = [
        publish_signed_with(&broker.base, "order:created", "f1", &order, None),
        publish_signed_with(
            &broker.base,
            "order:created",
            "f2",
            &order,
            Some(&support::SigningKey::from_seed([9; 32])),
        ),
        publish_signed_with(
            &broker.base,
            "order:created",
            "f3",
            &order,
            Some(&test_signing_key("payments")),
        ),
        post_event(&broker.base, "order:created", "f4", "/elsewhere", &order),
        post_event(
            &broker.base,
            "boxoffice:tick",
            "f5",
            "/boxoffice/broker",
            &order,
        ),
    ];
    for (n, refused) in forged.iter().enumerate() {
        assert_eq!(refused.status, 403, "forgery {n}: {}", refused.text);
        assert!(
            refused.error_messages()[0].starts_with("Event refused: "),
            "{}",
            refused.text
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(app.received.lock().unwrap().is_empty());
    let genuine = publish_signed_with(
        &broker.base,
        "order:created",
        "g1",
        &order,
        Some(&test_signing_key("orders")),
    );
    assert_eq!(genuine.status, 202, "{}", genuine.text);
    app.wait_for("/tickets", 1);
}

#[test]
fn transient_failures_are_retried_until_done() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let app = Subscriber::start(|_, before| if before < 2 { 503 } else { 200 });
    let events = events_toml(dir.path(), 5, &[("orders", &["ticket:updated"])]);
    let broker = start_broker(&state, &events, &app.base, &[]);

    let resp = post_event(
        &broker.base,
        "ticket:updated",
        "evt-1",
        "/boxoffice/tickets",
        &json!({"v": 1}),
    );
    assert_eq!(resp.status, 202);
    let got = app.wait_for("/orders", 3);
    assert!(got.iter().all(|r| r.headers["ce-id"] == "evt-1"));
    wait_for_status(&state, "orders", "done", 1);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(app.at("/orders").len(), 3);
    assert!(
        !broker.stderr().contains("dead-lettered"),
        "{}",
        broker.stderr()
    );
}

/// A subscriber whose `/strict` route answers 400 and `/flaky` 503, and an events.toml
/// (max_attempts 3) routing `order:created` to strict and `order:cancelled` to flaky.
fn strict_and_flaky(dir: &Path) -> (Subscriber, std::path::PathBuf) {
    let app = Subscriber::start(|r, _| if r.path == "/strict" { 400 } else { 503 });
    let events = events_toml(
        dir,
        3,
        &[
            ("strict", &["order:created"]),
            ("flaky", &["order:cancelled"]),
        ],
    );
    (app, events)
}

/// Publishes `evt-400` (for strict) and `evt-503` (for flaky).
fn publish_to_strict_and_flaky(broker: &str) {
    for (ty, id) in [("order:created", "evt-400"), ("order:cancelled", "evt-503")] {
        assert_eq!(
            post_event(broker, ty, id, "/boxoffice/orders", &json!({})).status,
            202
        );
    }
}

#[test]
fn failures_end_in_the_dead_letter_queue_and_replay_redelivers() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (app, events) = strict_and_flaky(dir.path());
    let broker = start_broker(&state, &events, &app.base, &[]);
    publish_to_strict_and_flaky(&broker.base);
    wait_for_status(&state, "strict", "dead", 1);
    wait_for_status(&state, "flaky", "dead", 1);
    assert_eq!(app.at("/strict").len(), 1, "a 400 is not retried");
    assert_eq!(app.at("/flaky").len(), 3, "max_attempts = 3");
    let log = broker.stderr();
    let warned: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("dead-lettered"))
        .collect();
    assert_eq!(warned.len(), 2, "{log}");
    assert!(warned.iter().any(|l| l.contains("WARN")
        && l.contains("evt-503")
        && l.contains("order:cancelled")
        && l.contains("flaky")
        && l.contains("HTTP 503")));

    let table = run_ok(&["events", "dlq", "list"], &state);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    for column in [
        "EVENT ID",
        "TYPE",
        "SUBSCRIPTION",
        "ATTEMPTS",
        "LAST ERROR",
        "WHEN",
    ] {
        assert!(lines[0].contains(column), "{table}");
    }
    assert!(
        table.contains("evt-400") && table.contains("cannot apply"),
        "{table}"
    );
    let listed: Value =
        serde_json::from_str(&run_ok(&["events", "dlq", "list", "--json"], &state)).unwrap();
    let flaky = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["subscription"] == "flaky")
        .unwrap();
    assert_eq!(flaky["event_id"], "evt-503");
    assert_eq!(flaky["type"], "order:cancelled");
    assert_eq!(flaky["attempts"], 3);
    assert_eq!(flaky["last_error"], "HTTP 503");

    // Unknown ids replay nothing, with one error line.
    let mut replay = boxoffice();
    replay
        .args([
            "events",
            "dlq",
            "replay",
            "evt-503",
            "no-such-event",
            "--state-dir",
        ])
        .arg(&state);
    let (code, stderr) = run_to_exit(replay);
    assert_one_line_error(code, &stderr, &["no-such-event"]);

    app.answer_with(|_, _| 200);
    let out = run_ok(&["events", "dlq", "replay", "--all"], &state);
    assert!(out.contains("replayed 2"), "{out}");
    wait_for_status(&state, "flaky", "done", 1);
    wait_for_status(&state, "strict", "done", 1);
    assert_eq!(app.at("/flaky").len(), 4);
    assert_eq!(
        run_ok(&["events", "dlq", "list", "--json"], &state).trim(),
        "[]"
    );
}

/// The same contract on NATS JetStream: bounded redelivery, then the dead-letter stream,
/// listed and replayed by the same commands with `--runtime-config`.
#[test]
fn on_nats_failures_end_in_the_dead_letter_stream_and_replay_redelivers() {
    let Some(backend) = support::Backend::real() else {
        return;
    };
    let config = backend
        .runtime_config()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (app, events) = strict_and_flaky(dir.path());
    let events_arg = events.to_str().unwrap().to_owned();
    let broker = start_broker(&state, &events, &app.base, &["--runtime-config", &config]);
    publish_to_strict_and_flaky(&broker.base);
    // The same id again is acknowledged and dropped by JetStream.
    assert_eq!(
        post_event(
            &broker.base,
            "order:created",
            "evt-400",
            "/boxoffice/orders",
            &json!({})
        )
        .status,
        202
    );
    let list = || -> Value {
        serde_json::from_str(&run_ok(
            &[
                "events",
                "dlq",
                "list",
                "--json",
                "--runtime-config",
                &config,
                "--events",
                &events_arg,
            ],
            &state,
        ))
        .unwrap()
    };
    let deadline = Instant::now() + WAIT;
    let letters = loop {
        let letters = list();
        if letters.as_array().unwrap().len() == 2 {
            break letters;
        }
        assert!(
            Instant::now() < deadline,
            "never two dead letters: {letters}\n{}",
            broker.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let by_subscription = |name: &str| {
        letters
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["subscription"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(by_subscription("flaky")["event_id"], "evt-503");
    assert_eq!(by_subscription("flaky")["attempts"], 3);
    assert_eq!(by_subscription("flaky")["last_error"], "HTTP 503");
    assert_eq!(by_subscription("strict")["attempts"], 1);
    assert_eq!(app.at("/strict").len(), 1, "a 400 is not retried");
    assert_eq!(app.at("/flaky").len(), 3, "max_attempts = 3");

    app.answer_with(|_, _| 200);
    let out = run_ok(
        &[
            "events",
            "dlq",
            "replay",
            "--all",
            "--runtime-config",
            &config,
        ],
        &state,
    );
    assert!(out.contains("replayed 2"), "{out}");
    app.wait_for("/flaky", 4);
    app.wait_for("/strict", 2);
    assert_eq!(list(), json!([]));
    // Each replay goes to its own subscription only.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(app.at("/flaky").len(), 4);
    assert_eq!(app.at("/strict").len(), 2);
}

#[test]
fn a_pending_delivery_survives_a_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    // The first delivery hangs (in flight when the broker dies); later ones succeed.
    let app = Subscriber::start(|_, before| {
        if before == 0 {
            std::thread::sleep(Duration::from_secs(5));
        }
        200
    });
    let events = events_toml(dir.path(), 5, &[("orders", &["ticket:created"])]);
    let mut broker = start_broker(&state, &events, &app.base, &[]);
    assert_eq!(
        post_event(
            &broker.base,
            "ticket:created",
            "evt-k",
            "/boxoffice/tickets",
            &json!({})
        )
        .status,
        202
    );
    app.wait_for("/orders", 1);
    broker.kill();

    let _restarted = start_broker(&state, &events, &app.base, &[]);
    let got = app.wait_for("/orders", 2);
    assert_eq!(got[1].headers["ce-id"], "evt-k");
    wait_for_status(&state, "orders", "done", 1);
}

#[test]
fn ticks_arrive_on_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let app = Subscriber::start(|_, _| 200);
    let events = events_toml(
        dir.path(),
        3,
        &[("clock", &["boxoffice:tick"]), ("deaf", &["x"])],
    );
    let _broker = start_broker(
        &dir.path().join("state"),
        &events,
        &app.base,
        &["--tick-interval-ms", "200"],
    );
    let ticks = app.wait_for("/clock", 2);
    for tick in &ticks {
        assert_eq!(tick.headers["ce-type"], "boxoffice:tick");
        assert_eq!(tick.headers["ce-source"], "/boxoffice/broker");
        assert_eq!(tick.headers["ce-specversion"], "1.0");
        assert!(tick.headers.contains_key("ce-time"));
        assert_eq!(tick.body, "{}");
    }
    assert_ne!(ticks[0].headers["ce-id"], ticks[1].headers["ce-id"]);
    assert!(app.at("/deaf").is_empty());
}

#[test]
fn bad_configuration_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[subscription]]\nname = \"a\"\nroute = \"/a\"\n").unwrap();
    let mut cmd = boxoffice();
    cmd.args(["broker", "--listen", "127.0.0.1:0", "--events"])
        .arg(&bad)
        .arg("--state-dir")
        .arg(&state);
    let (code, stderr) = run_to_exit(cmd);
    assert_one_line_error(code, &stderr, &["bad.toml", "component"]);

    let mut cmd = boxoffice();
    cmd.args([
        "broker",
        "--listen",
        "127.0.0.1:0",
        "--app",
        "ftp://x",
        "--state-dir",
    ])
    .arg(&state);
    let (code, stderr) = run_to_exit(cmd);
    assert_one_line_error(code, &stderr, &["--app"]);

    let mut cmd = boxoffice();
    cmd.args(["events", "dlq", "list", "--state-dir"])
        .arg(dir.path().join("nowhere"));
    let (code, stderr) = run_to_exit(cmd);
    assert_one_line_error(code, &stderr, &["broker.db"]);

    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut cmd = boxoffice();
    cmd.args(["broker", "--listen", &addr, "--state-dir"])
        .arg(&state);
    let (code, stderr) = run_to_exit(cmd);
    assert_one_line_error(code, &stderr, &[&addr]);
}

/// A copy of the probe fixture's manifest in `dir` that gives the probe `broker_url`,
/// with `events` beside it (so that `up` finds it by default).
fn probe_app(dir: &Path, events: &str) -> std::path::PathBuf {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let wasm = support::workspace_root().join("target/wasm32-wasip2/release/probe.wasm");
    let manifest = format!(
        r#"spin_manifest_version = 2
[application]
name = "probe"
[variables]
broker_url = {{ default = "http://127.0.0.1:9" }}
[[trigger.http]]
route = "/probe/..."
component = "probe"
[component.probe]
source = "{wasm}"
[component.probe.variables]
broker_url = "{{{{ broker_url }}}}"
[component.probe.build]
command = "cargo build --target wasm32-wasip2 --release -p probe"
workdir = "{fixtures}"
watch = ["probe/src/**/*.rs", "probe/Cargo.toml"]
"#,
        wasm = wasm.display(),
        fixtures = fixtures.display(),
    );
    std::fs::write(dir.join("events.toml"), events).unwrap();
    let path = dir.join("spin.toml");
    std::fs::write(&path, manifest).unwrap();
    path
}

#[test]
fn up_runs_the_broker_in_process_and_points_broker_url_at_it() {
    let dir = tempfile::tempdir().unwrap();
    let events = r#"
[broker]
tick_interval_ms = 60000
[[subscription]]
name = "probe"
component = "probe"
route = "/probe/ack"
types = ["thing:happened"]
[[subscription]]
name = "later"
component = "later"
route = "/later"
types = ["thing:happened"]
"#;
    let manifest = probe_app(dir.path(), events);
    let state = dir.path().join("state");
    let runtime = support::Runtime::start(&manifest, &state, &[], &[("RUST_LOG", "info")]);
    let broker = runtime
        .broker
        .clone()
        .expect("a broker line before the listening line");
    let var = send("GET", &runtime.url("/probe/var?broker_url"), &[], None);
    assert_eq!(var.text, broker);

    assert_eq!(
        post_event(&broker, "thing:happened", "evt-up", "/t", &json!({})).status,
        202
    );
    wait_for_status(&state, "probe", "done", 1);
    runtime.wait_for_log("POST /probe/ack -> probe 204");
    // A subscription whose component the manifest lacks keeps its events queued.
    wait_for_status(&state, "later", "pending", 1);
    runtime.wait_for_log("subscription `later`: component `later` is not in the manifest");

    // SPIN_VARIABLE_BROKER_URL wins over the in-process broker.
    let other = tempfile::tempdir().unwrap();
    let runtime = support::Runtime::start(
        &manifest,
        other.path(),
        &[],
        &[("SPIN_VARIABLE_BROKER_URL", "http://broker.example:8080")],
    );
    let var = send("GET", &runtime.url("/probe/var?broker_url"), &[], None);
    assert_eq!(var.text, "http://broker.example:8080");
}

#[test]
fn up_refuses_a_busy_broker_port() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = probe_app(dir.path(), "");
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut cmd = boxoffice();
    cmd.args([
        "up",
        "--listen",
        "127.0.0.1:0",
        "--broker-listen",
        &addr,
        "--manifest",
    ])
    .arg(&manifest)
    .arg("--state-dir")
    .arg(dir.path().join("state"));
    let (code, stderr) = run_to_exit(cmd);
    assert_one_line_error(code, &stderr, &[&addr]);
}
