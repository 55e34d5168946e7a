//! End to end: the tickets API of docs/api.md (tickets component) on the real runtime,
//! including the outbox rows written with each change.

use boxoffice_testkit as support;

use serde_json::{json, Value};
use support::{unique_email, Body, Shop};

fn seller(shop: &Shop) -> String {
    shop.signup(&unique_email("seller"), "pass").0
}

fn create(shop: &Shop, cookie: &str, title: &str, price: Value) -> Value {
    let resp = shop.post(
        "/api/tickets",
        Some(cookie),
        json!({"title": title, "price": price}),
    );
    assert_eq!(resp.status, 201, "{}", resp.text);
    resp.json
}

#[test]
fn creating_needs_a_session_before_anything_else() {
    let shop = Shop::shared();
    for body in [
        json!({"title": "concert", "price": 10}),
        json!({}),
        json!("x"),
    ] {
        let resp = shop.post("/api/tickets", None, body);
        assert_eq!(resp.status, 401, "{}", resp.text);
        resp.error_messages();
    }
    let resp = shop.post(
        "/api/tickets",
        Some("session=forged"),
        json!({"title": "concert", "price": 10}),
    );
    assert_eq!(resp.status, 401, "{}", resp.text);
}

#[test]
fn creating_validates_title_and_price() {
    let shop = Shop::shared();
    let cookie = seller(shop);
    let cases = [
        (json!({"title": "", "price": 10}), "title"),
        (json!({"title": "   ", "price": 10}), "title"),
        (json!({"price": 10}), "title"),
        (json!({"title": 5, "price": 10}), "title"),
        (json!({"title": "concert", "price": -10}), "price"),
        (json!({"title": "concert", "price": 0}), "price"),
        (json!({"title": "concert"}), "price"),
        (json!({"title": "concert", "price": "10"}), "price"),
        (json!({"title": "concert", "price": 10.123}), "price"),
        (json!({"title": "concert", "price": null}), "price"),
    ];
    for (body, field) in cases {
        let resp = shop.post("/api/tickets", Some(&cookie), body.clone());
        assert_eq!(resp.status, 400, "{body}: {}", resp.text);
        resp.assert_error(400, Some(field));
    }
}

#[test]
fn a_created_ticket_can_be_read_and_is_listed() {
    let shop = Shop::shared();
    let email = unique_email("owner");
    let (cookie, user_id) = shop.signup(&email, "pass");
    let ticket = create(shop, &cookie, "Opera night", json!(20));
    assert_eq!(ticket["title"], "Opera night");
    assert_eq!(ticket["price"], json!(20));
    assert_eq!(ticket["userId"], user_id);
    assert_eq!(ticket["version"], 0);
    assert!(ticket.get("orderId").is_none_or(Value::is_null), "{ticket}");
    let id = ticket["id"].as_str().unwrap();

    let resp = shop.get(&format!("/api/tickets/{id}"), None);
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.json, ticket);

    let cents = create(shop, &cookie, "Matinee", json!(12.5));
    assert_eq!(cents["price"], json!(12.5));

    let list = shop.get("/api/tickets", None);
    assert_eq!(list.status, 200);
    let ids: Vec<&str> = list
        .json
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert!(ids.contains(&id), "{ids:?}");
    assert!(ids.contains(&cents["id"].as_str().unwrap()));
}

#[test]
fn unknown_and_malformed_ids_are_404_or_400_never_5xx() {
    let shop = Shop::shared();
    let cookie = seller(shop);
    for id in [
        "0123456789abcdef01234567",
        "nope",
        "%00",
        "a%2Fb",
        "%E2%98%83",
        &"z".repeat(300),
    ] {
        let path = format!("/api/tickets/{id}");
        let resp = shop.get(&path, None);
        assert!(
            resp.status == 404 || resp.status == 400,
            "GET {path}: {} {}",
            resp.status,
            resp.text
        );
        resp.error_messages();
        let resp = shop.put(&path, Some(&cookie), json!({"title": "t", "price": 1}));
        assert!(
            resp.status == 404 || resp.status == 400,
            "PUT {path}: {} {}",
            resp.status,
            resp.text
        );
    }
}

