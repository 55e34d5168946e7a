//! End to end: the shipping of docs/shipping.md on the real runtime, with the embedded
//! backends and on Redis + Postgres + NATS: the cities and their quotes, and a paid
//! purchase (`purchase:completed`, published into the broker here as the cart would, more
//! than once) shipped once, shown to its buyer only and announced once.

use boxoffice_testkit as support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{publish, unique_email, wait_until, Backend, Shop, ShopOptions, TestDb, EVENTUAL};

fn shop(backend: Backend) -> Shop {
    Shop::start_with(ShopOptions {
        backend,
        ..Default::default()
    })
}

fn cities_are_listed_and_quoted(backend: Backend) {
    let shop = shop(backend);
    let cities = shop.get("/api/shipping/cities", None);
    assert_eq!(cities.status, 200, "{}", cities.text);
    let cities = cities.json.as_array().unwrap().clone();
    assert!(cities.len() >= 20, "{cities:?}");
    let names: Vec<&str> = cities.iter().map(|c| c["name"].as_str().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "sorted by name");
    assert!(cities.contains(
        &json!({"code": "nyc", "name": "New York", "country": "US", "distanceKm": 1270})
    ));

    for (path, cost) in [
        ("/api/shipping/quotes/nyc", json!(11.49)),
        ("/api/shipping/quotes/NYC", json!(11.49)),
        ("/api/shipping/quotes/chi", json!(4.99)),
        ("/api/shipping/quotes/syd", json!(49.99)),
    ] {
        let quote = shop.get(path, None);
        assert_eq!(quote.status, 200, "{path}: {}", quote.text);
        assert_eq!(quote.json["cost"], cost, "{path}");
    }
    assert_eq!(
        shop.get("/api/shipping/quotes/lon", None).json,
        json!({"city": "lon", "name": "London", "country": "GB", "distanceKm": 6359,
               "cost": 36.99})
    );
    let unknown = shop.get("/api/shipping/quotes/atlantis", None);
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.error_messages(), ["Unknown city"]);
}

fn a_paid_purchase_ships_once_to_its_buyer_only(backend: Backend) {
    let shop = shop(backend);
    let broker = shop.runtime().broker.clone().expect("up runs a broker");
    let (alice, alice_id) = shop.signup(&unique_email("alice"), "pass");
    let (bob, _) = shop.signup(&unique_email("bob"), "pass");
    let purchase = "5b1b00000000000000000001";
    let data = json!({"id": purchase, "version": 2, "userId": alice_id, "city": "lax",
                      "lines": [{"sku": "MUG-1", "quantity": 2}]});
    // Delivered twice under one id, then again under another (a publisher that re-sent it).
    for event_id in ["ship-p1", "ship-p1", "ship-p1-again"] {
        let resp = publish(&broker, "purchase:completed", event_id, &data);
        assert!(resp.status / 100 == 2, "{event_id}: {}", resp.text);
    }

    let path = format!("/api/shipping/shipments/{purchase}");
    let shipment = wait_until("the shipment", EVENTUAL, || {
        let resp = shop.get(&path, Some(&alice));
        (resp.status == 200).then_some(resp.json)
    });
    assert_eq!(shipment["purchaseId"], purchase);
    assert_eq!(shipment["city"], "lax");
    assert_eq!(shipment["status"], "dispatched");
    assert!(shipment["dispatchedAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(shop.get(&path, Some(&bob)).status, 401);
    assert_eq!(shop.get(&path, None).status, 401);
    let unknown = format!("/api/shipping/shipments/{}", "5b1b".repeat(6));
    assert_eq!(shop.get(&unknown, Some(&alice)).status, 404);
    assert_eq!(
        shop.get("/api/shipping/shipments/nope", Some(&alice))
            .status,
        404
    );

    // Both event ids applied, one shipment, one event, and that one relayed to the broker.
    let mut db = shop.db();
    let (processed, outbox, shipments) = (
        "shipping_processed".to_owned(),
        "shipping_outbox".to_owned(),
        "shipping_shipments".to_owned(),
    );
    wait_until("both deliveries to be processed", EVENTUAL, || {
        let processed = db.int(
            &format!("SELECT COUNT(*) FROM {processed} WHERE event_id IN ($1, $2)"),
            &["ship-p1", "ship-p1-again"],
        );
        (processed == Some(2)).then_some(())
    });
    let id = shipment["id"].as_str().unwrap();
    let announced = |db: &mut TestDb, sent_only: bool| {
        let sent = if sent_only {
            " AND sent_at IS NOT NULL"
        } else {
            ""
        };
        db.int(
            &format!(
                "SELECT COUNT(*) FROM {outbox} \
                 WHERE event_type = 'shipment:dispatched' AND data LIKE $1{sent}"
            ),
            &[&format!("%{purchase}%")],
        )
    };
    assert_eq!(announced(&mut db, false), Some(1));
    wait_until("shipment:dispatched to reach the broker", EVENTUAL, || {
        (announced(&mut db, true) == Some(1)).then_some(())
    });
    let data = db
        .text(
            &format!("SELECT data FROM {outbox} WHERE entity_id = $1"),
            &[id],
        )
        .expect("the outbox row of the shipment");
    let data: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(
        data,
        json!({"id": id, "purchaseId": purchase, "userId": alice_id, "city": "lax",
               "dispatchedAt": shipment["dispatchedAt"]})
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        db.int(&format!("SELECT COUNT(*) FROM {shipments}"), &[]),
        Some(1)
    );
}

boxoffice_testkit::on_both_backends!(
    cities_are_listed_and_quoted,
    a_paid_purchase_ships_once_to_its_buyer_only,
);
