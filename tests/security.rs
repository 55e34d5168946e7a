//! End to end: the shop's trust boundaries. Events are accepted by the broker and applied
//! by a service only when signed by the service that publishes them, with its own key
//! (another service's key, which a compromised component holds, does not do); a refused
//! event is stored nowhere and changes nothing. Sessions are signed with a key of the
//! shop's own, never one printed in the source.

use boxoffice_testkit as support;

use std::time::Duration;

use serde_json::{json, Value};
use support::stripe::FakeStripe;
use support::EVENTUAL;
use support::{
    dead_letters, event_headers, forge_session, publish, publish_signed_with, send,
    test_signing_key, unique_email, wait_until, Backend, Shop, ShopOptions, SigningKey,
};

/// A session key this shop never had.
const FOREIGN_KEY: &str = "a-key-this-shop-never-had-0000";

/// An event signing key this shop never had.
fn foreign_key() -> SigningKey {
    SigningKey::from_seed([0x5a; 32])
}

/// POSTs `data` with the event `headers` (from [`event_headers`]) to `url`.
fn post_signed(url: &str, headers: &[(String, String)], data: &Value) -> support::Resp {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    send("POST", url, &headers, Some(data.to_string().into_bytes()))
}

/// Puts a ticket on sale as `seller`; its id.
fn sell(shop: &Shop, seller: &str) -> String {
    let resp = shop.post(
        "/api/tickets",
        Some(seller),
        json!({"title": "Show", "price": 20}),
    );
    assert_eq!(resp.status, 201, "{}", resp.text);
    resp.json["id"].as_str().unwrap().to_owned()
}

/// Orders `ticket_id` as `buyer` once orders has heard of it (by event); the order's id.
fn order(shop: &Shop, buyer: &str, ticket_id: &str) -> String {
    let placed = shop.order_when_known(buyer, ticket_id);
    assert_eq!(placed.status, 201, "{}", placed.text);
    placed.json["id"].as_str().unwrap().to_owned()
}

fn order_status(shop: &Shop, buyer: &str, order_id: &str) -> Value {
    let resp = shop.get(&format!("/api/orders/{order_id}"), Some(buyer));
    assert_eq!(resp.status, 200, "{}", resp.text);
    resp.json
}