#[test]
fn updating_follows_the_rules_in_order() {
    let shop = Shop::shared();
    let owner = seller(shop);
    let stranger = seller(shop);
    let ticket = create(shop, &owner, "Jazz", json!(30));
    let path = format!("/api/tickets/{}", ticket["id"].as_str().unwrap());

    // Anonymous first, even with a bad body.
    let resp = shop.put(&path, None, json!({"title": "", "price": -1}));
    assert_eq!(resp.status, 401, "{}", resp.text);
    // Unknown ticket.
    let resp = shop.put(
        "/api/tickets/0123456789abcdef01234567",
        Some(&owner),
        json!({"title": "x", "price": 1}),
    );
    assert_eq!(resp.status, 404, "{}", resp.text);
    // Not the owner.
    let resp = shop.put(&path, Some(&stranger), json!({"title": "mine", "price": 1}));
    assert_eq!(resp.status, 401, "{}", resp.text);
    resp.error_messages();
    // Validation as on create.
    shop.put(&path, Some(&owner), json!({"title": "", "price": 10}))
        .assert_error(400, Some("title"));
    shop.put(&path, Some(&owner), json!({"title": "Jazz", "price": -10}))
        .assert_error(400, Some("price"));

    // Nothing above changed the ticket.
    let unchanged = shop.get(&path, None).json;
    assert_eq!(unchanged, ticket);

    let resp = shop.put(
        &path,
        Some(&owner),
        json!({"title": "Jazz late", "price": 35.5}),
    );
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.json["title"], "Jazz late");
    assert_eq!(resp.json["price"], json!(35.5));
    assert_eq!(resp.json["version"], 1);
    assert_eq!(resp.json["id"], ticket["id"]);
    assert_eq!(shop.get(&path, None).json, resp.json);

    let resp = shop.put(
        &path,
        Some(&owner),
        json!({"title": "Jazz later", "price": 36}),
    );
    assert_eq!(resp.json["version"], 2, "{}", resp.text);
}

/// Every change writes its event to the outbox in the same transaction (bug 5): after a
/// create and two updates the outbox holds exactly those three events, in version order,
/// with the docs/events.md payloads.
#[test]
fn each_change_writes_its_event_to_the_outbox() {
    let shop = Shop::shared();
    let (cookie, user_id) = shop.signup(&unique_email("outbox"), "pass");
    let ticket = create(shop, &cookie, "Ballet", json!(40));
    let id = ticket["id"].as_str().unwrap().to_string();
    let path = format!("/api/tickets/{id}");
    for (n, price) in [(1, 41), (2, 42)] {
        let resp = shop.put(
            &path,
            Some(&cookie),
            json!({"title": "Ballet", "price": price}),
        );
        assert_eq!(resp.json["version"], n, "{}", resp.text);
    }
    // A refused change writes nothing.
    let refused = shop.put(&path, Some(&cookie), json!({"title": "", "price": 1}));
    assert_eq!(refused.status, 400);

    let db =
        rusqlite::Connection::open(shop.sqlite_path("tickets")).expect("open the state database");
    let mut stmt = db
        .prepare(
            "SELECT event_type, data FROM tickets_outbox WHERE entity_id = ?1 \
             ORDER BY entity_version",
        )
        .expect("the tickets outbox table");
    let events: Vec<(String, Value)> = stmt
        .query_map([&id], |row| {
            let data: String = row.get(1)?;
            Ok((row.get(0)?, serde_json::from_str(&data).unwrap()))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        types,
        ["ticket:created", "ticket:updated", "ticket:updated"]
    );
    assert_eq!(
        events[0].1,
        json!({"id": id, "version": 0, "title": "Ballet", "price": 40, "userId": user_id})
    );
    assert_eq!(events[2].1["version"], 2);
    assert_eq!(events[2].1["price"], json!(42));
}

#[test]
fn unknown_ticket_routes_are_json_404s() {
    let shop = Shop::shared();
    for (method, path) in [
        ("DELETE", "/api/tickets"),
        ("PATCH", "/api/tickets"),
        ("POST", "/api/tickets/0123456789abcdef01234567"),
        ("GET", "/api/tickets/a/b"),
    ] {
        let resp = shop.request(method, path, None, Body::None);
        assert_eq!(resp.status, 404, "{method} {path}: {}", resp.text);
        resp.error_messages();
    }
}

#[test]
fn tickets_survive_a_restart_of_the_runtime() {
    let shop = Shop::start();
    let cookie = seller(&shop);
    let ticket = create(&shop, &cookie, "Encore", json!(15));
    let kept = shop.kill_keeping_state();
    let again = kept.restart();
    let path = format!("/api/tickets/{}", ticket["id"].as_str().unwrap());
    let resp = again.get(&path, None);
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.json, ticket);
    // The session signed before the restart is still valid.
    let resp = again.get("/api/users/currentuser", Some(&cookie));
    assert!(resp.json["currentUser"].is_object(), "{}", resp.text);
}
