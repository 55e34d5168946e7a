//! End to end: abuse a shop on the public internet meets on its first day (issue 33,
//! docs/security.md, "Abuse"): parallel password guesses, batched GraphQL sign-ins, slow
//! clients and connection floods, on the real runtime. (Scalpers and card testers are
//! tested with the purchase flow, tests/purchase.rs.)

use boxoffice_testkit as support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;
use support::{unique_email, Body, Shop, ShopOptions};

const CLIENT: &str = "boxoffice-client-addr";

fn sign_in_from(shop: &Shop, client: &str, email: &str, password: &str) -> support::Resp {
    shop.request_with(
        "POST",
        "/api/users/signin",
        None,
        Body::Json(json!({"email": email, "password": password})),
        &[(CLIENT, client)],
    )
}

/// The throttle counts before it checks, atomically: of a hundred parallel guesses from
/// one address, exactly ten are checked (and fail), ninety are refused; the owner, from
/// elsewhere, still signs in.
#[test]
fn a_hundred_parallel_guesses_are_a_hundred_counts() {
    let shop = Shop::start();
    let email = unique_email("stuffed");
    shop.signup(&email, "the right one");
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let guesses: Vec<_> = (0..100)
            .map(|n| {
                let (shop, email) = (&shop, &email);
                s.spawn(move || {
                    sign_in_from(shop, "198.51.100.66", email, &format!("guess {n}")).status
                })
            })
            .collect();
        guesses.into_iter().map(|g| g.join().unwrap()).collect()
    });
    let count = |status| statuses.iter().filter(|s| **s == status).count();
    assert_eq!((count(400), count(429)), (10, 90), "{statuses:?}");
    let owner = sign_in_from(&shop, "203.0.113.5", &email, "the right one");
    assert_eq!(owner.status, 200, "the owner is locked out: {}", owner.text);
    let guesser = sign_in_from(&shop, "198.51.100.66", &email, "the right one");
    assert_eq!(guesser.status, 429, "{}", guesser.text);
    assert_eq!(
        guesser.error_messages(),
        vec!["Too many attempts; try again in 15 minutes"]
    );
}

/// One GraphQL request holds at most one `signIn`: three aliased ones are refused whole,
/// and count nothing.
#[test]
fn graphql_takes_one_sign_in_per_request() {
    let shop = Shop::start();
    let email = unique_email("aliased");
    shop.signup(&email, "secret");
    let guesses: Vec<String> = (0..3)
        .map(|n| format!(r#"g{n}: signIn(email: "{email}", password: "guess {n}") {{ id }}"#))
        .collect();
    let query = format!("mutation {{ {} }}", guesses.join(" "));
    let answer = shop.post("/api/graphql", None, json!({ "query": query }));
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.json["errors"][0]["message"], "At most one signIn per request",
        "{}",
        answer.text
    );
    assert!(
        answer.json.get("data").is_none_or(|d| d.is_null()),
        "{}",
        answer.text
    );
    let one = format!(r#"mutation {{ signIn(email: "{email}", password: "secret") {{ id }} }}"#);
    let answer = shop.post("/api/graphql", None, json!({ "query": one }));
    assert!(
        answer.json["data"]["signIn"]["id"].is_string(),
        "{}",
        answer.text
    );
}

/// Reads from `stream` until the server closes it (or `within` passes): whether it closed.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buffer = [0u8; 1024];
    let start = Instant::now();
    while start.elapsed() < within {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
            Err(_) => return true,
        }
    }
    false
}

