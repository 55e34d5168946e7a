//! End to end: what operators get from the runtime (docs/operations.md). The admin
//! listener's `/metrics` parses as Prometheus text and counts the requests a test made; the
//! log has one line per request and per delivery, as JSON with `--log-format json`, and no
//! password, token, cookie, card or key after a whole purchase; and one purchase, traced
//! by its client, reaches a local OTLP collector as one trace across every service.

use boxoffice_testkit as support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{json, Value};
use support::metrics::{sample, scrape};
use support::otlp::{OtlpReceiver, ReceivedSpan};
use support::stripe::{FakeStripe, SECRET_KEY};
use support::{send, unique_email, wait_until, Backend, Shop, ShopOptions, EVENTUAL, TEST_JWT_KEY};

/// The client's trace in [`one_purchase_is_one_trace_across_every_service`]: a W3C
/// `traceparent` as a traced browser or API client sends it.
const CLIENT_TRACE: &str = "5b8efff798038103d269b633813fc60c";
const CLIENT_SPAN: &str = "eee19b7ec3c1b174";

fn shop(backend: Backend, stripe: &FakeStripe, env: &[(&str, &str)], args: &[&str]) -> Shop {
    Shop::start_with(ShopOptions {
        backend,
        variables: stripe.variables(),
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        ..Default::default()
    })
}

/// What a purchase sent that must never be logged.
struct Purchase {
    password: String,
    cookies: Vec<String>,
    order_id: String,
    paths: Vec<String>,
}

/// A whole purchase: a seller signs up and lists a ticket, a buyer signs up, orders and
/// pays with a card token; returns once the order is complete. `traceparent`, when given,
/// goes with the order and the payment.
fn purchase(shop: &Shop, traceparent: Option<&str>) -> Purchase {
    // Unique, so that finding it in the log can only mean it was logged (4-20 characters).
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let password = format!("Pw{:x}", nanos ^ u128::from(std::process::id()))[..18].to_owned();
    let (seller, _) = shop.signup(&unique_email("seller"), &password);
    let ticket = shop.post(
        "/api/tickets",
        Some(&seller),
        json!({"title": "Concert", "price": 25}),
    );
    assert_eq!(ticket.status, 201, "{}", ticket.text);
    let ticket_id = ticket.json["id"].as_str().unwrap().to_owned();
    let (buyer, _) = shop.signup(&unique_email("buyer"), &password);
    let traced: Vec<(&str, &str)> = traceparent
        .map(|t| ("traceparent", t))
        .into_iter()
        .collect();
    let order = wait_until("the orders replica of the ticket", EVENTUAL, || {
        let resp = shop.request_with(
            "POST",
            "/api/orders",
            Some(&buyer),
            support::Body::Json(json!({"ticketId": ticket_id})),
            &traced,
        );
        (resp.status != 404).then_some(resp)
    });
    assert_eq!(order.status, 201, "{}", order.text);
    let order_id = order.json["id"].as_str().unwrap().to_owned();
    let paid = wait_until("the payments replica of the order", EVENTUAL, || {
        let resp = shop.request_with(
            "POST",
            "/api/payments",
            Some(&buyer),
            support::Body::Json(json!({"token": "tok_visa", "orderId": order_id})),
            &traced,
        );
        (resp.status != 404).then_some(resp)
    });
    assert_eq!(paid.status, 201, "{}", paid.text);
    wait_until("the order to complete", EVENTUAL, || {
        let order = shop.get(&format!("/api/orders/{order_id}"), Some(&buyer));
        (order.json["status"] == "complete").then_some(())
    });
    Purchase {
        password,
        cookies: [seller, buyer]
            .iter()
            .map(|c| c.trim_start_matches("session=").to_owned())
            .collect(),
        paths: vec![
            "/api/users/signup".into(),
            "/api/tickets".into(),
            "/api/orders".into(),
            "/api/payments".into(),
            format!("/api/orders/{order_id}"),
        ],
        order_id,
    }
}

