//! End to end: the purchase flow of docs/api.md (orders, expiration, payments and the events
//! between them) against a faithful fake of Stripe's HTTP API: on the runtime with the
//! embedded backends and its in-process broker, on Redis + Postgres + NATS, and the main
//! flows on a real wasmCloud host with `boxoffice broker`.

use boxoffice_testkit as support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::stripe::{Endpoint, FakeStripe, Fault, SECRET_KEY, WEBHOOK_SECRET};
use support::EVENTUAL;
use support::{
    forge_session, publish, unique_email, wait_until, Backend, Body, Shop, ShopOptions,
    TEST_JWT_KEY,
};

fn shop_with(backend: Backend, stripe: Option<&FakeStripe>, window_seconds: u64) -> Shop {
    let mut variables = vec![(
        "reservation_window_seconds".to_string(),
        window_seconds.to_string(),
    )];
    if let Some(stripe) = stripe {
        variables.extend(stripe.variables());
    }
    Shop::start_with(ShopOptions {
        variables,
        backend,
        ..Default::default()
    })
}

fn user(shop: &Shop) -> String {
    shop.signup(&unique_email("buyer"), "pass").0
}

fn sell(shop: &Shop, seller: &str, price: Value) -> Value {
    let resp = shop.post(
        "/api/tickets",
        Some(seller),
        json!({"title": "Show", "price": price}),
    );
    assert_eq!(resp.status, 201, "{}", resp.text);
    resp.json
}

