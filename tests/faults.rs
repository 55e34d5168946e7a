//! Fault tests on the real backends (Redis, Postgres, NATS JetStream): a steady purchase
//! load runs while the runtime is SIGKILLed and restarted, or NATS, Redis or Postgres is
//! stopped and started again; afterwards the shop must settle with its invariants intact:
//!
//! - every committed order has its events delivered exactly once in effect (the tickets
//!   service holds its reservation, the payments replica has its status and version,
//!   every outbox is drained, every ticket replica is at the ticket's version);
//! - no ticket has two live orders;
//! - no payment stands without a complete order;
//! - no order or payment the API confirmed is missing.
//!
//! Each test prints a line of figures: requests sent, 503s, refused connections, the
//! longest recovery (from the restart to the first success), and the invariant counts.
//! The servers a test stops are its own, on spare ports.

use boxoffice_testkit as support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::backends::Servers;
use support::servers::{ChildServer, PostgresServer};
use support::stripe::FakeStripe;
use support::{try_send, unique_email, Backend, Shop, ShopOptions, TestDb};

/// Load workers, each a buyer with a seller.
const WORKERS: usize = 4;
/// How long the shop may take to settle after the load stops.
const SETTLE: Duration = Duration::from_secs(90);
/// How long a worker keeps retrying one step (a replica not caught up, a 503).
const STEP_PATIENCE: Duration = Duration::from_secs(30);

fn start_shop(
    backend: Backend,
    stripe: &FakeStripe,
    state_dir: Option<std::path::PathBuf>,
) -> Shop {
    Shop::start_with(ShopOptions {
        variables: [("reservation_window_seconds".into(), "600".into())]
            .into_iter()
            .chain(stripe.variables())
            .collect(),
        state_dir,
        backend,
        ..Default::default()
    })
}

/// What the load saw.
#[derive(Default)]
struct Tally {
    requests: u64,
    unavailable: u64,
    refused: u64,
    /// 5xx other than 503: always a defect.
    server_errors: Vec<String>,
    /// When each request ended, and whether it succeeded (2xx).
    outcomes: Vec<(Instant, bool)>,
    /// Orders the API confirmed (201).
    orders: Vec<String>,
    /// Payments the API confirmed (201), by order.
    payments: Vec<String>,
}

/// A steady purchase load: each worker sells a ticket, orders it and pays, over and over.
struct Load {
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
    workers: Vec<JoinHandle<()>>,
}