/// Sends `request_line` (which HTTP clients refuse to send for an extension method) over
/// a plain connection to `addr`; returns the answer's status line.
fn raw_request(addr: &str, request_line: &str) -> String {
    use std::io::{BufRead as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{request_line} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut status = String::new();
    std::io::BufReader::new(stream)
        .read_line(&mut status)
        .unwrap();
    status
}

fn metrics_are_prometheus_text_and_count_the_requests_made(backend: Backend) {
    let real = matches!(backend, Backend::Real(_));
    let shop = Shop::start_with(ShopOptions {
        backend,
        ..Default::default()
    });
    let admin = shop.runtime().admin.clone();
    assert!(admin.starts_with("http://127.0.0.1:"), "loopback: {admin}");
    let not_found = [
        ("component", "tickets"),
        ("route", "/api/tickets/..."),
        ("method", "GET"),
        ("status", "404"),
    ];
    let before =
        sample(&scrape(&admin), "boxoffice_http_requests_total", &not_found).unwrap_or(0.0);
    for _ in 0..3 {
        let resp = shop.get("/api/tickets/0123456789abcdef01234567", None);
        assert_eq!(resp.status, 404, "{}", resp.text);
    }
    let after = scrape(&admin);
    assert_eq!(
        sample(&after, "boxoffice_http_requests_total", &not_found),
        Some(before + 3.0),
        "the three 404s are counted"
    );
    let latency = after
        .samples
        .iter()
        .find(|s| {
            s.metric == "boxoffice_http_request_duration_seconds"
                && s.labels.get("route") == Some("/api/tickets/...")
        })
        .expect("a latency histogram of the tickets route");
    match &latency.value {
        prometheus_parse::Value::Histogram(buckets) => {
            assert!(buckets.len() >= 10, "{buckets:?}");
            let counts: Vec<f64> = buckets.iter().map(|b| b.count).collect();
            assert!(
                counts.windows(2).all(|w| w[0] <= w[1]),
                "cumulative: {counts:?}"
            );
            assert!(*counts.last().unwrap() >= 3.0, "{counts:?}");
        }
        other => panic!("not a histogram: {other:?}"),
    }
    // Instances and the time to make them; the broker's queue per subscription.
    assert!(sample(
        &after,
        "boxoffice_instances_in_use",
        &[("component", "tickets")]
    )
    .is_some());
    assert!(after
        .samples
        .iter()
        .any(|s| s.metric == "boxoffice_instantiation_duration_seconds"));
    for subscription in ["tickets", "orders", "expiration", "payments"] {
        let labels = [("subscription", subscription)];
        assert!(
            sample(&after, "boxoffice_broker_queue_depth", &labels).is_some_and(|v| v >= 0.0),
            "queue depth of {subscription}"
        );
        assert_eq!(
            sample(&after, "boxoffice_broker_dead_letters", &labels),
            Some(0.0)
        );
    }
    // An event, accepted and delivered: a listing goes to the orders service.
    let (seller, _) = shop.signup(&unique_email("metrics"), "pass");
    let listed = shop.post(
        "/api/tickets",
        Some(&seller),
        json!({"title": "M", "price": 1}),
    );
    assert_eq!(listed.status, 201, "{}", listed.text);
    let delivered = [("subscription", "orders"), ("outcome", "done")];
    wait_until("a delivery to orders to be counted", EVENTUAL, || {
        let scrape = scrape(&admin);
        let accepted = sample(
            &scrape,
            "boxoffice_broker_events_accepted_total",
            &[("type", "ticket:created"), ("new", "true")],
        );
        let outbound = scrape.samples.iter().any(|s| {
            s.metric == "boxoffice_outbound_requests_total"
                && s.labels.get("component") == Some("tickets")
                && s.labels.get("status") == Some("202")
        });
        (accepted >= Some(1.0)
            && sample(&scrape, "boxoffice_broker_deliveries_total", &delivered) >= Some(1.0)
            && outbound)
            .then_some(())
    });
    // A type nobody subscribes to, which anyone reaching the ingress may name, gets no
    // series of its own; nor does an extension method.
    let broker = shop.runtime().broker.clone().expect("up runs a broker");
    for n in 0..2 {
        let odd = format!("made:up-{n}");
        let resp = support::post_event(
            &broker,
            &odd,
            &format!("odd-{n}"),
            "/boxoffice/orders",
            &json!({}),
        );
        assert_eq!(resp.status, 202, "{}", resp.text);
    }
    assert!(raw_request(&shop.runtime().addr(), "BREW /api/tickets").starts_with("HTTP/1.1 404"));
    let folded = scrape(&admin);
    assert_eq!(
        sample(
            &folded,
            "boxoffice_broker_events_accepted_total",
            &[("type", "(unsubscribed)"), ("new", "true")]
        ),
        Some(2.0)
    );
    assert!(!folded
        .samples
        .iter()
        .any(|s| s.labels.values().any(|v| v.starts_with("made:up"))));
    assert!(sample(
        &folded,
        "boxoffice_http_requests_total",
        &[("method", "other")]
    )
    .is_some());
    assert!(!folded
        .samples
        .iter()
        .any(|s| s.labels.get("method") == Some("BREW")));
    let pools = scrape(&admin);
    assert!(
        pools
            .samples
            .iter()
            .any(|s| s.metric == "boxoffice_pool_connections"
                && s.labels.get("backend") == Some("sqlite")
                && s.labels.get("pool") == Some("default")
                && s.labels.get("state") == Some("idle")),
        "the SQLite database's connections"
    );
    if real {
        assert!(
            pools
                .samples
                .iter()
                .any(|s| s.metric == "boxoffice_pool_connections"
                    && s.labels.get("backend") == Some("postgres")
                    && !s.labels.get("pool").unwrap_or_default().contains('@')),
            "the Postgres pool, named without its credentials"
        );
    }
    // Only /metrics; the shop's own port does not serve it.
    assert_eq!(
        send("GET", &format!("{admin}/other"), &[], None).status,
        404
    );
    assert_eq!(
        send("POST", &format!("{admin}/metrics"), &[], None).status,
        405
    );
    assert_eq!(shop.get("/metrics", None).status, 404);
}

/// Asserts that nothing of `purchase`, nor any key the shop holds, is in `log`.
fn assert_no_secret(log: &str, purchase: &Purchase) {
    let mut secrets = vec![
        purchase.password.clone(),
        TEST_JWT_KEY.to_owned(),
        SECRET_KEY.to_owned(),
        "tok_visa".to_owned(),
        // The database password, in any URL (the test servers' user is `boxoffice`).
        ":boxoffice@".to_owned(),
    ];
    secrets.extend(
        support::test_event_variables(true)
            .into_iter()
            .map(|(_, seed)| seed),
    );
    secrets.extend(purchase.cookies.iter().cloned());
    // Any part of a session token is as good as the token.
    secrets.extend(
        purchase
            .cookies
            .iter()
            .flat_map(|c| c.split('.').map(str::to_owned).collect::<Vec<_>>())
            .filter(|part| part.len() >= 16),
    );
    for secret in secrets {
        assert!(!secret.is_empty());
        if let Some(line) = log.lines().find(|line| line.contains(&secret)) {
            panic!("a secret ({secret}) is in the log: {line}");
        }
    }
}

fn json_logs_have_a_line_per_request_and_delivery_and_no_secret(backend: Backend) {
    let stripe = FakeStripe::start();
    let shop = shop(backend, &stripe, &[], &["--log-format", "json"]);
    let bought = purchase(&shop, None);
    // The deliveries the purchase set off are logged once each is answered, in any order.
    let expected = [
        ("order:created", "tickets"),
        ("order:created", "expiration"),
        ("order:created", "payments"),
        ("payment:created", "orders"),
        ("order:completed", "payments"),
    ];
    let done = |lines: &[Value], (event_type, subscription): (&str, &str)| {
        lines
            .iter()
            .filter(|d| {
                d["event_type"] == event_type
                    && d["subscription"] == subscription
                    && d["outcome"] == "done"
            })
            .count()
    };
    let (log, lines) = wait_until("the purchase's deliveries in the log", EVENTUAL, || {
        let log = shop.runtime().stderr();
        let lines: Vec<Value> = log
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        expected
            .iter()
            .all(|pair| done(&lines, *pair) > 0)
            .then_some((log, lines))
    });
    for line in &lines {
        for field in ["timestamp", "level", "message"] {
            assert!(line.get(field).is_some(), "no {field}: {line}");
        }
    }
    let requests: Vec<&Value> = lines.iter().filter(|l| l.get("status").is_some()).collect();
    for path in &bought.paths {
        assert!(
            requests.iter().any(|r| r["path"] == path.as_str()
                && r["method"].is_string()
                && r["component"].is_string()
                && r["duration_ms"].is_number()),
            "no request line for {path}"
        );
    }
    // One line per delivery: each of these was delivered once, at the first attempt.
    for pair in expected {
        assert_eq!(done(&lines, pair), 1, "{pair:?}");
    }
    let first = lines
        .iter()
        .find(|d| d["event_type"] == "order:created" && d["outcome"] == "done")
        .unwrap();
    assert!(
        first["event_id"].is_string() && first["attempt"] == 1,
        "{first}"
    );
    assert!(first["duration_ms"].is_number(), "{first}");
    assert!(!bought.order_id.is_empty());
    assert_no_secret(&log, &bought);
}

#[test]
fn text_logs_are_readable_lines_without_secrets() {
    let stripe = FakeStripe::start();
    let shop = shop(Backend::Embedded, &stripe, &[], &[]);
    let bought = purchase(&shop, None);
    let log = shop.runtime().wait_for_log("deliver order:completed");
    assert!(
        log.lines()
            .any(|l| l.contains("POST /api/payments -> payments 201 (")),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("deliver order:created ")
                && l.contains(" -> tickets: done (attempt 1,")),
        "{log}"
    );
    assert!(
        !log.lines().any(|l| l.trim_start().starts_with('{')),
        "{log}"
    );
    assert_no_secret(&log, &bought);
}

