//! End to end: the catalog (docs/catalog.md) on the real runtime, with the embedded
//! backends (SQLite, its FTS5 search) and on Redis + Postgres + NATS (Postgres full-text
//! search): products, their search and categories, and stock taken by completed purchases
//! delivered through the broker.

use boxoffice_testkit as support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{publish, unique_email, wait_until, Backend, Shop, ShopOptions, EVENTUAL};

fn shop(backend: Backend) -> Shop {
    Shop::start_with(ShopOptions {
        backend,
        ..Default::default()
    })
}

fn seller(shop: &Shop) -> (String, String) {
    shop.signup(&unique_email("seller"), "pass")
}

fn product(sku: &str, name: &str, description: &str, categories: &[&str]) -> Value {
    json!({"sku": sku, "name": name, "description": description, "price": 12.5,
           "stock": 10, "categories": categories})
}

fn create(shop: &Shop, cookie: &str, body: Value) -> Value {
    let resp = shop.post("/api/products", Some(cookie), body);
    assert_eq!(resp.status, 201, "{}", resp.text);
    resp.json
}

fn skus(shop: &Shop, query: &str) -> Vec<String> {
    let resp = shop.get(&format!("/api/products{query}"), None);
    assert_eq!(resp.status, 200, "{query}: {}", resp.text);
    resp.json
        .as_array()
        .unwrap_or_else(|| panic!("{query}: not a list: {}", resp.text))
        .iter()
        .map(|p| p["sku"].as_str().unwrap().to_owned())
        .collect()
}