/// Sells a ticket and returns its id.
fn sell_id(shop: &Shop, seller: &str, price: Value) -> String {
    sell(shop, seller, price)["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Sells `count` tickets priced 10, 11, ... and returns their ids.
fn sell_many(shop: &Shop, seller: &str, count: u64) -> Vec<String> {
    (0..count)
        .map(|i| sell_id(shop, seller, json!(10 + i)))
        .collect()
}

fn get_order(shop: &Shop, cookie: &str, id: &str) -> Value {
    let resp = shop.get(&format!("/api/orders/{id}"), Some(cookie));
    assert_eq!(resp.status, 200, "{}", resp.text);
    resp.json
}

fn listed(shop: &Shop, ticket_id: &str) -> bool {
    let list = shop.get("/api/tickets", None);
    assert_eq!(list.status, 200);
    list.json
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == ticket_id)
}

fn get_ticket(shop: &Shop, id: &str) -> Value {
    let resp = shop.get(&format!("/api/tickets/{id}"), None);
    assert_eq!(resp.status, 200, "{}", resp.text);
    resp.json
}

/// Pays, retrying while the payments service has not yet heard of the order.
fn pay(shop: &Shop, buyer: &str, order_id: &str, token: &str) -> support::Resp {
    wait_until("the payments replica of the order", EVENTUAL, || {
        let resp = shop.post(
            "/api/payments",
            Some(buyer),
            json!({"token": token, "orderId": order_id}),
        );
        (resp.status != 404).then_some(resp)
    })
}

/// The version of the orders service's replica of a ticket, read from its table.
fn replica_version(shop: &Shop, table: &str, id: &str) -> Option<i64> {
    shop.db()
        .int(&format!("SELECT version FROM {table} WHERE id = $1"), &[id])
}

fn parse_time(iso: &str) -> chrono_like::Millis {
    chrono_like::parse(iso).unwrap_or_else(|| panic!("not ISO 8601: {iso}"))
}

/// The little ISO 8601 reading these tests need (UTC `YYYY-MM-DDTHH:MM:SS(.mmm)Z`).
mod chrono_like {
    pub type Millis = i64;

    pub fn parse(s: &str) -> Option<Millis> {
        let s = s.strip_suffix('Z')?;
        let (date, time) = s.split_once('T')?;
        let mut d = date.split('-').map(|p| p.parse::<i64>());
        let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
        let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
        let mut t = hms.split(':').map(|p| p.parse::<i64>());
        let (h, min, sec) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
        let ms: i64 = format!("{frac:0<3}")[..3].parse().ok()?;
        // Days from civil (Howard Hinnant's algorithm).
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        Some(((days * 24 + h) * 60 + min) * 60_000 + sec * 1000 + ms)
    }

    pub fn now() -> Millis {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    }
}

fn two_buyers_race_one_wins_the_ticket_leaves_the_listing_and_expiry_relists_it(backend: Backend) {
    let window = 4;
    let shop = shop_with(backend, None, window);
    let seller = user(&shop);
    let ticket = sell(&shop, &seller, json!(25));
    let ticket_id = ticket["id"].as_str().unwrap().to_string();
    let (alice, bob) = (user(&shop), user(&shop));

    let barrier = std::sync::Barrier::new(2);
    let results: Vec<support::Resp> = std::thread::scope(|s| {
        let racers: Vec<_> = [&alice, &bob]
            .into_iter()
            .map(|buyer| {
                let (shop, barrier, ticket_id) = (&shop, &barrier, &ticket_id);
                s.spawn(move || {
                    barrier.wait();
                    shop.order_when_known(buyer, ticket_id)
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let statuses: Vec<u16> = results.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    let loser = results.iter().find(|r| r.status != 201).unwrap();
    assert_eq!(loser.status, 400, "{}", loser.text);
    assert_eq!(loser.error_messages(), vec!["Ticket is already reserved"]);

    let (winner_cookie, won) = if results[0].status == 201 {
        (&alice, &results[0].json)
    } else {
        (&bob, &results[1].json)
    };
    assert_eq!(won["status"], "created");
    assert_eq!(won["version"], 0);
    assert_eq!(won["ticket"]["id"], ticket_id);
    assert_eq!(won["ticket"]["price"], json!(25));
    let created_at = chrono_like::now();
    let expires_at = parse_time(won["expiresAt"].as_str().unwrap());
    let window_ms = (window * 1000) as i64;
    assert!(
        (expires_at - created_at - window_ms).abs() < 2000,
        "expiresAt {expires_at} is not now + {window}s ({created_at})"
    );
    let order_id = won["id"].as_str().unwrap().to_string();

    // The ticket leaves the listing and shows its order.
    wait_until("the ticket to leave the listing", EVENTUAL, || {
        (!listed(&shop, &ticket_id)).then_some(())
    });
    let reserved = get_ticket(&shop, &ticket_id);
    assert_eq!(reserved["orderId"], order_id.as_str());
    assert_eq!(reserved["version"], 1);
    // A reserved ticket cannot be edited, even by its owner.
    let edit = shop.put(
        &format!("/api/tickets/{ticket_id}"),
        Some(&seller),
        json!({"title": "Show", "price": 30}),
    );
    assert_eq!(edit.status, 400, "{}", edit.text);
    assert_eq!(edit.error_messages(), vec!["Cannot edit a reserved ticket"]);

    // Expiry cancels the order within 2 seconds after expiresAt...
    let cancelled_at = wait_until(
        "the order to expire",
        Duration::from_secs(window + 15),
        || {
            let order = get_order(&shop, winner_cookie, &order_id);
            (order["status"] == "cancelled").then(chrono_like::now)
        },
    );
    assert!(
        cancelled_at >= expires_at - 50,
        "cancelled {}ms before expiresAt",
        expires_at - cancelled_at
    );
    assert!(
        cancelled_at <= expires_at + 2000 + 100,
        "cancelled {}ms after expiresAt",
        cancelled_at - expires_at
    );
    let cancelled = get_order(&shop, winner_cookie, &order_id);
    assert_eq!(cancelled["version"], 1);

    // ...and relists the ticket, which can be edited and ordered again.
    wait_until("the ticket to be relisted", EVENTUAL, || {
        listed(&shop, &ticket_id).then_some(())
    });
    let released = get_ticket(&shop, &ticket_id);
    assert!(
        released.get("orderId").is_none_or(Value::is_null),
        "{released}"
    );
    assert_eq!(released["version"], 2);
    let again = shop.order_when_known(&bob, &ticket_id);
    assert_eq!(again.status, 201, "{}", again.text);

    // Each buyer sees only their own orders, oldest first.
    let mine = shop.get("/api/orders", Some(&bob));
    assert_eq!(mine.status, 200);
    let mine: Vec<&Value> = mine.json.as_array().unwrap().iter().collect();
    assert!(mine.iter().all(|o| o["ticket"]["id"] == ticket_id));
    assert!(!mine.is_empty());
    let other = shop.get(
        &format!("/api/orders/{}", again.json["id"].as_str().unwrap()),
        Some(&alice),
    );
    assert_eq!(other.status, 401, "{}", other.text);
}

fn payment_completes_the_order_and_the_ticket_stays_sold(backend: Backend) {
    let stripe = FakeStripe::start();
    let shop = shop_with(backend, Some(&stripe), 120);
    let seller = user(&shop);
    let ticket = sell(&shop, &seller, json!(42.5));
    let ticket_id = ticket["id"].as_str().unwrap().to_string();
    let buyer = user(&shop);
    let placed = shop.order_when_known(&buyer, &ticket_id);
    assert_eq!(placed.status, 201, "{}", placed.text);
    let order_id = placed.json["id"].as_str().unwrap().to_string();

    // Validation and ownership come first.
    let anonymous = shop.post(
        "/api/payments",
        None,
        json!({"token": "tok_visa", "orderId": order_id}),
    );
    assert_eq!(anonymous.status, 401);
    shop.post("/api/payments", Some(&buyer), json!({"orderId": order_id}))
        .assert_error(400, Some("token"));
    shop.post("/api/payments", Some(&buyer), json!({"token": "tok_visa"}))
        .assert_error(400, Some("orderId"));
    let stranger = user(&shop);
    let theirs = pay(&shop, &stranger, &order_id, "tok_visa");
    assert_eq!(theirs.status, 401, "{}", theirs.text);
    let unknown = shop.post(
        "/api/payments",
        Some(&buyer),
        json!({"token": "tok_visa", "orderId": "0123456789abcdef01234567"}),
    );
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    assert_eq!(stripe.charges().len(), 0);

    let paid = pay(&shop, &buyer, &order_id, "tok_visa");
    assert_eq!(paid.status, 201, "{}", paid.text);
    assert!(
        paid.json["id"].as_str().is_some_and(|id| !id.is_empty()),
        "{}",
        paid.text
    );
    let charges = stripe.charges();
    assert_eq!(charges.len(), 1, "{charges:?}");
    assert_eq!(charges[0]["amount"], 4250);
    assert_eq!(charges[0]["currency"], "usd");

    let complete = wait_until("the order to complete", EVENTUAL, || {
        let order = get_order(&shop, &buyer, &order_id);
        (order["status"] == "complete").then_some(order)
    });
    assert_eq!(complete["version"], 1, "payment bumps the version (bug 4)");

    // Bug 2: a paid order cannot be cancelled. Bug 3: nor paid twice.
    let cancel = shop.request(
        "DELETE",
        &format!("/api/orders/{order_id}"),
        Some(&buyer),
        Body::None,
    );
    assert_eq!(cancel.status, 400, "{}", cancel.text);
    let twice = pay(&shop, &buyer, &order_id, "tok_visa");
    assert_eq!(twice.status, 400, "{}", twice.text);
    let twice_other_card = pay(&shop, &buyer, &order_id, "tok_mastercard");
    assert_eq!(twice_other_card.status, 400, "{}", twice_other_card.text);
    assert_eq!(stripe.charges().len(), 1, "charged twice");

    // The ticket stays sold, even past the reservation window's expiry machinery.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!listed(&shop, &ticket_id));
    assert_eq!(get_ticket(&shop, &ticket_id)["orderId"], order_id.as_str());
    assert_eq!(get_order(&shop, &buyer, &order_id)["status"], "complete");
    let another = shop.order_when_known(&stranger, &ticket_id);
    assert_eq!(another.status, 400, "{}", another.text);
}

fn a_declined_card_is_a_clear_400_and_the_order_stays_payable(backend: Backend) {
    let stripe = FakeStripe::start();
    let shop = shop_with(backend, Some(&stripe), 120);
    let seller = user(&shop);
    let ticket_id = sell_id(&shop, &seller, json!(10));
    let buyer = user(&shop);
    let order_id = shop.order_when_known(&buyer, &ticket_id).json["id"]
        .as_str()
        .unwrap()
        .to_string();

    let declined = pay(&shop, &buyer, &order_id, "tok_chargeDeclined");
    assert_eq!(declined.status, 400, "{}", declined.text);
    assert_eq!(declined.error_messages(), vec!["Your card was declined."]);
    assert!(stripe.charges().is_empty());
    assert_eq!(get_order(&shop, &buyer, &order_id)["status"], "created");

    let paid = pay(&shop, &buyer, &order_id, "tok_visa");
    assert_eq!(paid.status, 201, "{}", paid.text);
    assert_eq!(stripe.charges().len(), 1);
    wait_until("the order to complete", EVENTUAL, || {
        (get_order(&shop, &buyer, &order_id)["status"] == "complete").then_some(())
    });
}

fn cancelled_and_expired_orders_cannot_be_paid(backend: Backend) {
    let stripe = FakeStripe::start();
    let shop = shop_with(backend, Some(&stripe), 3);
    let seller = user(&shop);
    let buyer = user(&shop);

    let first = sell_id(&shop, &seller, json!(10));
    let cancelled = shop.order_when_known(&buyer, &first).json["id"]
        .as_str()
        .unwrap()
        .to_string();
    let resp = shop.request(
        "DELETE",
        &format!("/api/orders/{cancelled}"),
        Some(&buyer),
        Body::None,
    );
    assert_eq!(resp.status, 204, "{}", resp.text);
    assert_eq!(get_order(&shop, &buyer, &cancelled)["status"], "cancelled");
    // Once payments has heard of the cancellation, paying is refused. (A payment racing the
    // cancellation's event is refunded: see the refund test.)
    let mut db = shop.db();
    wait_until("payments to learn of the cancellation", EVENTUAL, || {
        let status = db.text(
            "SELECT status FROM payments_orders WHERE id = $1",
            &[&cancelled],
        );
        (status.as_deref() == Some("cancelled")).then_some(())
    });
    let refused = shop.post(
        "/api/payments",
        Some(&buyer),
        json!({"token": "tok_visa", "orderId": cancelled}),
    );
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(
        refused.error_messages(),
        vec!["Cannot pay for a cancelled order"]
    );

    let second = sell_id(&shop, &seller, json!(10));
    let expiring = shop.order_when_known(&buyer, &second).json;
    let expires_at = parse_time(expiring["expiresAt"].as_str().unwrap());
    let expiring = expiring["id"].as_str().unwrap().to_string();
    let wait = (expires_at - chrono_like::now()).max(0) as u64;
    std::thread::sleep(Duration::from_millis(wait + 100));
    let late = pay(&shop, &buyer, &expiring, "tok_visa");
    assert_eq!(late.status, 400, "{}", late.text);
    assert!(
        stripe.charges().is_empty(),
        "charged a cancelled or expired order"
    );
}

fn two_hundred_orders_for_twenty_tickets_from_fifty_users_make_exactly_twenty(backend: Backend) {
    let shop = shop_with(backend, None, 600);
    let seller = user(&shop);
    let tickets: Vec<String> = sell_many(&shop, &seller, 20);
    let buyers: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..50).map(|_| s.spawn(|| user(&shop))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Wait until the orders service knows every ticket (its replica table), so that the
    // race is about reservation, not about event delivery.
    let mut db = shop.db();
    wait_until("the orders replica of all 20 tickets", EVENTUAL, || {
        let known = tickets
            .iter()
            .filter(|id| {
                db.int("SELECT COUNT(*) FROM orders_tickets WHERE id = $1", &[id]) == Some(1)
            })
            .count();
        (known == tickets.len()).then_some(())
    });

    let attempts = 200;
    let barrier = std::sync::Barrier::new(attempts);
    let statuses: Vec<(usize, u16, Value)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..attempts)
            .map(|n| {
                let (shop, buyers, tickets, barrier) = (&shop, &buyers, &tickets, &barrier);
                s.spawn(move || {
                    let ticket = &tickets[n % tickets.len()];
                    let buyer = &buyers[n % buyers.len()];
                    barrier.wait();
                    let resp = shop.post("/api/orders", Some(buyer), json!({"ticketId": ticket}));
                    (n % tickets.len(), resp.status, resp.json)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let created = statuses.iter().filter(|(_, s, _)| *s == 201).count();
    let refused = statuses.iter().filter(|(_, s, _)| *s == 400).count();
    let others: Vec<&u16> = statuses
        .iter()
        .map(|(_, s, _)| s)
        .filter(|s| **s != 201 && **s != 400)
        .collect();
    assert!(others.is_empty(), "unexpected statuses: {others:?}");
    assert_eq!(created, 20, "exactly one order per ticket");
    assert_eq!(created + refused, attempts);

    // Across every buyer's orders, each ticket has exactly one live order.
    let mut per_ticket: BTreeMap<String, usize> = BTreeMap::new();
    for buyer in &buyers {
        let resp = shop.get("/api/orders", Some(buyer));
        for o in resp.json.as_array().unwrap() {
            if o["status"] == "created" {
                *per_ticket
                    .entry(o["ticket"]["id"].as_str().unwrap().to_string())
                    .or_default() += 1;
            }
        }
    }
    let expected: BTreeSet<String> = tickets.iter().cloned().collect();
    assert_eq!(
        per_ticket.keys().cloned().collect::<BTreeSet<_>>(),
        expected
    );
    assert!(per_ticket.values().all(|n| *n == 1), "{per_ticket:?}");
    // And every ticket leaves the listing.
    wait_until("all tickets reserved", EVENTUAL, || {
        tickets.iter().all(|t| !listed(&shop, t)).then_some(())
    });
}

/// Events delivered twice and out of order through the broker's ingress leave every
/// replica right: orders' ticket replica, tickets' reservations, payments' order replica.
fn duplicated_and_reordered_events_leave_every_replica_correct(backend: Backend) {
    let stripe = FakeStripe::start();
    let shop = shop_with(backend, Some(&stripe), 600);
    let broker = shop.runtime().broker.clone().expect("up runs a broker");
    let seller_id = "5e11e5000000000000000001";

    // A ticket known only through events: v2 first, then v1 twice, then v0 twice.
    let ticket_id = "7ee7000000000000000000aa";
    let version = |v: u64, title: &str, price: f64| json!({"id": ticket_id, "version": v, "title": title, "price": price, "userId": seller_id});
    for (event_id, event_type, data) in [
        ("inj-t2", "ticket:updated", version(2, "Final title", 30.0)),
        ("inj-t1", "ticket:updated", version(1, "Middle title", 20.0)),
        ("inj-t1", "ticket:updated", version(1, "Middle title", 20.0)),
        ("inj-t0", "ticket:created", version(0, "First title", 10.0)),
        ("inj-t0", "ticket:created", version(0, "First title", 10.0)),
    ] {
        let resp = publish(&broker, event_type, event_id, &data);
        assert!(
            resp.status / 100 == 2,
            "{event_id}: {} {}",
            resp.status,
            resp.text
        );
    }
    // The same events again under new ids (a publisher that re-sent them): the version rule,
    // not only the event id, must keep them from applying twice.
    for (event_id, event_type, data) in [
        (
            "inj-t1-again",
            "ticket:updated",
            version(1, "Middle title", 20.0),
        ),
        (
            "inj-t0-again",
            "ticket:created",
            version(0, "First title", 10.0),
        ),
    ] {
        publish(&broker, event_type, event_id, &data);
    }
    let buyer_id = "b0b000000000000000000001";
    let buyer = forge_session(TEST_JWT_KEY, buyer_id, "bob@example.test", 3600);
    wait_until("the orders replica to reach v2", EVENTUAL, || {
        (replica_version(&shop, "orders_tickets", ticket_id) == Some(2)).then_some(())
    });
    let placed = shop.post("/api/orders", Some(&buyer), json!({"ticketId": ticket_id}));
    assert_eq!(placed.status, 201, "{}", placed.text);
    assert_eq!(placed.json["ticket"]["version"], 2, "{}", placed.text);
    assert_eq!(placed.json["ticket"]["title"], "Final title");
    assert_eq!(placed.json["ticket"]["price"], json!(30));

    // A real ticket, reserved and released by injected order events out of order and twice:
    // the cancellation (v1) arrives before the creation (v0).
    let seller = user(&shop);
    let real = sell(&shop, &seller, json!(15));
    let real_id = real["id"].as_str().unwrap().to_string();
    let ghost_order = "0dd000000000000000000001";
    let created = json!({
        "id": ghost_order, "version": 0, "status": "created", "userId": buyer_id,
        "expiresAt": "2099-01-01T00:00:00.000Z", "ticket": {"id": real_id, "price": 15}
    });
    let cancelled = json!({"id": ghost_order, "version": 1, "ticket": {"id": real_id}});
    for (event_id, event_type, data) in [
        ("inj-o1", "order:cancelled", &cancelled),
        ("inj-o0", "order:created", &created),
        ("inj-o1", "order:cancelled", &cancelled),
        ("inj-o0", "order:created", &created),
    ] {
        let resp = publish(&broker, event_type, event_id, data);
        assert!(resp.status / 100 == 2, "{event_id}: {}", resp.text);
    }
    // Eventually: released, reserved once and released once (version 2), listed.
    let settled = wait_until("tickets to settle", EVENTUAL, || {
        let t = get_ticket(&shop, &real_id);
        (t["version"] == 2 && t.get("orderId").is_none_or(Value::is_null)).then_some(t)
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        get_ticket(&shop, &real_id),
        settled,
        "a late duplicate changed the ticket"
    );
    assert!(listed(&shop, &real_id));

    // Payments' replica of the ghost order is cancelled: paying it is refused.
    let refused = wait_until("payments to know the order", EVENTUAL, || {
        let resp = shop.post(
            "/api/payments",
            Some(&buyer),
            json!({"token": "tok_visa", "orderId": ghost_order}),
        );
        (resp.status != 404).then_some(resp)
    });
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(stripe.charges().is_empty());
}

/// A change committed while its event cannot be delivered (the broker unreachable), then the
/// runtime SIGKILLed: after a restart the event is delivered, once.
fn an_event_committed_before_a_sigkill_is_delivered_after_restart(backend: Backend) {
    // First life: the services publish to a port where nothing listens, so every outbox row
    // stays unsent.
    let dead_broker = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        format!("http://127.0.0.1:{port}")
    };
    let shop = Shop::start_with(ShopOptions {
        variables: vec![("broker_url".into(), dead_broker)],
        backend,
        ..Default::default()
    });
    let seller = user(&shop);
    let ids: Vec<String> = sell_many(&shop, &seller, 5);
    // An update too, so the replica must end at version 1 for this one.
    let resp = shop.put(
        &format!("/api/tickets/{}", ids[0]),
        Some(&seller),
        json!({"title": "Moved", "price": 11}),
    );
    assert_eq!(resp.status, 200, "{}", resp.text);
    let unsent = shop.db().int(
        "SELECT COUNT(*) FROM tickets_outbox WHERE sent_at IS NULL",
        &[],
    );
    assert_eq!(unsent, Some(6), "the events wait in the outbox");

    let kept = shop.kill_keeping_state();
    let shop = kept.restart();
    let buyer = user(&shop);
    let started = Instant::now();
    for (n, id) in ids.iter().enumerate() {
        let version = if n == 0 { 1 } else { 0 };
        wait_until("the replica after restart", EVENTUAL, || {
            (replica_version(&shop, "orders_tickets", id) == Some(version)).then_some(())
        });
        let resp = shop.post("/api/orders", Some(&buyer), json!({"ticketId": id}));
        assert_eq!(resp.status, 201, "{}", resp.text);
        assert_eq!(resp.json["ticket"]["version"], version, "{}", resp.text);
        if n == 0 {
            assert_eq!(resp.json["ticket"]["title"], "Moved");
        }
    }
    eprintln!("delivered after restart within {:?}", started.elapsed());
    wait_until("the outbox to drain", EVENTUAL, || {
        let unsent = shop.db().int(
            "SELECT COUNT(*) FROM tickets_outbox WHERE sent_at IS NULL",
            &[],
        );
        (unsent == Some(0)).then_some(())
    });
    // Nothing duplicated: the orders replica holds each ticket once, at its version.
    let mut db = shop.db();
    for (n, id) in ids.iter().enumerate() {
        let rows = db.int("SELECT COUNT(*) FROM orders_tickets WHERE id = $1", &[id]);
        let version = db.int("SELECT version FROM orders_tickets WHERE id = $1", &[id]);
        assert_eq!(rows, Some(1));
        // Reserved by the order above: the reservation's ticket:updated bumps it once more.
        assert!(version >= Some(if n == 0 { 1 } else { 0 }));
    }
}

/// An expiry scheduled before a restart of the runtime still fires, on time, after it.
fn an_expiry_survives_a_restart_of_the_runtime(backend: Backend) {
    let window = 5;
    let shop = shop_with(backend, None, window);
    let seller = user(&shop);
    let ticket_id = sell_id(&shop, &seller, json!(12));
    let buyer = user(&shop);
    let placed = shop.order_when_known(&buyer, &ticket_id);
    assert_eq!(placed.status, 201, "{}", placed.text);
    let order_id = placed.json["id"].as_str().unwrap().to_string();
    let expires_at = parse_time(placed.json["expiresAt"].as_str().unwrap());
    // Wait until the expiration service has the job, then kill the runtime.
    let mut db = shop.db();
    wait_until("the expiry to be scheduled", EVENTUAL, || {
        db.int(
            "SELECT COUNT(*) FROM expiration_jobs WHERE order_id = $1",
            &[&order_id],
        )
        .filter(|n| *n == 1)
    });
    drop(db);
    let kept = shop.kill_keeping_state();
    let shop = kept.restart_with(vec![(
        "reservation_window_seconds".into(),
        window.to_string(),
    )]);
    assert!(
        chrono_like::now() < expires_at,
        "the restart took longer than the reservation window"
    );
    let cancelled_at = wait_until(
        "the order to expire",
        Duration::from_secs(window + 15),
        || (get_order(&shop, &buyer, &order_id)["status"] == "cancelled").then(chrono_like::now),
    );
    assert!(
        cancelled_at <= expires_at + 2000 + 100,
        "cancelled {}ms after expiresAt",
        cancelled_at - expires_at
    );
    wait_until("the ticket to be relisted", EVENTUAL, || {
        listed(&shop, &ticket_id).then_some(())
    });
}

/// Compensation: a charge that lands on an order the orders service has cancelled meanwhile
/// is refunded through Stripe when payments learns of the cancellation. The crossing is
/// staged with injected events: payments hears of the order, the buyer pays, then the
/// cancellation arrives.
fn a_charge_for_an_order_cancelled_meanwhile_is_refunded(backend: Backend) {
    let stripe = FakeStripe::start();
    let shop = shop_with(backend, Some(&stripe), 600);
    let broker = shop.runtime().broker.clone().expect("up runs a broker");
    let buyer_id = "b0b000000000000000000002";
    let buyer = forge_session(TEST_JWT_KEY, buyer_id, "carol@example.test", 3600);
    let order_id = "0dd000000000000000000002";
    let created = json!({
        "id": order_id, "version": 0, "status": "created", "userId": buyer_id,
        "expiresAt": "2099-01-01T00:00:00.000Z",
        "ticket": {"id": "7ee7000000000000000000bb", "price": 33}
    });
    publish(&broker, "order:created", "inj-c0", &created);
    let paid = pay(&shop, &buyer, order_id, "tok_visa");
    assert_eq!(paid.status, 201, "{}", paid.text);
    assert_eq!(stripe.charges().len(), 1);
    assert!(stripe.refunds().is_empty());

    let cancelled =
        json!({"id": order_id, "version": 1, "ticket": {"id": "7ee7000000000000000000bb"}});
    publish(&broker, "order:cancelled", "inj-c1", &cancelled);
    let refunds = wait_until("the refund", EVENTUAL, || {
        let refunds = stripe.refunds();
        (!refunds.is_empty()).then_some(refunds)
    });
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["charge"], stripe.charges()[0]["id"]);
    assert_eq!(refunds[0]["amount"], 3300);
    // Duplicates of the cancellation, and the ticks that follow, refund nothing more.
    publish(&broker, "order:cancelled", "inj-c1-again", &cancelled);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(stripe.refunds().len(), 1);
    assert_eq!(stripe.charges()[0]["refunded"], true);
}

/// Places an order for a new ticket priced `price` and waits until payments knows it.
fn payable_order(shop: &Shop, seller: &str, buyer: &str, price: Value) -> String {
    let ticket = sell_id(shop, seller, price);
    let id = shop.order_when_known(buyer, &ticket).json["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut db = shop.db();
    wait_until("payments to hear of the order", EVENTUAL, || {
        db.int("SELECT COUNT(*) FROM payments_orders WHERE id = $1", &[&id])
            .filter(|n| *n == 1)
    });
    id
}

/// The Stripe ids the shop recorded as payments of `order_id` (one at most: the column is
/// UNIQUE).
fn recorded(shop: &Shop, order_id: &str) -> Vec<String> {
    shop.db()
        .text(
            "SELECT stripe_id FROM payments_payments WHERE order_id = $1",
            &[order_id],
        )
        .into_iter()
        .collect()
}

/// Successful charges at Stripe for `order_id`.
fn charged(stripe: &FakeStripe, order_id: &str) -> usize {
    stripe
        .charges()
        .iter()
        .filter(|c| c["metadata"]["boxoffice_order"] == order_id)
        .count()
}

fn completes(shop: &Shop, buyer: &str, order_id: &str) {
    wait_until("the order to complete", EVENTUAL, || {
        (get_order(shop, buyer, order_id)["status"] == "complete").then_some(())
    });
}

/// Payments as Stripe really behaves (issue 32), on one shop with the fake Stripe's
/// webhook deliveries pointed at it: lost answers, a saved 500 settled by the webhook, 3-D
/// Secure, duplicated and forged deliveries, an orphan payment. Each scenario is its own
/// order; each ends with exactly one charge for it.
#[test]
fn payments_survive_what_stripe_does_lost_answers_saved_500s_3ds_and_webhooks() {
    let stripe = FakeStripe::start();
    let shop = shop_with(Backend::Embedded, Some(&stripe), 600);
    stripe.send_webhooks_to(&shop.url("/api/payments/webhook"));
    let seller = user(&shop);
    let buyer = user(&shop);

    // 1. The charge succeeds but no answer comes back, on every try and when the shop asks
    //    how the intent stands; the buyer sends the form again with a new card token. Stripe
    //    refuses the old key with other parameters (idempotency_error); the shop asks before
    //    it moves on, finds the payment made, and records it: one charge.
    stripe.hold_webhooks(true);
    let lost = payable_order(&shop, &seller, &buyer, json!(21));
    for _ in 0..3 {
        stripe.fail_next(Endpoint::ConfirmIntent, Fault::LoseAnswer);
        stripe.fail_next(
            Endpoint::RetrieveIntent,
            Fault::ServerError { executed: false },
        );
    }
    let first = pay(&shop, &buyer, &lost, "tok_visa");
    assert_eq!(first.status, 503, "{}", first.text);
    assert_eq!(
        charged(&stripe, &lost),
        1,
        "Stripe charged, the shop does not know: {} {:?}",
        first.text,
        stripe.charges()
    );
    assert!(recorded(&shop, &lost).is_empty());
    let again = pay(&shop, &buyer, &lost, "tok_mastercard");
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(charged(&stripe, &lost), 1, "charged twice");
    assert_eq!(recorded(&shop, &lost).len(), 1);
    completes(&shop, &buyer, &lost);

    // 2. Stripe answers 500 and saves it under the key, though the payment went through;
    //    every retry gets the same 500 and the intent cannot be read either. The buyer sees
    //    a 503; the webhook then records the payment and the order completes.
    let saved = payable_order(&shop, &seller, &buyer, json!(22));
    stripe.fail_next(
        Endpoint::ConfirmIntent,
        Fault::ServerError { executed: true },
    );
    for _ in 0..3 {
        stripe.fail_next(
            Endpoint::RetrieveIntent,
            Fault::ServerError { executed: false },
        );
    }
    let unknown = pay(&shop, &buyer, &saved, "pm_card_visa");
    assert_eq!(unknown.status, 503, "{}", unknown.text);
    assert!(recorded(&shop, &saved).is_empty());
    stripe.hold_webhooks(false);
    wait_until("the webhook to record the payment", EVENTUAL, || {
        (recorded(&shop, &saved).len() == 1).then_some(())
    });
    completes(&shop, &buyer, &saved);
    assert_eq!(charged(&stripe, &saved), 1);

    // 3. A card that needs 3-D Secure: 202 with the client secret, the buyer authenticates
    //    (in Stripe.js's frame; here through the fake), the payment is recorded whether the
    //    second send or the webhook comes first. A 429 on the way is waited out.
    let secure = payable_order(&shop, &seller, &buyer, json!(23));
    stripe.fail_next(
        Endpoint::CreateIntent,
        Fault::RateLimited { retry_after_s: 1 },
    );
    let challenged = pay(&shop, &buyer, &secure, "pm_card_authenticationRequired");
    assert_eq!(challenged.status, 202, "{}", challenged.text);
    assert_eq!(challenged.json["status"], "requires_action");
    let secret = challenged.json["clientSecret"]
        .as_str()
        .unwrap()
        .to_string();
    let intent = secret.split("_secret_").next().unwrap().to_string();
    assert!(recorded(&shop, &secure).is_empty());
    assert_eq!(charged(&stripe, &secure), 0);
    stripe.authenticate(&intent, true);
    let after = pay(&shop, &buyer, &secure, "pm_card_authenticationRequired");
    assert!(
        after.status == 201
            || (after.status == 400
                && after.error_messages() == vec!["Order has already been paid"]),
        "{}",
        after.text
    );
    completes(&shop, &buyer, &secure);
    assert_eq!(recorded(&shop, &secure), [intent.as_str()]);
    assert_eq!(charged(&stripe, &secure), 1);

    // 4. The same event delivered twice, and forged or stale deliveries: applied once,
    //    refused.
    let told = stripe
        .events_of_type("payment_intent.succeeded")
        .into_iter()
        .find(|e| e["data"]["object"]["id"] == intent.as_str())
        .expect("Stripe told of the 3-D Secure payment");
    assert_eq!(stripe.deliver(&told), 200);
    assert_eq!(stripe.deliver(&told), 200);
    let now_s = chrono_like::now() / 1000;
    assert_eq!(stripe.deliver_with(&told, "whsec_forged", now_s), 400);
    assert_eq!(stripe.deliver_with(&told, WEBHOOK_SECRET, now_s - 600), 400);
    assert_eq!(recorded(&shop, &secure).len(), 1);
    assert_eq!(get_order(&shop, &buyer, &secure)["version"], 1);

    // 5. An orphan: a second intent for an order paid already (made outside the shop's
    //    flow) succeeds at Stripe; the webhook finds it and the shop refunds it.
    let body = format!(
        "amount=2100&currency=usd&metadata[boxoffice_order]={lost}&metadata[boxoffice_purchase]=false\
         &confirm=true&payment_method=pm_card_visa"
    );
    let auth = format!("Bearer {SECRET_KEY}");
    let made = support::send(
        "POST",
        &format!("{}/v1/payment_intents", stripe.base_url()),
        &[
            ("authorization", auth.as_str()),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        Some(body.into_bytes()),
    );
    assert_eq!(made.status, 200, "{}", made.text);
    let orphan = made.json["id"].as_str().unwrap().to_string();
    let refund = wait_until("the orphan to be refunded", EVENTUAL, || {
        stripe
            .refunds()
            .into_iter()
            .find(|r| r["payment_intent"] == orphan.as_str())
    });
    assert_eq!(refund["amount"], 2100);
    assert_eq!(
        recorded(&shop, &lost).len(),
        1,
        "the order keeps its own payment"
    );
    assert_eq!(
        shop.db().int(
            "SELECT COUNT(*) FROM payments_orphans WHERE intent_id = $1",
            &[&orphan]
        ),
        Some(1)
    );
}

/// Fair sharing (issue 33): one buyer holds at most `max_live_reservations` live orders
/// (a scalper cannot hold the shop), and an order takes at most five refused payment
/// attempts (card testing), the sixth refused before Stripe is asked.
#[test]
fn a_buyer_cannot_hold_the_shop_or_test_cards_on_it() {
    let stripe = FakeStripe::start();
    let shop = Shop::start_with(ShopOptions {
        variables: [("max_live_reservations".to_owned(), "3".to_owned())]
            .into_iter()
            .chain(stripe.variables())
            .collect(),
        ..Default::default()
    });
    let seller = user(&shop);
    let scalper = user(&shop);
    let held: Vec<String> = (0..3)
        .map(|i| payable_order(&shop, &seller, &scalper, json!(10 + i)))
        .collect();
    let fourth = sell_id(&shop, &seller, json!(13));
    let refused = shop.order_when_known(&scalper, &fourth);
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(
        refused.error_messages(),
        vec!["You already hold 3 reservations; pay for or cancel one first"]
    );
    let other = user(&shop);
    assert_eq!(shop.order_when_known(&other, &fourth).status, 201);
    let cancel = shop.request(
        "DELETE",
        &format!("/api/orders/{}", held[0]),
        Some(&scalper),
        Body::None,
    );
    assert_eq!(cancel.status, 204, "{}", cancel.text);
    let fifth = sell_id(&shop, &seller, json!(14));
    assert_eq!(shop.order_when_known(&scalper, &fifth).status, 201);

    let tested = &held[1];
    for _ in 0..5 {
        let declined = pay(&shop, &scalper, tested, "tok_chargeDeclined");
        assert_eq!(declined.status, 400, "{}", declined.text);
    }
    let asked = stripe.requests();
    let sixth = pay(&shop, &scalper, tested, "tok_visa");
    assert_eq!(sixth.status, 429, "{}", sixth.text);
    assert_eq!(
        sixth.error_messages(),
        vec!["Too many refused payment attempts for this order; cancel it and order again"]
    );
    assert_eq!(stripe.requests(), asked, "Stripe was asked");
    assert!(stripe.charges().is_empty());
    // Another order of the buyer's still pays.
    assert_eq!(pay(&shop, &scalper, &held[2], "tok_visa").status, 201);
}

// Every test of the flow above, on both backends.
boxoffice_testkit::on_both_backends!(
    two_buyers_race_one_wins_the_ticket_leaves_the_listing_and_expiry_relists_it,
    payment_completes_the_order_and_the_ticket_stays_sold,
    a_declined_card_is_a_clear_400_and_the_order_stays_payable,
    cancelled_and_expired_orders_cannot_be_paid,
    two_hundred_orders_for_twenty_tickets_from_fifty_users_make_exactly_twenty,
    duplicated_and_reordered_events_leave_every_replica_correct,
    an_event_committed_before_a_sigkill_is_delivered_after_restart,
    an_expiry_survives_a_restart_of_the_runtime,
    a_charge_for_an_order_cancelled_meanwhile_is_refunded,
);

// The same flows on a real wasmCloud host: the components built for Spin, with the adapter
// (issue 9). Each starts a host of its own.
boxoffice_testkit::on_wasmcloud!(
    two_buyers_race_one_wins_the_ticket_leaves_the_listing_and_expiry_relists_it,
    payment_completes_the_order_and_the_ticket_stays_sold,
    a_declined_card_is_a_clear_400_and_the_order_stays_payable,
    cancelled_and_expired_orders_cannot_be_paid,
    two_hundred_orders_for_twenty_tickets_from_fifty_users_make_exactly_twenty,
);