/// The attack of the issue: made-up `payment:created`, `expiration:complete` and
/// `order:cancelled` events, sent straight to the public event route and through the
/// broker, unsigned, signed with a foreign key, signed with another service's own key, or
/// carrying a genuine signature over other data. None changes anything; the broker's
/// ingress refuses those sent to it, so none is queued or dead-lettered. The same payment,
/// signed with payments' key, completes the order: the test can fail.
fn forged_events_are_refused_stored_nowhere_and_change_nothing(backend: Backend) {
    let stripe = FakeStripe::start();
    let shop = Shop::start_with(ShopOptions {
        variables: stripe.variables(),
        backend,
        ..Default::default()
    });
    let broker = shop.runtime().broker.clone().expect("up runs a broker");
    let (seller, _) = shop.signup(&unique_email("seller"), "pass");
    let (buyer, _) = shop.signup(&unique_email("buyer"), "pass");
    let ticket_id = sell(&shop, &seller);
    let order_id = order(&shop, &buyer, &ticket_id);
    let reserved = || {
        let t = shop.get(&format!("/api/tickets/{ticket_id}"), None).json;
        t["orderId"] == json!(order_id)
    };
    wait_until("the ticket to be reserved", EVENTUAL, || {
        reserved().then_some(())
    });

    let payment =
        json!({"id": "fa4e00000000000000000001", "orderId": order_id, "stripeId": "ch_x"});
    let expired = json!({"orderId": order_id});
    let relist = json!({"id": order_id, "version": 1, "ticket": {"id": ticket_id}});

    // Keys a forger may hold: none, one the shop never had, and that of another service of
    // the shop (what a compromised cart component holds: cart publishes purchases and
    // consumes payments): none speaks for payments or orders.
    let foreign = foreign_key();
    let cart_key = test_signing_key("cart");
    let forgers: [(&str, Option<&SigningKey>); 3] = [
        ("unsigned", None),
        ("foreign", Some(&foreign)),
        ("by-cart", Some(&cart_key)),
    ];

    // Straight to the public event route: refused with a JSON error, whatever the forgery.
    for (forger, key) in forgers {
        let id = format!("direct-{forger}");
        let headers = event_headers("payment:created", &id, &payment, key);
        let resp = post_signed(&shop.url("/internal/events/orders"), &headers, &payment);
        assert_eq!(resp.status, 403, "{id}: {}", resp.text);
        assert!(
            resp.json["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("sign")),
            "{}",
            resp.text
        );
    }

    // Through the broker: its ingress refuses them before anything is stored.
    let mut forged = vec![("forged-expire", "expiration:complete", &expired, None)];
    for (forger, key) in forgers {
        forged.push((forger, "payment:created", &payment, key));
        forged.push((forger, "order:cancelled", &relist, key));
    }
    for (id, event_type, data, key) in forged {
        let resp = publish_signed_with(
            &broker,
            event_type,
            &format!("{id}-{event_type}"),
            data,
            key,
        );
        assert_eq!(resp.status, 403, "{id} {event_type}: {}", resp.text);
    }
    // A genuine signature replayed over other data: signed for another order's payment.
    let other = json!({"id": "fa4e00000000000000000001", "orderId": "0dd000000000000000000009", "stripeId": "ch_x"});
    let payments_key = test_signing_key("payments");
    let headers = event_headers(
        "payment:created",
        "forged-replayed-signature",
        &other,
        Some(&payments_key),
    );
    let resp = post_signed(&broker, &headers, &payment);
    assert_eq!(resp.status, 403, "{}", resp.text);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        dead_letters(&shop),
        Vec::<Value>::new(),
        "nothing was queued"
    );

    // Nothing changed: the order awaits payment, the ticket stays reserved, nobody paid.
    let order = order_status(&shop, &buyer, &order_id);
    assert_eq!(order["status"], "created", "{order}");
    assert_eq!(order["version"], 0, "{order}");
    assert!(reserved(), "a forged order:cancelled relisted the ticket");
    assert!(stripe.charges().is_empty());

    // The control: the same payment signed with payments' key completes the order.
    let resp = publish(&broker, "payment:created", "genuine-pay", &payment);
    assert_eq!(resp.status, 202, "{}", resp.text);
    let completed = wait_until(
        "the genuine payment to complete the order",
        EVENTUAL,
        || {
            let order = order_status(&shop, &buyer, &order_id);
            (order["status"] == "complete").then_some(order)
        },
    );
    // Replaying the genuine event (same id, same signature) straight to the route applies
    // nothing twice; its signature on a new id is refused.
    let genuine = event_headers(
        "payment:created",
        "genuine-pay",
        &payment,
        Some(&payments_key),
    );
    let signature = genuine
        .iter()
        .find(|(k, _)| k == "ce-boxofficesig")
        .map(|(_, v)| v.clone())
        .unwrap();
    let route = shop.url("/internal/events/orders");
    let resp = post_signed(&route, &genuine, &payment);
    assert_eq!(resp.status, 204, "a replay is acknowledged: {}", resp.text);
    let mut new_id = event_headers("payment:created", "genuine-pay-again", &payment, None);
    new_id.push(("ce-boxofficesig".into(), signature));
    let resp = post_signed(&route, &new_id, &payment);
    assert_eq!(resp.status, 403, "{}", resp.text);
    assert_eq!(order_status(&shop, &buyer, &order_id), completed);
}