fn creating_checks_the_session_then_every_field_then_the_sku(backend: Backend) {
    let shop = shop(backend);
    let (cookie, user_id) = seller(&shop);
    let good = product("tee-blk-m", "  Tour shirt ", "Black", &["Merch", "apparel"]);
    for body in [good.clone(), json!({}), json!("x")] {
        let resp = shop.post("/api/products", None, body);
        resp.assert_error(401, None);
    }
    let cases = [
        (
            json!({"sku": "ab", "name": "x", "price": 1, "stock": 1}),
            "sku",
        ),
        (
            json!({"sku": "-abc", "name": "x", "price": 1, "stock": 1}),
            "sku",
        ),
        (
            json!({"sku": "a_bc", "name": "x", "price": 1, "stock": 1}),
            "sku",
        ),
        (
            json!({"sku": "abc", "name": " ", "price": 1, "stock": 1}),
            "name",
        ),
        (
            json!({"sku": "abc", "name": "n".repeat(121), "price": 1, "stock": 1}),
            "name",
        ),
        (
            json!({"sku": "abc", "name": "x", "description": "d".repeat(2001), "price": 1, "stock": 1}),
            "description",
        ),
        (
            json!({"sku": "abc", "name": "x", "price": 0, "stock": 1}),
            "price",
        ),
        (
            json!({"sku": "abc", "name": "x", "price": 1.234, "stock": 1}),
            "price",
        ),
        (
            json!({"sku": "abc", "name": "x", "price": 1, "stock": -1}),
            "stock",
        ),
        (
            json!({"sku": "abc", "name": "x", "price": 1, "stock": 1_000_001}),
            "stock",
        ),
        (
            json!({"sku": "abc", "name": "x", "price": 1, "stock": 1, "categories": ["a b"]}),
            "categories",
        ),
        (
            json!({"sku": "abc", "name": "x", "price": 1, "stock": 1, "categories": ["a", "b", "c", "d", "e", "f"]}),
            "categories",
        ),
    ];
    for (body, field) in cases {
        let resp = shop.post("/api/products", Some(&cookie), body.clone());
        assert_eq!(resp.status, 400, "{body}: {}", resp.text);
        assert_eq!(resp.error_fields(), [field], "{body}: {}", resp.text);
    }
    let created = create(&shop, &cookie, good.clone());
    assert_eq!(
        created,
        json!({"sku": "TEE-BLK-M", "name": "Tour shirt", "description": "Black",
               "price": 12.5, "stock": 10, "categories": ["apparel", "merch"],
               "userId": user_id, "version": 0})
    );
    let (other, _) = seller(&shop);
    let mut again = good;
    again["sku"] = json!("TEE-BLK-M");
    let resp = shop.post("/api/products", Some(&other), again);
    resp.assert_error(400, Some("sku"));
    assert_eq!(resp.error_messages(), ["SKU in use"]);

    // Eight sellers at once for one new sku: the primary key lets exactly one win.
    let barrier = std::sync::Barrier::new(8);
    let statuses: Vec<(u16, String)> = std::thread::scope(|s| {
        let racers: Vec<_> = (0..8)
            .map(|i| {
                let (shop, barrier) = (&shop, &barrier);
                s.spawn(move || {
                    let (cookie, _) = seller(shop);
                    barrier.wait();
                    let body = product("RACE-1", &format!("Racer {i}"), "", &[]);
                    let resp = shop.post("/api/products", Some(&cookie), body);
                    (resp.status, resp.text)
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let won = statuses.iter().filter(|(status, _)| *status == 201).count();
    assert_eq!(won, 1, "{statuses:?}");
    for (status, text) in statuses.iter().filter(|(status, _)| *status != 201) {
        assert_eq!(*status, 400, "{text}");
        assert!(text.contains("SKU in use"), "{text}");
    }
}

fn products_are_shown_listed_and_edited_by_their_seller_only(backend: Backend) {
    let shop = shop(backend);
    let (cookie, user_id) = seller(&shop);
    let created = create(
        &shop,
        &cookie,
        product("MUG-1", "Mug", "White", &["kitchen"]),
    );
    for path in ["/api/products/MUG-1", "/api/products/mug-1"] {
        let resp = shop.get(path, None);
        assert_eq!((resp.status, &resp.json), (200, &created), "{path}");
    }
    for path in [
        "/api/products/NOPE-1",
        "/api/products/%22%3B",
        "/api/products/x",
    ] {
        shop.get(path, None).assert_error(404, None);
    }
    assert_eq!(skus(&shop, ""), ["MUG-1"]);

    let edit = json!({"name": "Tall mug", "description": "Blue", "price": 9.99, "stock": 2,
                      "categories": ["kitchen", "gifts"]});
    shop.put("/api/products/MUG-1", None, json!({}))
        .assert_error(401, None);
    let (stranger, _) = seller(&shop);
    shop.put("/api/products/MUG-1", Some(&stranger), json!({"name": ""}))
        .assert_error(400, Some("name"));
    shop.put("/api/products/MUG-1", Some(&stranger), edit.clone())
        .assert_error(401, None);
    shop.put("/api/products/NOPE-1", Some(&cookie), edit.clone())
        .assert_error(404, None);
    let resp = shop.put("/api/products/mug-1", Some(&cookie), edit);
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(
        resp.json,
        json!({"sku": "MUG-1", "name": "Tall mug", "description": "Blue", "price": 9.99,
               "stock": 2, "categories": ["gifts", "kitchen"], "userId": user_id,
               "version": 1})
    );
    assert_eq!(shop.get("/api/products/MUG-1", None).json, resp.json);
    assert_eq!(skus(&shop, "?q=blue+mug"), ["MUG-1"]);
    assert!(
        skus(&shop, "?q=white").is_empty(),
        "the old description is not searched"
    );
}

fn search_finds_words_of_names_and_descriptions_best_first(backend: Backend) {
    let shop = shop(backend);
    let (cookie, _) = seller(&shop);
    // Skus in the order of creation, so that equal times still list newest first.
    for body in [
        product("A-MUG", "Coffee mug", "Holds tea as well", &["kitchen"]),
        product(
            "B-TEE",
            "Tour shirt",
            "Printed with a coffee stain",
            &["merch"],
        ),
        product(
            "C-CAP",
            "Baseball cap",
            "Red cotton, one size",
            &["merch", "hats"],
        ),
        product(
            "D-BAG",
            "Tote bag",
            "Cotton canvas for groceries",
            &["merch"],
        ),
    ] {
        create(&shop, &cookie, body);
    }
    assert_eq!(skus(&shop, ""), ["D-BAG", "C-CAP", "B-TEE", "A-MUG"]);
    assert_eq!(
        skus(&shop, "?q=coffee"),
        ["A-MUG", "B-TEE"],
        "the name weighs more"
    );
    assert_eq!(skus(&shop, "?q=COTTON"), ["D-BAG", "C-CAP"]);
    assert_eq!(
        skus(&shop, "?q=printed%20shirts"),
        ["B-TEE"],
        "words are stemmed"
    );
    assert_eq!(
        skus(&shop, "?q=cotton+groceries"),
        ["D-BAG"],
        "every word counts"
    );
    assert!(skus(&shop, "?q=espresso").is_empty());
    assert_eq!(
        skus(&shop, "?q=+&limit=2"),
        ["D-BAG", "C-CAP"],
        "blank is no search"
    );
    assert_eq!(skus(&shop, "?q=cotton&category=hats"), ["C-CAP"]);

    // Whatever a user types is words, never the engine's syntax: 200, or a 400 on `q`.
    let long = "x".repeat(500);
    for q in [
        "%22",
        "%2A",
        "%27",
        "AND%20OR%20NOT",
        "%25",
        "%22coffee",
        "coffee%2A",
        "NEAR(coffee",
        "name%3Acoffee",
        "-coffee",
        "%5E",
        "%00",
        "%FF%FE",
        "%E7%BA%A2",
        "'%3B%20DROP%20TABLE",
    ] {
        let resp = shop.get(&format!("/api/products?q={q}"), None);
        assert_eq!(resp.status, 200, "{q}: {}", resp.text);
        assert!(resp.json.is_array(), "{q}: {}", resp.text);
    }
    let resp = shop.get(&format!("/api/products?q={long}"), None);
    resp.assert_error(400, Some("q"));
    assert_eq!(
        skus(&shop, "?q=coffee"),
        ["A-MUG", "B-TEE"],
        "nothing broke"
    );
}

fn categories_and_pages(backend: Backend) {
    let shop = shop(backend);
    let resp = shop.get("/api/categories", None);
    assert_eq!((resp.status, &resp.json), (200, &json!([])));
    let (cookie, _) = seller(&shop);
    let names: Vec<String> = (0..7).map(|i| format!("P-{i:02}")).collect();
    for (i, sku) in names.iter().enumerate() {
        let categories: &[&str] = if i % 2 == 0 {
            &["even", "all"]
        } else {
            &["all"]
        };
        create(&shop, &cookie, product(sku, "Thing", "", categories));
    }
    let resp = shop.get("/api/categories", None);
    assert_eq!(
        (resp.status, &resp.json),
        (
            200,
            &json!([{"name": "all", "count": 7}, {"name": "even", "count": 4}])
        )
    );
    let newest: Vec<String> = names.iter().rev().cloned().collect();
    assert_eq!(skus(&shop, ""), newest);
    assert_eq!(skus(&shop, "?limit=3"), newest[..3]);
    assert_eq!(skus(&shop, "?limit=3&offset=3"), newest[3..6]);
    assert_eq!(skus(&shop, "?limit=3&offset=6"), newest[6..]);
    assert!(skus(&shop, "?offset=7").is_empty());
    assert_eq!(
        skus(&shop, "?category=EVEN"),
        ["P-06", "P-04", "P-02", "P-00"]
    );
    assert_eq!(skus(&shop, "?category=even&limit=1&offset=1"), ["P-04"]);
    assert!(skus(&shop, "?category=none").is_empty());
    assert_eq!(skus(&shop, "?q=thing&limit=100").len(), 7);
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=x", "limit"),
        ("offset=-1", "offset"),
        ("offset=1e3", "offset"),
        ("category=%3Cb%3E", "category"),
    ] {
        shop.get(&format!("/api/products?{query}"), None)
            .assert_error(400, Some(field));
    }
}

fn a_completed_purchase_takes_stock_once_and_never_below_zero(backend: Backend) {
    let shop = shop(backend);
    let broker = shop.runtime().broker.clone().expect("up runs a broker");
    let (cookie, _) = seller(&shop);
    create(&shop, &cookie, product("TEE-1", "Tee", "", &[]));
    create(&shop, &cookie, product("CAP-1", "Cap", "", &[]));
    let completed = json!({"id": "c0ffee000000000000000001", "version": 2,
        "userId": "b0b000000000000000000001", "city": "NYC",
        "lines": [{"sku": "TEE-1", "quantity": 3}, {"sku": "CAP-1", "quantity": 12}]});
    // The same purchase under two event ids, as a republished completion would bring it.
    for event_id in ["done-1", "done-1", "done-2"] {
        let resp = publish(&broker, "purchase:completed", event_id, &completed);
        assert_eq!(resp.status / 100, 2, "{event_id}: {}", resp.text);
    }
    let stock_of = |sku: &str| {
        let resp = shop.get(&format!("/api/products/{sku}"), None);
        (resp.json["stock"].as_i64(), resp.json["version"].as_i64())
    };
    wait_until("the purchase's units leave stock", EVENTUAL, || {
        (stock_of("TEE-1") == (Some(7), Some(1)) && stock_of("CAP-1") == (Some(0), Some(1)))
            .then_some(())
    });
    // The second event id arrives too; give it time to (not) apply, then look again.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(stock_of("TEE-1"), (Some(7), Some(1)));
    assert_eq!(
        stock_of("CAP-1"),
        (Some(0), Some(1)),
        "oversold, never below zero"
    );
    let mut db = shop.db();
    assert_eq!(db.int("SELECT COUNT(*) FROM catalog_sold", &[]), Some(2));
    let announced = "SELECT COUNT(*) FROM catalog_outbox WHERE event_type = 'product:updated' \
         AND data LIKE '%\"purchaseId\":\"c0ffee000000000000000001\"%'";
    assert_eq!(
        db.int(announced, &[]),
        Some(2),
        "one product:updated per product"
    );
}

support::on_both_backends!(
    creating_checks_the_session_then_every_field_then_the_sku,
    products_are_shown_listed_and_edited_by_their_seller_only,
    search_finds_words_of_names_and_descriptions_best_first,
    categories_and_pages,
    a_completed_purchase_takes_stock_once_and_never_below_zero,
);
