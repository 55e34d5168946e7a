//! End to end: the goods shop (docs/cart.md, docs/catalog.md, docs/shipping.md,
//! docs/ratings.md) on the real runtime, on the embedded backends and on Redis, Postgres
//! and NATS (the whole flow on a wasmCloud host too): browse and search the catalog, fill a cart as a visitor,
//! sign in (the cart follows), choose where to ship, check out, pay through the payments
//! service against a faithful fake of Stripe, and see the stock taken exactly once, the
//! purchase dispatched and the product rated by its buyer; and a hundred shoppers racing
//! for the last ten units.

use boxoffice_testkit as support;

use std::sync::Barrier;

use serde_json::{json, Value};
use support::stripe::FakeStripe;
use support::{publish, unique_email, wait_until, Backend, Shop, ShopOptions, EVENTUAL};

fn shop_with(backend: Backend, stripe: &FakeStripe) -> Shop {
    Shop::start_with(ShopOptions {
        variables: stripe.variables(),
        backend,
        ..Default::default()
    })
}

fn user(shop: &Shop, tag: &str) -> String {
    shop.signup(&unique_email(tag), "pass").0
}

/// Lists a product and returns it.
fn list(shop: &Shop, seller: &str, product: Value) -> Value {
    let resp = shop.post("/api/products", Some(seller), product);
    assert_eq!(resp.status, 201, "{}", resp.text);
    resp.json
}

fn product(shop: &Shop, sku: &str) -> Value {
    let resp = shop.get(&format!("/api/products/{sku}"), None);
    assert_eq!(resp.status, 200, "{}", resp.text);
    resp.json
}

/// Adds to the cart of `cookie` (a visitor's when `None`), waiting while the cart has not
/// yet heard of the product (`product:created` reaches it asynchronously).
fn add_when_known(shop: &Shop, cookie: Option<&str>, sku: &str, quantity: i64) -> support::Resp {
    wait_until("the cart's replica of the product", EVENTUAL, || {
        let resp = shop.post(
            "/api/cart/items",
            cookie,
            json!({"sku": sku, "quantity": quantity}),
        );
        (resp.status != 404).then_some(resp)
    })
}

/// A city the shipping service quotes.
fn a_city(shop: &Shop) -> Value {
    let cities = shop.get("/api/shipping/cities", None);
    assert_eq!(cities.status, 200, "{}", cities.text);
    let city = cities.json[0].clone();
    assert!(city["code"].is_string(), "{}", cities.text);
    city
}

fn ship_to(shop: &Shop, cookie: &str, city: &str) -> Value {
    let resp = shop.put("/api/cart/shipping", Some(cookie), json!({"city": city}));
    assert_eq!(resp.status, 200, "{}", resp.text);
    resp.json
}

/// Pays, retrying while the payments service has not yet heard of the purchase.
fn pay(shop: &Shop, buyer: &str, purchase_id: &str) -> support::Resp {
    wait_until("the payments replica of the purchase", EVENTUAL, || {
        let resp = shop.post(
            "/api/payments",
            Some(buyer),
            json!({"token": "tok_visa", "orderId": purchase_id}),
        );
        (resp.status != 404).then_some(resp)
    })
}

fn purchase(shop: &Shop, buyer: &str, id: &str) -> Value {
    let resp = shop.get(&format!("/api/purchases/{id}"), Some(buyer));
    assert_eq!(resp.status, 200, "{}", resp.text);
    resp.json
}

/// The cart replica's `(stock, held)` of `sku`.
fn cart_replica(shop: &Shop, sku: &str) -> (Option<i64>, Option<i64>) {
    let mut db = shop.db();
    (
        db.int("SELECT stock FROM cart_products WHERE sku = $1", &[sku]),
        db.int("SELECT held FROM cart_products WHERE sku = $1", &[sku]),
    )
}