/// A forged tick can do no more than a real one: ticks carry nothing a service trusts, so
/// a burst of them with a time far in the future cancels no order before its window ends.
fn forged_ticks_expire_nothing_early(backend: Backend) {
    let shop = Shop::start_with(ShopOptions {
        variables: vec![("reservation_window_seconds".into(), "600".into())],
        backend,
        ..Default::default()
    });
    let (seller, _) = shop.signup(&unique_email("seller"), "pass");
    let (buyer, _) = shop.signup(&unique_email("buyer"), "pass");
    let ticket_id = sell(&shop, &seller);
    let order_id = order(&shop, &buyer, &ticket_id);
    let tick = [
        ("ce-specversion", "1.0"),
        ("ce-id", "tick-forged"),
        ("ce-type", "boxoffice:tick"),
        ("ce-source", "/boxoffice/broker"),
        ("ce-time", "2999-01-01T00:00:00.000Z"),
        ("content-type", "application/json"),
    ];
    for _ in 0..5 {
        for service in ["expiration", "orders", "tickets", "payments"] {
            let url = shop.url(&format!("/internal/events/{service}"));
            let resp = send(
                "POST",
                &url,
                &tick,
                Some(br#"{"now":"2999-01-01"}"#.to_vec()),
            );
            assert_eq!(resp.status, 204, "{service}: {}", resp.text);
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    let order = order_status(&shop, &buyer, &order_id);
    assert_eq!(order["status"], "created", "{order}");
}

boxoffice_testkit::on_both_backends!(
    forged_events_are_refused_stored_nowhere_and_change_nothing,
    forged_ticks_expire_nothing_early,
);

/// The old development key that `boxoffice up` once used for every shop.
const OLD_PUBLIC_KEY: &str = "boxoffice-development-key-do-not-use-in-production";

/// Without `SPIN_VARIABLE_JWT_KEY`, sessions are signed with a random key kept in the
/// state dir (mode 0600): they survive a restart, another shop refuses them, and a token
/// made with a key printed anywhere in the source is refused.
#[test]
fn sessions_are_signed_with_a_key_kept_in_the_state_dir() {
    use std::os::unix::fs::PermissionsExt as _;
    let shop = Shop::start_with(ShopOptions {
        kept_keys: true,
        ..Default::default()
    });
    for variable in ["jwt_key", "orders_events_key", "payments_events_key"] {
        let file = shop.state_dir.join(format!("{variable}.secret"));
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", file.display());
        let key = std::fs::read_to_string(&file).unwrap();
        assert_eq!(key.trim().len(), 64, "{}", file.display());
    }
    let (cookie, id) = shop.signup(&unique_email("kept"), "pass");
    let me = |shop: &Shop, cookie: &str| shop.get("/api/users/currentuser", Some(cookie)).json;
    assert_eq!(me(&shop, &cookie)["currentUser"]["id"], json!(id));
    let forged = forge_session(OLD_PUBLIC_KEY, &id, "forged@example.test", 3600);
    assert_eq!(me(&shop, &forged)["currentUser"], Value::Null);
    let sold = shop.post(
        "/api/tickets",
        Some(&forged),
        json!({"title": "x", "price": 1}),
    );
    assert_eq!(sold.status, 401, "{}", sold.text);

    // The event keys work out of the box too: a ticket's event reaches orders.
    let ticket_id = sell(&shop, &cookie);
    let (buyer, _) = shop.signup(&unique_email("buyer"), "pass");
    order(&shop, &buyer, &ticket_id);

    let other = Shop::start_with(ShopOptions {
        kept_keys: true,
        ..Default::default()
    });
    assert_eq!(
        me(&other, &cookie)["currentUser"],
        Value::Null,
        "another shop, another key"
    );

    let kept = shop.kill_keeping_state();
    let again = kept.restart();
    assert_eq!(
        me(&again, &cookie)["currentUser"]["id"],
        json!(id),
        "kept across a restart"
    );
}

/// Who sends a request in the authorisation matrix. The forged, expired and `alg=none`
/// tokens all claim to be the owner: the worst case.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Anonymous,
    Owner,
    Other,
    /// Signed with a key the shop never had.
    Forged,
    /// Signed with the shop's key, expired an hour ago.
    Expired,
    /// `{"alg":"none"}` and no signature.
    AlgNone,
}

const EVERYONE: [Who; 6] = [
    Who::Anonymous,
    Who::Owner,
    Who::Other,
    Who::Forged,
    Who::Expired,
    Who::AlgNone,
];

/// A session cookie of an arbitrary JWT text, wrapped as the shop wraps its own.
fn cookie_of(jwt: &str) -> String {
    use base64::Engine as _;
    let json = json!({ "jwt": jwt }).to_string();
    format!(
        "session={}",
        base64::engine::general_purpose::STANDARD.encode(json)
    )
}

/// An unsigned JWT (`alg: none`) claiming `id`.
fn alg_none(id: &str, email: &str) -> String {
    use base64::Engine as _;
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = b64(json!({"alg": "none", "typ": "JWT"}));
    let claims = b64(json!({"id": id, "email": email, "iat": now, "exp": now + 3600}));
    cookie_of(&format!("{header}.{claims}."))
}

/// A JWT signed with the shop's key whose `exp` passed an hour ago.
fn expired(id: &str, email: &str) -> String {
    use jwt_simple::prelude::*;
    #[derive(Serialize, Deserialize)]
    struct User {
        id: String,
        email: String,
    }
    let mut claims = Claims::with_custom_claims(
        User {
            id: id.into(),
            email: email.into(),
        },
        jwt_simple::prelude::Duration::from_secs(60),
    );
    let now = Clock::now_since_epoch();
    claims.issued_at = Some(now - jwt_simple::prelude::Duration::from_hours(2));
    claims.invalid_before = None;
    claims.expires_at = Some(now - jwt_simple::prelude::Duration::from_hours(1));
    let jwt = HS256Key::from_bytes(support::TEST_JWT_KEY.as_bytes())
        .authenticate(claims)
        .unwrap();
    cookie_of(&jwt)
}

/// The shop, its two users and a cookie for each kind of caller.
struct Callers<'a> {
    shop: &'a Shop,
    owner: String,
    owner_id: String,
    other: String,
}

impl Callers<'_> {
    fn cookie(&self, who: Who) -> Option<String> {
        let email = "owner@example.test";
        match who {
            Who::Anonymous => None,
            Who::Owner => Some(self.owner.clone()),
            Who::Other => Some(self.other.clone()),
            Who::Forged => Some(forge_session(FOREIGN_KEY, &self.owner_id, email, 3600)),
            Who::Expired => Some(expired(&self.owner_id, email)),
            Who::AlgNone => Some(alg_none(&self.owner_id, email)),
        }
    }

    fn ticket(&self) -> String {
        let resp = self.shop.post(
            "/api/tickets",
            Some(&self.other),
            json!({"title": "Show", "price": 12.5}),
        );
        assert_eq!(resp.status, 201, "{}", resp.text);
        resp.json["id"].as_str().unwrap().to_owned()
    }

    fn owned_ticket(&self) -> String {
        let resp = self.shop.post(
            "/api/tickets",
            Some(&self.owner),
            json!({"title": "Mine", "price": 7}),
        );
        assert_eq!(resp.status, 201, "{}", resp.text);
        resp.json["id"].as_str().unwrap().to_owned()
    }

    /// Waits until the replica `table` of another service holds `id` (it learns by event).
    fn replicated(&self, table: &str, id: &str) {
        wait_until(&format!("{id} in {table}"), EVENTUAL, || {
            let sql = format!("SELECT id FROM {table} WHERE id = $1");
            self.shop.db().text(&sql, &[id]).map(drop)
        });
    }

    /// An order of the owner's, for a ticket of the other user's.
    fn owned_order(&self) -> String {
        let ticket = self.ticket();
        order(self.shop, &self.owner, &ticket)
    }
}