/// The spans of the client's trace, once every service has reported its part: each
/// service's provider exports on its own schedule, so a child may arrive before its
/// parent. Complete means every service is there, every span hangs off the client's span
/// or another of the trace, and orders has received both events that come back to it.
fn client_trace(collector: &OtlpReceiver, services: &[&str]) -> Vec<ReceivedSpan> {
    wait_until(
        "the purchase's spans at the collector",
        Duration::from_secs(30),
        || {
            let spans: Vec<ReceivedSpan> = collector
                .spans()
                .into_iter()
                .filter(|s| s.trace_id == CLIENT_TRACE)
                .collect();
            let seen: BTreeSet<&str> = spans.iter().map(|s| s.service.as_str()).collect();
            let ids: BTreeSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
            let linked = spans.iter().all(|s| {
                s.parent_span_id == CLIENT_SPAN || ids.contains(s.parent_span_id.as_str())
            });
            let back_to_orders = |event: &str| {
                let name = format!("deliver {event}");
                spans.iter().any(|d| {
                    d.name == name
                        && spans
                            .iter()
                            .any(|r| r.service == "orders" && r.parent_span_id == d.span_id)
                })
            };
            let complete = services.iter().all(|s| seen.contains(s))
                && linked
                && back_to_orders("ticket:updated")
                && back_to_orders("payment:created");
            complete.then_some(spans)
        },
    )
}