fn the_whole_flow_takes_stock_exactly_once(backend: Backend) {
    let stripe = FakeStripe::start();
    let shop = shop_with(backend, &stripe);
    let seller = user(&shop, "seller");
    let mug = list(
        &shop,
        &seller,
        json!({"sku": "mug-blue", "name": "Blue ceramic mug",
               "description": "Holds a large coffee; dishwasher safe.",
               "price": 12.5, "stock": 5, "categories": ["kitchen", "gifts"]}),
    );
    assert_eq!(
        (&mug["sku"], &mug["version"]),
        (&json!("MUG-BLUE"), &json!(0))
    );
    list(
        &shop,
        &seller,
        json!({"sku": "TEE-1", "name": "Cotton tee", "description": "A plain shirt.",
               "price": 20, "stock": 3, "categories": ["clothes"]}),
    );

    // Browse and search.
    let all = shop.get("/api/products", None);
    assert_eq!(all.status, 200, "{}", all.text);
    let skus: Vec<&str> = all
        .json
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["sku"].as_str())
        .collect();
    assert!(
        skus.contains(&"MUG-BLUE") && skus.contains(&"TEE-1"),
        "{skus:?}"
    );
    let found = shop.get("/api/products?q=coffee", None);
    assert_eq!(found.status, 200, "{}", found.text);
    assert_eq!(found.json.as_array().unwrap().len(), 1, "{}", found.text);
    assert_eq!(found.json[0]["sku"], "MUG-BLUE");
    let kitchen = shop.get("/api/products?category=kitchen", None);
    assert_eq!(
        kitchen.json.as_array().map(Vec::len),
        Some(1),
        "{}",
        kitchen.text
    );
    let categories = shop.get("/api/categories", None);
    assert!(
        categories
            .json
            .as_array()
            .unwrap()
            .contains(&json!({"name": "kitchen", "count": 1})),
        "{}",
        categories.text
    );

    // A visitor's cart, then signing in: the cart follows.
    let added = add_when_known(&shop, None, "MUG-BLUE", 2);
    assert_eq!(added.status, 200, "{}", added.text);
    let visitor = added
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("cart="))
        .expect("a visitor's cart cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let too_many = shop.post(
        "/api/cart/items",
        Some(&visitor),
        json!({"sku": "MUG-BLUE", "quantity": 4}),
    );
    assert_eq!(too_many.status, 400);
    assert_eq!(
        too_many.error_messages(),
        ["Only 5 of Blue ceramic mug left"]
    );
    let buyer = user(&shop, "buyer");
    let both = format!("{buyer}; {visitor}");
    let cart = shop.get("/api/cart", Some(&both));
    assert_eq!(cart.status, 200, "{}", cart.text);
    assert_eq!(cart.json["count"], 2, "{}", cart.text);
    assert!(
        cart.set_cookies().iter().any(|c| c.starts_with("cart=;")),
        "the cookie is cleared"
    );

    // Shipping, totals, checkout.
    let city = a_city(&shop);
    let code = city["code"].as_str().unwrap();
    let quote = shop.get(&format!("/api/shipping/quotes/{code}"), None);
    assert_eq!(quote.status, 200, "{}", quote.text);
    let cart = ship_to(&shop, &buyer, code);
    assert_eq!(cart["shipping"]["cost"], quote.json["cost"]);
    assert_eq!(cart["subtotal"], 25);
    assert_eq!(cart["tax"], 2, "8 % of the goods, by default");
    let cents = |v: &Value| (v.as_f64().unwrap() * 100.0).round() as i64;
    assert_eq!(
        cents(&cart["total"]),
        2500 + 200 + cents(&quote.json["cost"])
    );
    let checkout = shop.post("/api/cart/checkout", Some(&buyer), json!({}));
    assert_eq!(checkout.status, 201, "{}", checkout.text);
    let bought = checkout.json;
    let id = bought["id"].as_str().unwrap();
    assert_eq!(
        (&bought["status"], &bought["total"]),
        (&json!("created"), &cart["total"])
    );
    assert_eq!(shop.get("/api/cart", Some(&buyer)).json["count"], 0);

    // Pay: charged the total, the purchase completes, the catalog takes the units once.
    let paid = pay(&shop, &buyer, id);
    assert_eq!(paid.status, 201, "{}", paid.text);
    let charges = stripe.charges();
    assert_eq!(charges.len(), 1);
    assert_eq!(charges[0]["amount"], json!(cents(&bought["total"])));
    wait_until("the purchase complete and dispatched", EVENTUAL, || {
        let seen = purchase(&shop, &buyer, id);
        (seen["status"] == "complete" && seen["shipment"].is_object()).then_some(())
    });
    wait_until("the catalog takes the units out of stock", EVENTUAL, || {
        (product(&shop, "MUG-BLUE")["stock"] == 3).then_some(())
    });
    wait_until("the cart lets go of its hold", EVENTUAL, || {
        (cart_replica(&shop, "MUG-BLUE") == (Some(3), Some(0))).then_some(())
    });
    let shipment = shop.get(&format!("/api/shipping/shipments/{id}"), Some(&buyer));
    assert_eq!(shipment.status, 200, "{}", shipment.text);
    assert_eq!(shipment.json["city"], code);
    let stranger = user(&shop, "stranger");
    assert_eq!(
        shop.get(&format!("/api/shipping/shipments/{id}"), Some(&stranger))
            .status,
        401
    );

    // The completion delivered again under new ids (a publisher sending it twice): no change.
    let completed = json!({"id": id, "version": 1, "userId": bought["userId"], "city": code,
                           "lines": [{"sku": "MUG-BLUE", "quantity": 2}]});
    let broker = shop.runtime().broker.clone().expect("up runs a broker");
    let mut db = shop.db();
    let copies = [format!("copy-{id}-1"), format!("copy-{id}-2")];
    for event_id in &copies {
        let resp = publish(&broker, "purchase:completed", event_id, &completed);
        assert!(
            resp.status / 100 == 2,
            "{event_id}: {} {}",
            resp.status,
            resp.text
        );
        wait_until("the catalog to process the copy", EVENTUAL, || {
            db.int(
                "SELECT COUNT(*) FROM catalog_processed WHERE event_id = $1",
                &[event_id],
            )
            .filter(|n| *n == 1)
        });
    }
    let after = product(&shop, "MUG-BLUE");
    assert_eq!(
        (&after["stock"], &after["version"]),
        (&json!(3), &json!(1)),
        "taken once"
    );
    assert_eq!(
        db.int(
            "SELECT COUNT(*) FROM shipping_shipments WHERE purchase_id = $1",
            &[id]
        ),
        Some(1),
        "dispatched once"
    );

    // Ratings: the buyer may rate, once, and change it; nobody else may.
    let refused = shop.put(
        "/api/ratings/MUG-BLUE",
        Some(&stranger),
        json!({"stars": 1}),
    );
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(
        refused.error_messages(),
        ["Only buyers of this product can rate it"]
    );
    let rated = wait_until("ratings to learn the buyer", EVENTUAL, || {
        let resp = shop.put("/api/ratings/mug-blue", Some(&buyer), json!({"stars": 4}));
        (resp.status == 200).then_some(resp)
    });
    assert_eq!(rated.json["count"], 1, "{}", rated.text);
    let changed = shop.put("/api/ratings/MUG-BLUE", Some(&buyer), json!({"stars": 5}));
    assert_eq!(
        (&changed.json["count"], &changed.json["average"]),
        (&json!(1), &json!(5.0))
    );
    let public = shop.get("/api/ratings/MUG-BLUE", None);
    assert_eq!(
        (&public.json["average"], &public.json["mine"]),
        (&json!(5.0), &Value::Null)
    );
    assert!(
        support::dead_letters(&shop).is_empty(),
        "no event was dead-lettered"
    );
}