fn address(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

/// A client that sends half a request head and waits is dropped within the head timeout
/// (10 s), at the front door and at the broker's ingress alike; a whole request on another
/// connection is answered meanwhile.
#[test]
fn a_slowloris_client_is_dropped_within_the_head_timeout() {
    let shop = Shop::start();
    let broker = shop.runtime().broker.clone().expect("up runs a broker");
    let mut slow: Vec<TcpStream> = [shop.base.as_str(), broker.as_str()]
        .iter()
        .map(|url| {
            let mut stream = TcpStream::connect(address(url)).unwrap();
            stream
                .write_all(b"POST /api/users/signin HTTP/1.1\r\nHost: shop\r\nX-Slow: ")
                .unwrap();
            stream
        })
        .collect();
    assert_eq!(shop.get("/api/tickets", None).status, 200);
    let start = Instant::now();
    for stream in &mut slow {
        let left = Duration::from_secs(15).saturating_sub(start.elapsed());
        assert!(
            closed_within(stream, left),
            "a slow client still held after {:?}",
            start.elapsed()
        );
    }
    assert!(
        start.elapsed() >= Duration::from_secs(8),
        "dropped too early: {:?}",
        start.elapsed()
    );
}

/// Over `--max-connections`, a new connection is closed at once (shed, not queued), the
/// open ones go on, and once some close new ones are served again.
#[test]
fn connections_over_the_cap_are_shed_not_queued() {
    let shop = Shop::start_with(ShopOptions {
        env: vec![("BOXOFFICE_MAX_CONNECTIONS".into(), "4".into())],
        ..Default::default()
    });
    let held: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(address(&shop.base)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut over = TcpStream::connect(address(&shop.base)).unwrap();
    let _ = over.write_all(b"GET /api/tickets HTTP/1.1\r\nHost: shop\r\n\r\n");
    assert!(
        closed_within(&mut over, Duration::from_secs(3)),
        "the fifth connection was not shed"
    );
    drop(held);
    let again = support::wait_until("a place to free up", Duration::from_secs(5), || {
        let answer = shop.get("/api/tickets", None);
        (answer.status == 200).then_some(answer)
    });
    assert_eq!(again.status, 200);
}

/// Every answer is `nosniff`; over HTTPS (here, behind a proxy that says so) every answer,
/// API and pages, also keeps browsers on HTTPS.
#[test]
fn answers_are_nosniff_and_keep_browsers_on_https() {
    let shop = Shop::shared();
    for path in ["/api/users/currentuser", "/api/tickets/nope", "/"] {
        let plain = shop.get(path, None);
        assert_eq!(plain.headers["x-content-type-options"], "nosniff", "{path}");
        assert!(
            !plain.headers.contains_key("strict-transport-security"),
            "{path}"
        );
        let secure = shop.request_with(
            "GET",
            path,
            None,
            Body::None,
            &[("x-forwarded-proto", "https")],
        );
        assert_eq!(
            secure.headers["strict-transport-security"], "max-age=31536000",
            "{path}"
        );
    }
}

/// `--production` refuses a key too short to be a secret (a 12-byte `jwt_key` passes the
/// services' own floor), naming the variable and never showing the key.
#[test]
fn production_refuses_a_weak_key_at_start() {
    let _built = Shop::shared(); // the components exist
    let state = tempfile::tempdir().unwrap();
    let mut up = std::process::Command::new(support::boxoffice_bin());
    up.args(["up", "--production", "--listen", "127.0.0.1:0"])
        .args([
            "--broker-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .arg("--manifest")
        .arg(support::workspace_root().join("spin.toml"))
        .arg("--state-dir")
        .arg(state.path())
        .env("SPIN_VARIABLE_JWT_KEY", "twelve-bytes")
        .envs(
            support::test_event_variables(false)
                .into_iter()
                .map(|(name, value)| (format!("SPIN_VARIABLE_{}", name.to_uppercase()), value)),
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = support::output_within(up.spawn().unwrap(), Duration::from_secs(60), "up");
    let text = support::output_text(&out);
    assert!(!out.status.success(), "started with a weak key: {text}");
    assert!(
        text.contains("key 1 of jwt_key is 12 bytes; --production requires at least 32"),
        "{text}"
    );
    assert!(!text.contains("twelve-bytes"), "the key was shown: {text}");
}

/// A page chains to the services, so it holds an instance while its calls need more. With
/// a small pool (`BOXOFFICE_INSTANCES=24`) and three times as many page requests at once,
/// every one is answered quickly: the chained calls have turns of their own, so the pages
/// cannot take every instance and wait on each other until the request timeout.
#[test]
fn pages_at_once_past_the_pool_do_not_deadlock_their_chained_calls() {
    let shop = Shop::start_with(ShopOptions {
        env: vec![("BOXOFFICE_INSTANCES".into(), "24".into())],
        ..Default::default()
    });
    assert_eq!(shop.get("/", None).status, 200);
    let start = Instant::now();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let pages: Vec<_> = (0..72)
            .map(|_| s.spawn(|| shop.get("/", None).status))
            .collect();
        pages.into_iter().map(|p| p.join().unwrap()).collect()
    });
    let took = start.elapsed();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert!(
        took < Duration::from_secs(10),
        "{took:?}: the pool waited out its timeout"
    );
}
