//! End to end: the ratings of docs/ratings.md on the real runtime, with the embedded
//! backends and on Redis + Postgres + NATS. The buyers are learnt from `purchase:completed`,
//! published into the broker here as the cart would publish it, twice over.

use boxoffice_testkit as support;

use serde_json::{json, Value};
use support::{publish, unique_email, wait_until, Backend, Shop, ShopOptions, EVENTUAL};

/// A product code nobody else uses in this run (the real backends outlive a test).
fn unique_sku(tag: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{tag}-{}-{n}", std::process::id())
}

/// Publishes `purchase:completed` of `purchase_id` by `user_id` for one unit of each of
/// `skus`, under the event id `event_id`, as the cart does.
fn completed(broker: &str, event_id: &str, purchase_id: &str, user_id: &str, skus: &[&str]) {
    let lines: Vec<Value> = skus
        .iter()
        .map(|sku| json!({"sku": sku, "quantity": 1}))
        .collect();
    let data = json!({"id": purchase_id, "version": 2, "userId": user_id, "city": "nyc",
                      "lines": lines});
    let resp = publish(broker, "purchase:completed", event_id, &data);
    assert!(
        resp.status / 100 == 2,
        "{event_id}: {} {}",
        resp.status,
        resp.text
    );
}

fn rate(shop: &Shop, cookie: Option<&str>, sku: &str, stars: Value) -> support::Resp {
    shop.put(
        &format!("/api/ratings/{sku}"),
        cookie,
        json!({"stars": stars}),
    )
}

/// A vote refused before the purchase is known, accepted after, changed, and averaged
/// with another buyer's; the purchase delivered twice (same event id, then a new one)
/// makes its buyer one buyer of each product.
fn only_buyers_rate_and_the_votes_average(backend: Backend) {
    let shop = Shop::start_with(ShopOptions {
        backend,
        ..Default::default()
    });
    let broker = shop.runtime().broker.clone().expect("up runs a broker");
    let mug = unique_sku("MUG");
    let tee = unique_sku("TEE");
    let (alice, alice_id) = shop.signup(&unique_email("alice"), "pass");
    let (bob, bob_id) = shop.signup(&unique_email("bob"), "pass");
    let (carol, _) = shop.signup(&unique_email("carol"), "pass");

    let fresh = shop.get(
        &format!("/api/ratings/{}", mug.to_lowercase()),
        Some(&alice),
    );
    assert_eq!(
        (fresh.status, fresh.json.clone()),
        (
            200,
            json!({"sku": mug, "average": null, "count": 0, "mine": null})
        ),
        "{}",
        fresh.text
    );
    assert_eq!(rate(&shop, None, &mug, json!(5)).status, 401);
    let refused = rate(&shop, Some(&alice), &mug, json!(5));
    refused.assert_error(400, None);
    assert_eq!(
        refused.error_messages(),
        ["Only buyers of this product can rate it"]
    );

    let purchase = "9a7c00000000000000000001";
    completed(&broker, "rate-p1", purchase, &alice_id, &[&mug, &tee]);
    completed(&broker, "rate-p1", purchase, &alice_id, &[&mug, &tee]);
    completed(&broker, "rate-p1-again", purchase, &alice_id, &[&mug, &tee]);
    completed(
        &broker,
        "rate-p2",
        "9a7c00000000000000000002",
        &bob_id,
        &[&mug],
    );

    let first = wait_until("ratings to learn alice bought the mug", EVENTUAL, || {
        let resp = rate(&shop, Some(&alice), &mug.to_lowercase(), json!(4));
        (resp.status != 400).then_some(resp)
    });
    assert_eq!(
        (first.status, first.json.clone()),
        (
            200,
            json!({"sku": mug, "average": 4.0, "count": 1, "mine": 4})
        ),
        "{}",
        first.text
    );
    let changed = rate(&shop, Some(&alice), &mug, json!(2));
    assert_eq!(
        changed.json,
        json!({"sku": mug, "average": 2.0, "count": 1, "mine": 2})
    );
    rate(&shop, Some(&alice), &mug, json!(4.5)).assert_error(400, Some("stars"));
    rate(&shop, Some(&alice), &mug, json!("5")).assert_error(400, Some("stars"));
    let bobs = wait_until("ratings to learn bob bought the mug", EVENTUAL, || {
        let resp = rate(&shop, Some(&bob), &mug, json!(5));
        (resp.status != 400).then_some(resp)
    });
    assert_eq!(
        bobs.json,
        json!({"sku": mug, "average": 3.5, "count": 2, "mine": 5})
    );
    assert_eq!(
        rate(&shop, Some(&carol), &mug, json!(3)).error_messages(),
        ["Only buyers of this product can rate it"]
    );
    let path = format!("/api/ratings/{mug}");
    assert_eq!(
        shop.get(&path, None).json,
        json!({"sku": mug, "average": 3.5, "count": 2, "mine": null})
    );
    assert_eq!(shop.get(&path, Some(&alice)).json["mine"], 2);
    assert_eq!(shop.get(&path, Some(&carol)).json["mine"], Value::Null);
    let listed = shop.get(&format!("/api/ratings?skus={mug},{tee}"), None);
    assert_eq!(
        (listed.status, listed.json),
        (
            200,
            json!([{"sku": mug, "average": 3.5, "count": 2},
                   {"sku": tee, "average": null, "count": 0}])
        )
    );
    assert_eq!(shop.get("/api/ratings/no", None).status, 404);
    assert_eq!(shop.get("/api/ratings/a_b_c", None).status, 404);

    let mut db = shop.db();
    let buyer_rows = db.int(
        "SELECT COUNT(*) FROM ratings_buyers WHERE user_id = $1",
        &[&alice_id],
    );
    assert_eq!(
        buyer_rows,
        Some(2),
        "one row per product, however often delivered"
    );
}

boxoffice_testkit::on_both_backends!(only_buyers_rate_and_the_votes_average);