#[test]
fn one_purchase_is_one_trace_across_every_service() {
    let collector = OtlpReceiver::start();
    let stripe = FakeStripe::start();
    let endpoint = collector.endpoint();
    let shop = shop(
        Backend::Embedded,
        &stripe,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
        &[],
    );
    let traceparent = format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01");
    purchase(&shop, Some(&traceparent));
    let services = ["orders", "broker", "tickets", "expiration", "payments"];
    let spans = client_trace(&collector, &services);

    // Linked: every span's parent is the client's span or another span of the trace.
    let ids: BTreeSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    for span in &spans {
        assert!(
            span.parent_span_id == CLIENT_SPAN || ids.contains(span.parent_span_id.as_str()),
            "{span:?} hangs off nothing in the trace"
        );
    }
    let by_id: BTreeMap<&str, &ReceivedSpan> =
        spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let parent_of = |span: &ReceivedSpan| by_id.get(span.parent_span_id.as_str()).copied();
    let find = |service: &str, name: &str| {
        spans
            .iter()
            .filter(|s| s.service == service && s.name == name)
            .collect::<Vec<_>>()
    };
    // orders → broker → tickets, expiration, payments: each delivery of order:created is a
    // child of the order's request, through the event's ce-traceparent, and each service's
    // request span a child of its delivery.
    let placed = find("orders", "POST /api/orders/...");
    assert_eq!(placed.len(), 1, "{spans:#?}");
    assert_eq!(placed[0].parent_span_id, CLIENT_SPAN);
    assert_eq!(placed[0].kind, 2, "a server span");
    let deliveries = find("broker", "deliver order:created");
    assert_eq!(deliveries.len(), 3, "{deliveries:#?}");
    for delivery in &deliveries {
        assert_eq!(delivery.parent_span_id, placed[0].span_id, "{delivery:?}");
    }
    for service in ["tickets", "expiration", "payments"] {
        let route = format!("POST /internal/events/{service}");
        let received = find(service, &route);
        assert!(
            received
                .iter()
                .any(|r| parent_of(r).is_some_and(|p| p.name == "deliver order:created")),
            "{service} received order:created in the trace: {spans:#?}"
        );
    }
    // Within the order's own trace, back to orders: tickets reserves the ticket and its
    // ticket:updated reaches the orders service.
    let reserved = find("broker", "deliver ticket:updated");
    assert!(
        reserved.iter().any(|d| {
            parent_of(d).is_some_and(|p| p.service == "tickets")
                && find("orders", "POST /internal/events/orders")
                    .iter()
                    .any(|r| r.parent_span_id == d.span_id)
        }),
        "ticket:updated went from tickets to orders in the trace: {spans:#?}"
    );
    // ... and the payment's event completes the order in the same trace. It goes to each
    // subscriber of payment:created: orders, and the cart (which leaves a ticket's alone).
    let completed = find("broker", "deliver payment:created");
    assert_eq!(completed.len(), 2, "{spans:#?}");
    for delivery in &completed {
        let paid = parent_of(delivery).expect("the payment's request");
        assert_eq!(
            (paid.service.as_str(), paid.name.as_str()),
            ("payments", "POST /api/payments/...")
        );
    }
    assert!(
        find("orders", "POST /internal/events/orders")
            .iter()
            .any(|r| parent_of(r).is_some_and(|p| completed.iter().any(|c| c.span_id == p.span_id))),
        "orders received payment:created in the trace"
    );
    // Outbound calls have their own spans: the relays to the broker, the charge at Stripe.
    assert!(spans.iter().any(|s| s.service == "payments"
        && s.kind == 3
        && s.attributes
            .iter()
            .any(|(k, v)| k == "server.address" && v.starts_with("127.0.0.1"))));
}

boxoffice_testkit::on_both_backends!(
    metrics_are_prometheus_text_and_count_the_requests_made,
    json_logs_have_a_line_per_request_and_delivery_and_no_secret,
);