fn a_hundred_checkouts_for_the_last_ten_make_exactly_ten(backend: Backend) {
    let stripe = FakeStripe::start();
    let shop = shop_with(backend, &stripe);
    let seller = user(&shop, "seller");
    list(
        &shop,
        &seller,
        json!({"sku": "LAST-10", "name": "Limited print", "description": "Ten made.",
               "price": 30, "stock": 10, "categories": ["art"]}),
    );
    let code = a_city(&shop)["code"].as_str().unwrap().to_owned();
    let shoppers = 100;
    // Each shopper fills a cart with one unit and chooses where to ship.
    let buyers: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..shoppers)
            .map(|_| {
                s.spawn(|| {
                    let buyer = user(&shop, "racer");
                    let added = add_when_known(&shop, Some(&buyer), "LAST-10", 1);
                    assert_eq!(added.status, 200, "{}", added.text);
                    ship_to(&shop, &buyer, &code);
                    buyer
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let barrier = Barrier::new(shoppers);
    let answers: Vec<support::Resp> = std::thread::scope(|s| {
        let handles: Vec<_> = buyers
            .iter()
            .map(|buyer| {
                let (shop, barrier) = (&shop, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    shop.post("/api/cart/checkout", Some(buyer), json!({}))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won: Vec<(usize, &support::Resp)> = answers
        .iter()
        .enumerate()
        .filter(|(_, r)| r.status == 201)
        .collect();
    assert_eq!(won.len(), 10, "exactly the stock is sold");
    for refused in answers.iter().filter(|r| r.status != 201) {
        assert_eq!(refused.status, 400, "{}", refused.text);
        assert_eq!(refused.error_messages(), ["Limited print is out of stock"]);
    }
    assert_eq!(cart_replica(&shop, "LAST-10"), (Some(10), Some(10)));

    // The ten pay; the catalog ends at zero, never below, each unit taken once.
    for (n, answer) in &won {
        let paid = pay(&shop, &buyers[*n], answer.json["id"].as_str().unwrap());
        assert_eq!(paid.status, 201, "{}", paid.text);
    }
    wait_until("the catalog sells out", EVENTUAL, || {
        let last = product(&shop, "LAST-10");
        (last["stock"] == 0 && last["version"] == 10).then_some(())
    });
    wait_until("the cart settles every hold", EVENTUAL, || {
        (cart_replica(&shop, "LAST-10") == (Some(0), Some(0))).then_some(())
    });
    assert_eq!(stripe.charges().len(), 10);
    let late = add_when_known(&shop, Some(&buyers[0]), "LAST-10", 1);
    assert_eq!(late.status, 400);
    assert_eq!(late.error_messages(), ["Limited print is out of stock"]);
    assert!(
        support::dead_letters(&shop).is_empty(),
        "no event was dead-lettered"
    );
}

support::on_both_backends!(
    the_whole_flow_takes_stock_exactly_once,
    a_hundred_checkouts_for_the_last_ten_make_exactly_ten,
);

// The race for the last ten is not run on wasmCloud: there each statement commits alone
// (wasmcloud:postgres has no transaction), so a sale that fails halfway is not rolled
// back, and under load one in a few runs lost a unit (docs/wasmcloud.md).
support::on_wasmcloud!(the_whole_flow_takes_stock_exactly_once);
