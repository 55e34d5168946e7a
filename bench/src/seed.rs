//! The data set, put in through the API as a shopper would: users, tickets on sale, orders
//! awaiting payment. Seeding goes through the load generator's connections, so that ten
//! thousand tickets take seconds, and then waits until the services that keep replicas
//! (orders, payments) have heard of them through the broker.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use boxoffice_testkit::Shop;
use serde_json::{json, Value};

use crate::load::{self, Answer, Call};

/// Connections used for seeding.
const CONNECTIONS: usize = 16;

/// How long the replicas may take to catch up with what was seeded.
const CATCH_UP: Duration = Duration::from_secs(120);

/// Sends `count` calls made by `calls` and returns their answers; every status must be
/// `status`.
fn fetch(
    rt: &tokio::runtime::Runtime,
    shop: &Shop,
    count: u64,
    status: u16,
    calls: impl Fn(u64) -> Call + Send + Sync + 'static,
) -> anyhow::Result<Vec<Answer>> {
    let answers = rt.block_on(load::fetch_all(
        &shop.runtime().addr(),
        Arc::new(calls),
        count,
        CONNECTIONS,
    ))?;
    for answer in &answers {
        anyhow::ensure!(
            answer.status == status,
            "seeding: {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
    }
    Ok(answers)
}

/// Signs up `count` users named after `label`; their session cookies.
pub fn users(
    rt: &tokio::runtime::Runtime,
    shop: &Shop,
    label: &str,
    count: u64,
) -> anyhow::Result<Vec<String>> {
    let label = label.to_owned();
    fetch(rt, shop, count, 201, move |n| {
        Call::post(
            "/api/users/signup",
            &json!({"email": format!("{label}-{n}@example.com"), "password": "pass1234"}),
        )
        .standing_for(n)
    })?
    .into_iter()
    .map(|answer| {
        answer
            .cookie
            .ok_or_else(|| anyhow::anyhow!("a sign-up without a session cookie"))
    })
    .collect()
}

/// Puts `count` tickets titled `title n` on sale as `seller`; their ids.
pub fn tickets(
    rt: &tokio::runtime::Runtime,
    shop: &Shop,
    seller: &str,
    title: &str,
    count: u64,
) -> anyhow::Result<Vec<String>> {
    let (seller, title) = (seller.to_owned(), title.to_owned());
    ids(fetch(rt, shop, count, 201, move |n| {
        Call::post(
            "/api/tickets",
            &json!({"title": format!("{title} {n}"), "price": 10 + n % 90}),
        )
        .with_cookie(&seller)
    })?)
}

/// Orders each of `tickets` as `buyer`; the orders' ids.
pub fn orders(
    rt: &tokio::runtime::Runtime,
    shop: &Shop,
    buyer: &str,
    tickets: Vec<String>,
) -> anyhow::Result<Vec<String>> {
    let buyer = buyer.to_owned();
    let count = tickets.len() as u64;
    ids(fetch(rt, shop, count, 201, move |n| {
        Call::post("/api/orders", &json!({"ticketId": tickets[n as usize]})).with_cookie(&buyer)
    })?)
}

/// The `id` of each answer's JSON body.
fn ids(answers: Vec<Answer>) -> anyhow::Result<Vec<String>> {
    answers
        .iter()
        .map(|answer| {
            let body: Value = serde_json::from_slice(&answer.body)?;
            body["id"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| anyhow::anyhow!("no id in {body}"))
        })
        .collect()
}

/// Waits until `sql` (a count, on the shop's data) reaches `count`.
pub fn caught_up(shop: &Shop, what: &str, sql: &str, count: i64) -> anyhow::Result<()> {
    let start = Instant::now();
    let mut db = shop.db();
    loop {
        let now = db.int(sql, &[]).unwrap_or(0);
        if now >= count {
            return Ok(());
        }
        anyhow::ensure!(
            start.elapsed() < CATCH_UP,
            "{what}: {now} of {count} after {CATCH_UP:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Items used up one each by a flow's requests (tickets to order, orders to pay), handed
/// out in turn across all its runs; past the end it starts again, and the answers become
/// errors, which the table shows.
pub struct Pool {
    items: Vec<String>,
    next: AtomicUsize,
}

impl Pool {
    pub fn new(items: Vec<String>) -> Arc<Pool> {
        Arc::new(Pool {
            items,
            next: AtomicUsize::new(0),
        })
    }

    /// The next unused item.
    pub fn take(&self) -> &str {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        &self.items[n % self.items.len()]
    }
}