impl Load {
    fn start(base: Arc<RwLock<String>>, shop: &Shop) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Mutex::new(Tally::default()));
        let workers = (0..WORKERS)
            .map(|_| {
                let seller = shop.signup(&unique_email("seller"), "pass").0;
                let buyer = shop.signup(&unique_email("buyer"), "pass").0;
                let (base, stop, tally) = (base.clone(), stop.clone(), tally.clone());
                std::thread::spawn(move || {
                    let worker = Worker { base, tally, stop };
                    while !worker.stopped() {
                        worker.purchase(&seller, &buyer);
                    }
                })
            })
            .collect();
        Load {
            stop,
            tally,
            workers,
        }
    }

    fn finish(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        for worker in self.workers {
            worker.join().expect("a load worker panicked");
        }
        Arc::try_unwrap(self.tally)
            .ok()
            .unwrap()
            .into_inner()
            .unwrap()
    }

    /// Waits until the load has had `n` more successes.
    fn wait_for_successes(&self, n: usize, within: Duration) {
        let count = |t: &Tally| t.outcomes.iter().filter(|(_, ok)| *ok).count();
        let start = count(&self.tally.lock().unwrap());
        let deadline = Instant::now() + within;
        while count(&self.tally.lock().unwrap()) < start + n {
            assert!(Instant::now() < deadline, "the load made no progress");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

struct Worker {
    base: Arc<RwLock<String>>,
    tally: Arc<Mutex<Tally>>,
    stop: Arc<AtomicBool>,
}

impl Worker {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// One request, recorded; `None` when the runtime could not be reached.
    fn send(&self, method: &str, path: &str, cookie: &str, body: Value) -> Option<support::Resp> {
        let url = format!("{}{path}", self.base.read().unwrap());
        let result = try_send(
            method,
            &url,
            &[("cookie", cookie), ("content-type", "application/json")],
            Some(body.to_string().into_bytes()),
        );
        let mut tally = self.tally.lock().unwrap();
        tally.requests += 1;
        match result {
            Err(_) => {
                tally.refused += 1;
                tally.outcomes.push((Instant::now(), false));
                None
            }
            Ok(resp) => {
                if resp.status == 503 {
                    tally.unavailable += 1;
                } else if resp.status >= 500 {
                    tally
                        .server_errors
                        .push(format!("{method} {path}: {} {}", resp.status, resp.text));
                }
                tally
                    .outcomes
                    .push((Instant::now(), resp.status / 100 == 2));
                Some(resp)
            }
        }
    }

    /// Repeats a step until it gives an answer that is not "try again" (503, 404 while
    /// a replica catches up, no connection), or patience runs out.
    fn step(&self, method: &str, path: &str, cookie: &str, body: Value) -> Option<support::Resp> {
        let deadline = Instant::now() + STEP_PATIENCE;
        while Instant::now() < deadline && !self.stopped() {
            match self.send(method, path, cookie, body.clone()) {
                Some(resp) if resp.status != 503 && resp.status != 404 => return Some(resp),
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        None
    }

    fn purchase(&self, seller: &str, buyer: &str) {
        let Some(ticket) = self.step(
            "POST",
            "/api/tickets",
            seller,
            json!({"title": "Load", "price": 12}),
        ) else {
            return;
        };
        let Some(ticket_id) = ticket.json["id"].as_str().map(str::to_owned) else {
            return;
        };
        let Some(order) = self.step("POST", "/api/orders", buyer, json!({"ticketId": ticket_id}))
        else {
            return;
        };
        if order.status != 201 {
            return;
        }
        let order_id = order.json["id"].as_str().unwrap().to_owned();
        self.tally.lock().unwrap().orders.push(order_id.clone());
        if let Some(paid) = self.step(
            "POST",
            "/api/payments",
            buyer,
            json!({"token": "tok_visa", "orderId": order_id}),
        ) {
            if paid.status == 201 {
                self.tally.lock().unwrap().payments.push(order_id);
            }
        }
    }
}

/// The invariants, counted: every count but `orders`, `tickets` and `payments` must be 0.
#[derive(Debug, Default, PartialEq)]
struct Invariants {
    orders: i64,
    tickets: i64,
    payments: i64,
    tickets_with_two_live_orders: i64,
    payments_without_complete_order: i64,
    confirmed_orders_missing: usize,
    confirmed_payments_missing: usize,
    unsent_outbox_rows: i64,
    orders_without_reservation: i64,
    reservations_out_of_step: i64,
    payments_replica_out_of_step: i64,
    ticket_replicas_out_of_step: i64,
}

impl Invariants {
    fn read(db: &mut TestDb, tally: &Tally) -> Invariants {
        let n = |db: &mut TestDb, sql: &str| db.int(sql, &[]).unwrap_or(-1);
        let live = "('created', 'awaiting:payment', 'complete')";
        Invariants {
            orders: n(db, "SELECT COUNT(*) FROM orders_orders"),
            tickets: n(db, "SELECT COUNT(*) FROM tickets_tickets"),
            payments: n(db, "SELECT COUNT(*) FROM payments_payments"),
            tickets_with_two_live_orders: n(
                db,
                &format!(
                    "SELECT COUNT(*) FROM (SELECT ticket_id FROM orders_orders \
                     WHERE status IN {live} GROUP BY ticket_id HAVING COUNT(*) > 1) AS t"
                ),
            ),
            payments_without_complete_order: n(
                db,
                "SELECT COUNT(*) FROM payments_payments p \
                 LEFT JOIN orders_orders o ON o.id = p.order_id \
                 WHERE p.refunded_at IS NULL AND (o.id IS NULL OR o.status <> 'complete')",
            ),
            confirmed_orders_missing: tally
                .orders
                .iter()
                .filter(|id| {
                    db.int("SELECT COUNT(*) FROM orders_orders WHERE id = $1", &[id]) != Some(1)
                })
                .count(),
            confirmed_payments_missing: tally
                .payments
                .iter()
                .filter(|id| {
                    db.int(
                        "SELECT COUNT(*) FROM payments_payments WHERE order_id = $1",
                        &[id],
                    ) != Some(1)
                })
                .count(),
            unsent_outbox_rows: ["tickets", "orders", "expiration", "payments"]
                .iter()
                .map(|s| {
                    n(
                        db,
                        &format!("SELECT COUNT(*) FROM {s}_outbox WHERE sent_at IS NULL"),
                    )
                })
                .sum(),
            orders_without_reservation: n(
                db,
                "SELECT COUNT(*) FROM orders_orders o \
                 LEFT JOIN tickets_reservations r ON r.order_id = o.id WHERE r.order_id IS NULL",
            ),
            reservations_out_of_step: n(
                db,
                "SELECT COUNT(*) FROM orders_orders o \
                 JOIN tickets_reservations r ON r.order_id = o.id \
                 WHERE (o.status = 'cancelled') <> (r.released_at IS NOT NULL)",
            ),
            payments_replica_out_of_step: n(
                db,
                "SELECT COUNT(*) FROM orders_orders o \
                 LEFT JOIN payments_orders p ON p.id = o.id \
                 WHERE p.id IS NULL OR p.version <> o.version OR p.status <> o.status",
            ),
            ticket_replicas_out_of_step: n(
                db,
                "SELECT COUNT(*) FROM tickets_tickets t \
                 LEFT JOIN orders_tickets r ON r.id = t.id \
                 WHERE r.id IS NULL OR r.version <> t.version",
            ),
        }
    }

    fn hold(&self) -> bool {
        let Invariants {
            orders,
            tickets,
            payments,
            ..
        } = *self;
        *self
            == Invariants {
                orders,
                tickets,
                payments,
                ..Default::default()
            }
    }
}

/// Waits for the shop to settle (events delivered, outboxes drained), then checks.
fn settle_and_check(shop: &Shop, tally: &Tally) -> Invariants {
    let deadline = Instant::now() + SETTLE;
    let mut db = shop.db();
    loop {
        let invariants = Invariants::read(&mut db, tally);
        if invariants.hold() || Instant::now() > deadline {
            return invariants;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The longest time from each restart to the load's next success.
fn longest_recovery(tally: &Tally, restarts: &[Instant]) -> Duration {
    restarts
        .iter()
        .map(|at| {
            tally
                .outcomes
                .iter()
                .filter(|(when, ok)| *ok && when >= at)
                .map(|(when, _)| *when - *at)
                .min()
                .unwrap_or(Duration::MAX)
        })
        .max()
        .unwrap_or_default()
}

fn report(fault: &str, tally: &Tally, restarts: &[Instant], invariants: &Invariants) {
    let recovery = longest_recovery(tally, restarts);
    let figures = BTreeMap::from([
        ("requests", tally.requests.to_string()),
        ("503", tally.unavailable.to_string()),
        ("refused", tally.refused.to_string()),
        ("other_5xx", tally.server_errors.len().to_string()),
        ("longest_recovery_ms", recovery.as_millis().to_string()),
        ("confirmed_orders", tally.orders.len().to_string()),
        ("confirmed_payments", tally.payments.len().to_string()),
    ]);
    eprintln!("FAULT {fault}: {figures:?} {invariants:?}");
    assert!(
        tally.server_errors.is_empty(),
        "{fault}: 5xx other than 503: {:?}",
        tally.server_errors
    );
    assert!(
        invariants.hold(),
        "{fault}: invariants broken: {invariants:?}"
    );
    assert!(invariants.orders > 0, "{fault}: the load placed no order");
    assert!(
        recovery < Duration::from_secs(60),
        "{fault}: no success after a restart"
    );
}

#[test]
fn the_runtime_sigkilled_five_times_under_load_loses_nothing() {
    let Some(servers) = Servers::for_test() else {
        return;
    };
    let stripe = FakeStripe::start();
    let backend = Backend::real_on(&servers);
    let mut shop = start_shop(backend, &stripe, None);
    let base = Arc::new(RwLock::new(shop.base.clone()));
    let load = Load::start(base.clone(), &shop);
    let mut restarts = Vec::new();
    // The first life's state dir lives in the first KeptState: keep them all to the end.
    let mut kept_states = Vec::new();
    for _ in 0..5 {
        load.wait_for_successes(6, Duration::from_secs(60));
        let kept = shop.kill_keeping_state();
        shop = start_shop(kept.backend.clone(), &stripe, Some(kept.state_dir.clone()));
        restarts.push(Instant::now());
        *base.write().unwrap() = shop.base.clone();
        kept_states.push(kept);
    }
    load.wait_for_successes(6, Duration::from_secs(60));
    let tally = load.finish();
    let invariants = settle_and_check(&shop, &tally);
    report("runtime SIGKILL x5", &tally, &restarts, &invariants);
}

/// Runs the load on `servers`, applies `fault` once the load is under way, and checks
/// the invariants once the shop has settled.
fn fault_under_load(name: &str, servers: &Servers, fault: impl FnOnce()) {
    let stripe = FakeStripe::start();
    let shop = start_shop(Backend::real_on(servers), &stripe, None);
    let base = Arc::new(RwLock::new(shop.base.clone()));
    let load = Load::start(base, &shop);
    load.wait_for_successes(6, Duration::from_secs(60));
    fault();
    let restarts = [Instant::now()];
    load.wait_for_successes(12, Duration::from_secs(60));
    let tally = load.finish();
    let invariants = settle_and_check(&shop, &tally);
    report(name, &tally, &restarts, &invariants);
}

#[test]
fn nats_stopped_for_ten_seconds_under_load_loses_nothing() {
    let Some(shared) = Servers::for_test() else {
        return;
    };
    let mut nats = ChildServer::nats();
    let servers = Servers {
        nats: nats.url(),
        ..shared
    };
    fault_under_load("NATS stopped 10 s", &servers, || {
        nats.stop();
        std::thread::sleep(Duration::from_secs(10));
        nats.start_again();
    });
}

#[test]
fn redis_restarted_under_load_loses_nothing() {
    let Some(shared) = Servers::for_test() else {
        return;
    };
    let mut redis = ChildServer::redis();
    let servers = Servers {
        redis: redis.url(),
        ..shared
    };
    fault_under_load("Redis restarted", &servers, || {
        redis.stop();
        std::thread::sleep(Duration::from_secs(2));
        redis.start_again();
    });
}

#[test]
fn postgres_restarted_under_load_loses_nothing() {
    let Some(shared) = Servers::for_test() else {
        return;
    };
    let postgres = PostgresServer::start();
    let servers = Servers {
        postgres: postgres.url(),
        ..shared
    };
    fault_under_load("Postgres restarted", &servers, || {
        postgres.stop();
        std::thread::sleep(Duration::from_secs(2));
        postgres.start_again();
    });
}