/// One row of the matrix: a request made fresh for each caller, and the status each gets.
struct Route {
    name: &'static str,
    request: fn(&Callers) -> (&'static str, String, Option<Value>),
    /// Anonymous, owner, other, forged, expired, alg=none.
    expected: [u16; 6],
}

const PUBLIC: [u16; 6] = [200; 6];
/// Any signed-in user may; nobody else.
const SIGNED_IN: fn(u16) -> [u16; 6] = |ok| [401, ok, ok, 401, 401, 401];
/// Only the owner may; the other user gets 401 too (docs/api.md: "401 … not the owner").
const OWNER_ONLY: fn(u16) -> [u16; 6] = |ok| [401, ok, 401, 401, 401, 401];

fn routes() -> Vec<Route> {
    vec![
        Route {
            name: "GET /api/users/currentuser",
            request: |_| ("GET", "/api/users/currentuser".into(), None),
            expected: PUBLIC,
        },
        Route {
            name: "POST /api/users/signup",
            request: |_| {
                let body = json!({"email": unique_email("matrix"), "password": "pass"});
                ("POST", "/api/users/signup".into(), Some(body))
            },
            expected: [201; 6],
        },
        Route {
            name: "GET /api/tickets",
            request: |_| ("GET", "/api/tickets".into(), None),
            expected: PUBLIC,
        },
        Route {
            name: "GET /api/tickets/:id",
            request: |c| ("GET", format!("/api/tickets/{}", c.ticket()), None),
            expected: PUBLIC,
        },
        Route {
            name: "POST /api/tickets",
            request: |_| {
                let body = json!({"title": "Matrix", "price": 3});
                ("POST", "/api/tickets".into(), Some(body))
            },
            expected: SIGNED_IN(201),
        },
        Route {
            name: "PUT /api/tickets/:id",
            request: |c| {
                let body = json!({"title": "Edited", "price": 4});
                (
                    "PUT",
                    format!("/api/tickets/{}", c.owned_ticket()),
                    Some(body),
                )
            },
            expected: OWNER_ONLY(200),
        },
        Route {
            name: "POST /api/orders",
            request: |c| {
                let ticket = c.ticket();
                c.replicated("orders_tickets", &ticket);
                (
                    "POST",
                    "/api/orders".into(),
                    Some(json!({"ticketId": ticket})),
                )
            },
            expected: SIGNED_IN(201),
        },
        Route {
            name: "GET /api/orders",
            request: |_| ("GET", "/api/orders".into(), None),
            expected: SIGNED_IN(200),
        },
        Route {
            name: "GET /api/orders/:id",
            request: |c| ("GET", format!("/api/orders/{}", c.owned_order()), None),
            expected: OWNER_ONLY(200),
        },
        Route {
            name: "DELETE /api/orders/:id",
            request: |c| ("DELETE", format!("/api/orders/{}", c.owned_order()), None),
            expected: OWNER_ONLY(204),
        },
        Route {
            name: "POST /api/payments",
            request: |c| {
                let order = c.owned_order();
                c.replicated("payments_orders", &order);
                let body = json!({"token": "tok_visa", "orderId": order});
                ("POST", "/api/payments".into(), Some(body))
            },
            expected: OWNER_ONLY(201),
        },
        // Last: signing out revokes the owner's and the other user's sessions.
        Route {
            name: "POST /api/users/signout",
            request: |_| ("POST", "/api/users/signout".into(), Some(json!({}))),
            expected: PUBLIC,
        },
    ]
}

/// Every route × every kind of caller: the status the contract says, a JSON error body on
/// every refusal, and never a 5xx.
#[test]
fn the_authorisation_matrix_holds_on_every_route() {
    let stripe = FakeStripe::start();
    // The owner places an order for every route and caller: the fairness cap on live
    // reservations (tests/purchase.rs) is not what this test is about.
    let variables = stripe
        .variables()
        .into_iter()
        .chain([("max_live_reservations".to_owned(), "1000".to_owned())])
        .collect();
    let shop = Shop::start_with(ShopOptions {
        variables,
        ..Default::default()
    });
    let (owner, owner_id) = shop.signup(&unique_email("owner"), "pass");
    let (other, _) = shop.signup(&unique_email("other"), "pass");
    let callers = Callers {
        shop: &shop,
        owner,
        owner_id,
        other,
    };
    let mut wrong = Vec::new();
    for route in routes() {
        for (who, expected) in EVERYONE.into_iter().zip(route.expected) {
            let (method, path, body) = (route.request)(&callers);
            let cookie = callers.cookie(who);
            let resp = match body {
                Some(body) => {
                    shop.request(method, &path, cookie.as_deref(), support::Body::Json(body))
                }
                None => shop.request(method, &path, cookie.as_deref(), support::Body::None),
            };
            assert!(
                resp.status < 500,
                "{} as {who:?}: {} {}",
                route.name,
                resp.status,
                resp.text
            );
            if resp.status >= 400 {
                assert!(
                    resp.json["errors"][0]["message"].is_string(),
                    "{} as {who:?}: not the JSON error shape: {}",
                    route.name,
                    resp.text
                );
            }
            if resp.status != expected {
                wrong.push(format!(
                    "{} as {who:?}: {} (expected {expected}) {}",
                    route.name, resp.status, resp.text
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the matrix does not hold:\n{}",
        wrong.join("\n")
    );
}

/// Sign-out ends the session on the server: a copy of the cookie kept by whoever had it
/// opens nothing afterwards, in any service, while the user's other sessions stay.
#[test]
fn signing_out_revokes_the_session_in_every_service() {
    let shop = Shop::start();
    let email = unique_email("leaver");
    let (kept_copy, _) = shop.signup(&email, "pass");
    let signin = shop.post(
        "/api/users/signin",
        None,
        json!({"email": email, "password": "pass"}),
    );
    let other_device = signin.session_cookie().expect("a session cookie");
    let sell = |cookie: &str| {
        shop.post(
            "/api/tickets",
            Some(cookie),
            json!({"title": "x", "price": 1}),
        )
        .status
    };
    assert_eq!(sell(&kept_copy), 201);

    let out = shop.post("/api/users/signout", Some(&kept_copy), json!({}));
    assert_eq!(out.status, 200, "{}", out.text);
    let me = shop.get("/api/users/currentuser", Some(&kept_copy));
    assert_eq!(me.json["currentUser"], Value::Null, "{}", me.text);
    assert_eq!(sell(&kept_copy), 401);
    assert_eq!(shop.get("/api/orders", Some(&kept_copy)).status, 401);
    assert_eq!(sell(&other_device), 201, "the other session stays");
}

/// Bad input never gets in: malformed, oversized, deeply nested, out-of-range or wrongly
/// typed bodies, malformed ids and cookies, unknown routes and methods. Every answer is a
/// 4xx with the JSON error body; none is a 5xx.
#[test]
fn bad_input_is_a_4xx_with_the_json_error_shape() {
    let shop = Shop::shared();
    let (cookie, _) = shop.signup(&unique_email("bad-input"), "pass");
    let ticket_id = sell(shop, &cookie);
    let deep = format!("{{\"email\":{}1{}}}", "[".repeat(40), "]".repeat(40));
    let long = |n: usize| "x".repeat(n);
    let text = |t: &str| support::Body::Raw(t.as_bytes().to_vec());
    let huge_cookie = format!("session={}", long(8000));
    // (method, path, cookie, body), grouped by route.
    let mut cases: Vec<(&str, String, Option<&str>, support::Body)> = Vec::new();
    let signup = [
        text("{"),
        text("[1,2]"),
        text(&deep),
        support::Body::Raw(vec![0xff, 0xfe, b'{']),
        support::Body::Raw(vec![b' '; 70 * 1024]),
        support::Body::Json(json!({"email": format!("{}@x.io", long(1000)), "password": "pass"})),
        support::Body::Json(json!({"email": 5, "password": ["p"]})),
        support::Body::Json(json!({"email": "a@b.io", "password": long(129)})),
    ];
    for body in signup {
        cases.push(("POST", "/api/users/signup".into(), None, body));
    }
    let signin = json!({"email": "a@b.io", "password": long(100_000)});
    cases.push((
        "POST",
        "/api/users/signin".into(),
        None,
        support::Body::Json(signin),
    ));
    let tickets = [
        json!({"title": "t", "price": -1}),
        json!({"title": "t", "price": 0}),
        json!({"title": "t", "price": 1_000_000.01}),
        // Stripe charges no less than $0.50 and no more than $999,999.99.
        json!({"title": "t", "price": 0.49}),
        json!({"title": "t", "price": 1_000_000}),
        json!({"title": "t", "price": 1.005}),
        json!({"title": "t", "price": "12"}),
        json!({"title": long(201), "price": 1}),
        json!({"title": "   ", "price": 1}),
        json!({}),
    ];
    for body in tickets {
        cases.push((
            "POST",
            "/api/tickets".into(),
            Some(&cookie),
            support::Body::Json(body),
        ));
    }
    let overflow = text(r#"{"title": "t", "price": 1e400}"#);
    cases.push(("POST", "/api/tickets".into(), Some(&cookie), overflow));
    for cookie in ["session=%%%not-base64", huge_cookie.as_str()] {
        let body = support::Body::Json(json!({"title": "t", "price": 1}));
        cases.push(("POST", "/api/tickets".into(), Some(cookie), body));
    }
    let edits = [
        (
            format!("/api/tickets/{ticket_id}"),
            json!({"title": "t", "price": 1e9}),
        ),
        (
            "/api/tickets/not-an-id".into(),
            json!({"title": "t", "price": 1}),
        ),
    ];
    for (path, body) in edits {
        cases.push(("PUT", path, Some(&cookie), support::Body::Json(body)));
    }
    let orders = [
        json!({"ticketId": "not-an-id"}),
        json!({"ticketId": long(300)}),
        json!({"ticketId": 42}),
    ];
    for body in orders {
        cases.push((
            "POST",
            "/api/orders".into(),
            Some(&cookie),
            support::Body::Json(body),
        ));
    }
    let payments = [
        json!({"token": long(300), "orderId": "f".repeat(24)}),
        json!({"token": "tok_visa", "orderId": "../x"}),
    ];
    for body in payments {
        cases.push((
            "POST",
            "/api/payments".into(),
            Some(&cookie),
            support::Body::Json(body),
        ));
    }
    let reads = [
        ("GET", "/api/tickets/not-an-id".to_owned(), None),
        ("GET", format!("/api/tickets/{}", long(2000)), None),
        ("GET", "/api/tickets/%00%ff".into(), None),
        ("GET", "/api/orders/not-an-id".into(), Some(cookie.as_str())),
        (
            "DELETE",
            "/api/orders/not-an-id".into(),
            Some(cookie.as_str()),
        ),
        ("GET", "/api/nothing/here".into(), None),
    ];
    for (method, path, cookie) in reads {
        cases.push((method, path, cookie, support::Body::None));
    }
    cases.push((
        "PATCH",
        "/api/tickets".into(),
        Some(&cookie),
        support::Body::Json(json!({})),
    ));
    cases.push(("POST", "/internal/events/orders".into(), None, text("{")));
    let mut wrong = Vec::new();
    for (method, path, cookie, body) in cases {
        let what = format!("{method} {}", &path[..path.len().min(60)]);
        let resp = shop.request(method, &path, cookie, body);
        let json_error = resp.json["errors"][0]["message"].is_string();
        if !(400..500).contains(&resp.status) || !json_error {
            wrong.push(format!(
                "{what}: {} {}",
                resp.status,
                &resp.text[..resp.text.len().min(200)]
            ));
        }
    }
    // Request heads past the runtime's bounds get a JSON 431 before any component runs.
    let many: Vec<(String, String)> = (0..150).map(|i| (format!("x-h{i}"), "v".into())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let huge = long(100 * 1024);
    for (what, headers) in [
        ("150 headers", many),
        ("a 100 KiB header", vec![("x-big", huge.as_str())]),
    ] {
        let resp = send("GET", &shop.url("/api/tickets"), &headers, None);
        if resp.status != 431 || !resp.json["errors"][0]["message"].is_string() {
            wrong.push(format!("{what}: {} {}", resp.status, resp.text));
        }
    }
    assert!(
        wrong.is_empty(),
        "bad input got through:\n{}",
        wrong.join("\n")
    );
}

/// A free port on 127.0.0.1 (free when asked; the caller binds it next).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `spin up` beside `boxoffice broker`, as the README shows it: the broker makes the event
/// keys in its state dir and writes them to `app.env` (mode 0600), the app is started with
/// that file's variables, and the signed flow works through the standalone broker.
#[test]
fn an_app_beside_a_standalone_broker_signs_with_the_keys_the_broker_made() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let app = format!("127.0.0.1:{}", free_port());
    let broker = support::Runtime::start_broker(
        &dir.path().join("broker"),
        &format!("http://{app}"),
        &format!("127.0.0.1:{}", free_port()),
        &support::workspace_root().join("events.toml"),
        &[],
        &[],
    );
    let env_file = dir.path().join("broker/app.env");
    broker.wait_for_log("app.env");
    let mode = std::fs::metadata(&env_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let lines = std::fs::read_to_string(&env_file).expect("the broker wrote the app's keys");
    let mut variables: Vec<(String, String)> = lines
        .lines()
        .map(|line| {
            let (name, value) = line.split_once('=').expect("NAME=value");
            let name = name
                .strip_prefix("SPIN_VARIABLE_")
                .expect("a Spin variable");
            (name.to_lowercase(), value.to_owned())
        })
        .collect();
    assert_eq!(
        variables.len(),
        8,
        "7 publishers and the public keys: {lines}"
    );
    variables.push(("broker_url".into(), broker.base.clone()));
    let shop = Shop::start_with(ShopOptions {
        variables,
        kept_keys: true,
        listen: Some(app),
        ..Default::default()
    });
    let (seller, _) = shop.signup(&unique_email("seller"), "pass");
    let (buyer, _) = shop.signup(&unique_email("buyer"), "pass");
    let ticket_id = sell(&shop, &seller);
    // Orders learns of the ticket only through the standalone broker.
    order(&shop, &buyer, &ticket_id);
    let accepted = broker.stderr();
    assert!(!accepted.contains("refused"), "{accepted}");
}

/// `boxoffice events keys`, as the README's Kubernetes section runs it: a fresh signing key
/// per publisher, one given in the environment kept, and the public keys of them all.
#[test]
fn events_keys_prints_a_set_whose_public_keys_match() {
    let given = "1f".repeat(32);
    let run = |env: &[(&str, &str)]| {
        let out = support::boxoffice()
            .args(["events", "keys"])
            .envs(env.iter().copied())
            .output()
            .expect("run boxoffice events keys");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        text.lines()
            .map(|line| {
                let (name, value) = line.split_once('=').expect("NAME=value");
                (name.to_owned(), value.to_owned())
            })
            .collect::<std::collections::BTreeMap<String, String>>()
    };
    let first = run(&[("SPIN_VARIABLE_ORDERS_EVENTS_KEY", &given)]);
    assert_eq!(first.len(), 8, "{first:#?}");
    assert_eq!(
        first["SPIN_VARIABLE_ORDERS_EVENTS_KEY"], given,
        "the given key is kept"
    );
    let public = support::PublicKeys::parse(&first["SPIN_VARIABLE_EVENTS_PUBLIC_KEYS"]).unwrap();
    for (name, seed) in &first {
        let Some(service) = name
            .strip_prefix("SPIN_VARIABLE_")
            .and_then(|n| n.strip_suffix("_EVENTS_KEY"))
        else {
            continue;
        };
        let key = SigningKey::parse(seed).expect("a seed");
        assert!(public.lists(&service.to_lowercase(), &key), "{service}");
    }
    let second = run(&[]);
    assert_ne!(
        first["SPIN_VARIABLE_PAYMENTS_EVENTS_KEY"], second["SPIN_VARIABLE_PAYMENTS_EVENTS_KEY"],
        "a fresh set each time"
    );
}
