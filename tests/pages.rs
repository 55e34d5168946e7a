//! End to end: the pages of the web component under the real runtime, read and posted over
//! HTTP as a browser would (`Accept: text/html`, form posts with an `Origin`). What only a
//! browser can show (scripts, focus, layout, accessibility) is in `tests/browser.rs`.

use boxoffice_testkit as support;

use serde_json::json;
use support::{unique_email, Body, Shop};

const BROWSER: (&str, &str) = ("accept", "text/html,application/xhtml+xml,*/*;q=0.8");

fn page(shop: &Shop, path: &str, cookie: Option<&str>) -> support::Resp {
    shop.request_with("GET", path, cookie, Body::None, &[BROWSER])
}

/// A form post from a page of the shop itself (`origin` none), or from `origin`.
fn post_form(
    shop: &Shop,
    path: &str,
    cookie: Option<&str>,
    fields: &[(&str, &str)],
    origin: Option<&str>,
) -> support::Resp {
    let fields = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let origin = origin.unwrap_or(&shop.base);
    let headers = [BROWSER, ("origin", origin)];
    shop.request_with("POST", path, cookie, Body::Form(fields), &headers)
}

/// The form token on the sell page of the session `cookie` carries.
fn form_token(shop: &Shop, cookie: &str) -> String {
    let sell = page(shop, "/sell", Some(cookie));
    assert_eq!(sell.status, 200, "{}", sell.text);
    sell.text
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a form token")
        .to_owned()
}

fn location(resp: &support::Resp) -> &str {
    resp.headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn listed(shop: &Shop, title: &str) -> bool {
    let tickets = shop.get("/api/tickets", None);
    tickets
        .json
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["title"] == title)
}

#[test]
fn the_listing_shows_what_is_on_sale_escaped_with_a_strict_policy() {
    let shop = Shop::shared();
    let (seller, _) = shop.signup(&unique_email("seller"), "pass");
    let title = format!("<img src=x onerror=alert(1)> & {}", unique_email("t"));
    let sold = shop.post(
        "/api/tickets",
        Some(&seller),
        json!({"title": title, "price": 42.5}),
    );
    assert_eq!(sold.status, 201, "{}", sold.text);

    let listing = page(shop, "/", None);
    assert_eq!(listing.status, 200, "{}", listing.text);
    let header = |name: &str| {
        listing
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(header("content-type").starts_with("text/html"));
    let csp = header("content-security-policy");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(header("cache-control"), "no-store");
    let escaped = title
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    assert!(listing.text.contains(&escaped), "{}", listing.text);
    assert!(!listing.text.contains("<img src=x"));
    assert!(listing.text.contains("$42.50"));
    assert!(listing.text.contains("<html lang=\"en\">"));

    // The stylesheet it links is served, under a name that changes with its content.
    let href = listing
        .text
        .split("href=\"/assets/style-")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(|name| format!("/assets/style-{name}"))
        .expect("a stylesheet link");
    let css = page(shop, &href, None);
    assert_eq!(css.status, 200);
    assert!(css.headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    assert!(css.text.contains("font-family"));
    assert_eq!(
        page(shop, "/assets/style-0000000000000000.css", None).status,
        404
    );
    // So are the script and the icon; the policy lets the page load nothing else.
    for (prefix, kind) in [
        ("/assets/app-", "text/javascript"),
        ("/assets/icon-", "image/svg+xml"),
    ] {
        let path = listing
            .text
            .split(&format!("\"{prefix}"))
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .map(|name| format!("{prefix}{name}"))
            .unwrap_or_else(|| panic!("no {prefix} link"));
        let asset = page(shop, &path, None);
        assert_eq!(asset.status, 200, "{path}");
        assert!(asset.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with(kind));
    }
    assert!(!listing.text.contains("js.stripe.com"));
    assert!(csp.contains("script-src 'self';"), "{csp}");
}

#[test]
fn the_header_names_the_signed_in_shopper() {
    let shop = Shop::shared();
    let email = unique_email("buyer");
    let (cookie, _) = shop.signup(&email, "pass");
    let signed_in = page(shop, "/", Some(&cookie));
    assert!(
        signed_in
            .text
            .contains(&format!("Signed in as <strong>{email}</strong>")),
        "{}",
        signed_in.text
    );
    let anonymous = page(shop, "/", None);
    assert!(!anonymous.text.contains("Signed in as"));
}

#[test]
fn unknown_paths_are_a_page_for_browsers_and_json_for_the_rest() {
    let shop = Shop::shared();
    let html = page(shop, "/no/such/page", None);
    assert_eq!(html.status, 404);
    assert!(html.text.contains("Page not found"), "{}", html.text);
    let api = shop.get("/no/such/page", None);
    assert_eq!(api.status, 404);
    assert_eq!(api.error_messages(), vec!["Route not found"]);
    // A JSON client asking for the root gets the page too: it is a page route.
    assert_eq!(shop.get("/", None).status, 200);
}

#[test]
fn the_pages_render_and_take_forms_on_a_wasmcloud_host_too() {
    let Some(backend) = support::wasmcloud::backend() else {
        return;
    };
    let shop = Shop::start_with(support::ShopOptions {
        backend,
        ..Default::default()
    });
    let (seller, _) = shop.signup(&unique_email("seller"), "pass");
    let sold = shop.post(
        "/api/tickets",
        Some(&seller),
        json!({"title": "Jazz night", "price": 30}),
    );
    assert_eq!(sold.status, 201, "{}", sold.text);
    let listing = page(&shop, "/", Some(&seller));
    assert_eq!(listing.status, 200, "{}", listing.text);
    assert!(listing.text.contains("Jazz night") && listing.text.contains("$30.00"));
    assert!(listing.text.contains("Signed in as"), "{}", listing.text);

    // Forms go through the gateway: the origin check sees the shop's host.
    let email = unique_email("web");
    let fields = [
        ("email", email.as_str()),
        ("password", "pass"),
        ("next", "/sell"),
    ];
    let signed_up = post_form(&shop, "/signup", None, &fields, None);
    assert_eq!(signed_up.status, 303, "{}", signed_up.text);
    assert_eq!(location(&signed_up), "/sell");
    let cookie = signed_up.session_cookie().expect("a session cookie");
    let token = form_token(&shop, &cookie);
    let fields = [("title", "Blues"), ("price", "0"), ("csrf", token.as_str())];
    let refused = post_form(&shop, "/sell", Some(&cookie), &fields, None);
    assert_eq!(refused.status, 400);
    assert!(
        refused.text.contains("Price must be greater than 0"),
        "{}",
        refused.text
    );
    let fields = [
        ("title", "Blues"),
        ("price", "25"),
        ("csrf", token.as_str()),
    ];
    let sold = post_form(&shop, "/sell", Some(&cookie), &fields, None);
    assert_eq!(sold.status, 303, "{}", sold.text);
    let ticket = page(&shop, location(&sold), Some(&cookie));
    assert!(
        ticket.text.contains("This is your ticket."),
        "{}",
        ticket.text
    );
    let forged = post_form(
        &shop,
        "/sell",
        Some(&cookie),
        &fields,
        Some("http://evil.test"),
    );
    assert_eq!(forged.status, 403);
}

#[test]
fn a_form_post_from_another_site_or_without_the_sessions_token_changes_nothing() {
    let shop = Shop::shared();
    let (seller, _) = shop.signup(&unique_email("seller"), "pass");
    let token = form_token(shop, &seller);
    let (other, _) = shop.signup(&unique_email("other"), "pass");
    let others_token = form_token(shop, &other);
    let title = unique_email("forged");
    let other_site = "sent from another site";
    let other_session = "belongs to another session";
    for (why, origin, token, refusal) in [
        ("another site", Some("http://evil.test"), &token, other_site),
        (
            "a look-alike host",
            Some("http://127.0.0.1.evil.test"),
            &token,
            other_site,
        ),
        ("an opaque origin", Some("null"), &token, other_site),
        ("no token", None, &String::new(), other_session),
        (
            "another session's token",
            None,
            &others_token,
            other_session,
        ),
    ] {
        let fields = [("title", title.as_str()), ("price", "5"), ("csrf", token)];
        let refused = post_form(shop, "/sell", Some(&seller), &fields, origin);
        assert_eq!(refused.status, 403, "{why}: {}", refused.text);
        assert!(refused.text.contains(refusal), "{why}: {}", refused.text);
        assert!(!listed(shop, &title), "{why}: the ticket was put on sale");
    }
    // With neither Origin nor Referer, nothing is done either.
    let body = Body::Form(vec![
        ("title".into(), title.clone()),
        ("price".into(), "5".into()),
        ("csrf".into(), token.clone()),
    ]);
    let bare = shop.request_with("POST", "/sell", Some(&seller), body, &[BROWSER]);
    assert_eq!(bare.status, 403, "{}", bare.text);

    let fields = [
        ("title", title.as_str()),
        ("price", "5"),
        ("csrf", token.as_str()),
    ];
    let sold = post_form(shop, "/sell", Some(&seller), &fields, None);
    assert_eq!(sold.status, 303, "{}", sold.text);
    assert!(
        location(&sold).starts_with("/tickets/"),
        "{:?}",
        sold.headers
    );
    assert!(listed(shop, &title));
}

#[test]
fn signing_in_goes_back_only_to_a_page_of_this_shop() {
    let shop = Shop::shared();
    let email = unique_email("next");
    shop.signup(&email, "pass");
    for (next, expected) in [
        ("/orders", "/orders"),
        ("//evil.test/x", "/"),
        ("https://evil.test", "/"),
    ] {
        let fields = [
            ("email", email.as_str()),
            ("password", "pass"),
            ("next", next),
        ];
        let signed_in = post_form(shop, "/signin", None, &fields, None);
        assert_eq!(signed_in.status, 303, "{}", signed_in.text);
        assert_eq!(location(&signed_in), expected, "next={next}");
        let cookie = signed_in.session_cookie().expect("a session cookie");
        assert!(page(shop, "/", Some(&cookie)).text.contains(&email));
    }
    // A signed-out visit to a page that needs a session asks for one, and comes back.
    let orders = page(shop, "/orders", None);
    assert_eq!(
        (orders.status, location(&orders)),
        (303, "/signin?next=%2Forders")
    );
}

#[test]
fn nobody_sees_another_shoppers_order_and_unknown_ids_are_a_404_page() {
    let shop = Shop::shared();
    let (seller, _) = shop.signup(&unique_email("seller"), "pass");
    let (ada, _) = shop.signup(&unique_email("ada"), "pass");
    let (bob, _) = shop.signup(&unique_email("bob"), "pass");
    let title = unique_email("private");
    let ticket = shop.post(
        "/api/tickets",
        Some(&seller),
        json!({"title": title, "price": 9}),
    );
    let order = shop.order_when_known(&ada, ticket.json["id"].as_str().unwrap());
    let path = format!("/orders/{}", order.json["id"].as_str().unwrap());
    assert!(page(shop, &path, Some(&ada)).text.contains(&title));
    for (who, cookie) in [("bob", Some(bob.as_str())), ("nobody", None)] {
        let seen = page(shop, &path, cookie);
        assert!(!seen.text.contains(&title), "{who} sees Ada's order");
        assert!(matches!(seen.status, 303 | 404), "{who}: {}", seen.status);
    }
    assert!(!page(shop, "/orders", Some(&bob)).text.contains(&title));
    for path in [
        "/orders/0123456789abcdef01234567",
        "/tickets/nope",
        "/tickets/..%2Fapi/edit",
    ] {
        let missing = page(shop, path, Some(&bob));
        assert_eq!(missing.status, 404, "{path}");
        assert!(
            missing.text.contains("Page not found"),
            "{path}: {}",
            missing.text
        );
    }
}

#[test]
fn a_publishable_stripe_key_brings_stripe_elements_to_the_payment_form_only() {
    let shop = Shop::start_with(support::ShopOptions {
        variables: vec![("stripe_publishable_key".into(), "pk_test_boxoffice".into())],
        ..Default::default()
    });
    let (seller, _) = shop.signup(&unique_email("seller"), "pass");
    let (buyer, _) = shop.signup(&unique_email("buyer"), "pass");
    let ticket = shop.post(
        "/api/tickets",
        Some(&seller),
        json!({"title": "Gala", "price": 80}),
    );
    let order = shop.order_when_known(&buyer, ticket.json["id"].as_str().unwrap());
    let pay = page(
        &shop,
        &format!("/orders/{}", order.json["id"].as_str().unwrap()),
        Some(&buyer),
    );
    assert_eq!(pay.status, 200, "{}", pay.text);
    assert!(pay
        .text
        .contains(r#"<script src="https://js.stripe.com/v3/"></script>"#));
    assert!(pay.text.contains(r#"data-stripe-key="pk_test_boxoffice""#));
    assert!(!pay.text.contains("tok_visa"));
    let csp = pay.headers["content-security-policy"].to_str().unwrap();
    // Exactly the origins of Stripe's security guide for Stripe.js, its frames and its API.
    for directive in [
        "script-src 'self' https://js.stripe.com https://*.js.stripe.com;",
        "frame-src https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com;",
        "connect-src https://api.stripe.com;",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    // Every other page keeps the strict policy and loads nothing from Stripe.
    let listing = page(&shop, "/", Some(&buyer));
    assert!(!listing.text.contains("js.stripe.com"));
    assert!(!listing.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("stripe"));
}

// The goods shop's pages. The cart's tests need only the cart (its products come from a
// `product:created` published here as the catalog would); the others need the catalog,
// ratings and shipping services as well.

/// A SKU no other test uses.
fn unique_sku(tag: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{tag}-{}-{n}", std::process::id())
}

/// The `name=value` pair of the `set-cookie` for `name` that `resp` carries, if any.
fn set_cookie(resp: &support::Resp, name: &str) -> Option<String> {
    resp.set_cookies()
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap_or_default().to_owned())
}

/// Both cookies, as a browser would send them.
fn cookies(session: &str, cart: &str) -> String {
    format!("{session}; {cart}")
}

/// A product the cart knows: published as the catalog publishes a new one. Returns its SKU.
fn product_in_the_carts_replica(shop: &Shop, name: &str, price: f64, stock: i64) -> String {
    let sku = unique_sku("WEB");
    let broker = shop.runtime().broker.clone().expect("up runs a broker");
    let data = json!({"sku": sku, "version": 0, "name": name, "price": price,
                      "stock": stock, "userId": "5e11e5000000000000000001"});
    let published = support::publish(&broker, "product:created", &unique_sku("ev"), &data);
    assert!(published.status / 100 == 2, "{}", published.text);
    sku
}

/// Adds `quantity` of `sku` through the product page's cart form, retrying while the
/// cart's replica has not heard of the product yet.
fn add_to_cart(shop: &Shop, cookie: Option<&str>, sku: &str, quantity: &str) -> support::Resp {
    let path = format!("/shop/products/{sku}/cart");
    support::wait_until(
        "the cart's replica of the product",
        support::EVENTUAL,
        || {
            let mut fields = vec![("quantity", quantity)];
            let token = cookie
                .filter(|c| c.contains("session="))
                .map(|c| form_token(shop, c));
            if let Some(token) = &token {
                fields.push(("csrf", token));
            }
            let added = post_form(shop, &path, cookie, &fields, None);
            (added.status != 404).then_some(added)
        },
    )
}

/// Lists a product through the catalog's API as `seller`; returns its SKU.
fn list_product(
    shop: &Shop,
    seller: &str,
    name: &str,
    price: f64,
    stock: i64,
    category: &str,
) -> String {
    let sku = unique_sku("SHOP");
    let listed = shop.post(
        "/api/products",
        Some(seller),
        json!({"sku": sku, "name": name, "description": format!("All about {name}"),
               "price": price, "stock": stock, "categories": [category]}),
    );
    assert_eq!(listed.status, 201, "{}", listed.text);
    listed.json["sku"].as_str().unwrap_or(&sku).to_owned()
}

#[test]
fn a_visitors_cart_takes_products_and_follows_them_when_they_sign_in() {
    let shop = Shop::shared();
    let name = format!("Mug <b> {}", unique_sku("n"));
    let sku = product_in_the_carts_replica(shop, &name, 12.5, 5);

    let empty = page(shop, "/cart", None);
    assert_eq!(empty.status, 200, "{}", empty.text);
    assert!(empty.text.contains("Your cart is empty"), "{}", empty.text);

    // Signed out: the cart's own cookie comes back with the first product.
    let added = add_to_cart(shop, None, &sku, "2");
    assert_eq!(
        (added.status, location(&added)),
        (303, "/cart"),
        "{}",
        added.text
    );
    let cart = set_cookie(&added, "cart").expect("a cart cookie for the visitor");
    let shown = page(shop, "/cart", Some(&cart));
    assert_eq!(shown.status, 200, "{}", shown.text);
    let escaped = name
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    assert!(
        shown.text.contains(&escaped) && !shown.text.contains("<b>"),
        "{}",
        shown.text
    );
    assert!(shown.text.contains(r#"value="2""#) && shown.text.contains("$25.00"));
    assert!(shown.text.contains("Tax ("), "{}", shown.text);

    // Lines change through their forms; the API's refusals show on the cart.
    let line = format!("/cart/items/{sku}");
    let changed = post_form(shop, &line, Some(&cart), &[("quantity", "1")], None);
    assert_eq!((changed.status, location(&changed)), (303, "/cart"));
    assert!(page(shop, "/cart", Some(&cart)).text.contains("$12.50"));
    let refused = post_form(shop, &line, Some(&cart), &[("quantity", "lots")], None);
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(refused.text.contains(r#"role="alert""#), "{}", refused.text);
    let forged = post_form(
        shop,
        &line,
        Some(&cart),
        &[("quantity", "9")],
        Some("http://evil.test"),
    );
    assert_eq!(forged.status, 403);

    // Checking out signed out asks for a session, and comes back to the cart.
    let checkout = post_form(shop, "/cart/checkout", Some(&cart), &[], None);
    assert_eq!(
        (checkout.status, location(&checkout)),
        (303, "/signin?next=%2Fcart")
    );
    let email = unique_email("cart");
    shop.signup(&email, "pass");
    let fields = [
        ("email", email.as_str()),
        ("password", "pass"),
        ("next", "/cart"),
    ];
    let signed_in = post_form(shop, "/signin", Some(&cart), &fields, None);
    assert_eq!((signed_in.status, location(&signed_in)), (303, "/cart"));
    let session = signed_in.session_cookie().expect("a session cookie");

    // The first cart page after signing in moves the visitor's cart into the shopper's and
    // clears the visitor's cookie.
    let merged = page(shop, "/cart", Some(&cookies(&session, &cart)));
    assert_eq!(merged.status, 200, "{}", merged.text);
    assert!(merged.text.contains(&escaped), "{}", merged.text);
    assert_eq!(
        set_cookie(&merged, "cart").as_deref(),
        Some("cart="),
        "{:?}",
        merged.headers
    );
    let theirs = page(shop, "/cart", Some(&session));
    assert!(theirs.text.contains(&escaped), "{}", theirs.text);

    // Signed in, a post needs the session's token.
    let token = form_token(shop, &session);
    let untokened = post_form(shop, &line, Some(&session), &[("quantity", "3")], None);
    assert_eq!(untokened.status, 403);
    // Checkout without shipping is refused with the API's words, on the cart.
    let no_city = post_form(
        shop,
        "/cart/checkout",
        Some(&session),
        &[("csrf", &token)],
        None,
    );
    assert_eq!(no_city.status, 400, "{}", no_city.text);
    assert!(no_city.text.contains("Your cart"), "{}", no_city.text);
    assert!(
        no_city.text.contains("Choose where to ship"),
        "{}",
        no_city.text
    );

    let removed = post_form(
        shop,
        &format!("{line}/remove"),
        Some(&session),
        &[("csrf", &token)],
        None,
    );
    assert_eq!((removed.status, location(&removed)), (303, "/cart"));
    assert!(page(shop, "/cart", Some(&session))
        .text
        .contains("Your cart is empty"));
}

#[test]
fn purchases_need_a_session_and_are_their_buyers_alone() {
    let shop = Shop::shared();
    let purchases = page(shop, "/purchases", None);
    assert_eq!(
        (purchases.status, location(&purchases)),
        (303, "/signin?next=%2Fpurchases")
    );
    let (bob, _) = shop.signup(&unique_email("bob"), "pass");
    let mine = page(shop, "/purchases", Some(&bob));
    assert_eq!(mine.status, 200, "{}", mine.text);
    assert!(mine.text.contains("no purchases yet"), "{}", mine.text);
    for path in [
        "/purchases/0123456789abcdef01234567",
        "/purchases/..%2Fcart",
        "/purchases/0123456789abcdef01234567/paid",
    ] {
        let missing = page(shop, path, Some(&bob));
        assert_eq!(missing.status, 404, "{path}: {}", missing.text);
        assert!(missing.text.contains("Page not found"), "{path}");
    }
}

// Needs the shipping service (the cities and their quotes).
#[test]
fn a_cart_checks_out_to_a_purchase_its_buyer_alone_sees_and_may_cancel() {
    let shop = Shop::shared();
    let name = format!("Teapot {}", unique_sku("n"));
    let sku = product_in_the_carts_replica(shop, &name, 30.0, 2);
    let (ada, _) = shop.signup(&unique_email("ada"), "pass");
    let (bob, _) = shop.signup(&unique_email("bob"), "pass");
    let token = form_token(shop, &ada);

    // Bob puts one in his cart before Ada takes both.
    let bobs = add_to_cart(shop, Some(&bob), &sku, "1");
    assert_eq!(bobs.status, 303, "{}", bobs.text);
    let added = add_to_cart(shop, Some(&ada), &sku, "2");
    assert_eq!(
        (added.status, location(&added)),
        (303, "/cart"),
        "{}",
        added.text
    );

    let cities = shop.get("/api/shipping/cities", None);
    assert_eq!(cities.status, 200, "{}", cities.text);
    let city = cities.json[0]["code"].as_str().expect("a city").to_owned();
    let city_name = cities.json[0]["name"].as_str().unwrap().to_owned();
    let cart = page(shop, "/cart", Some(&ada));
    assert!(
        cart.text.contains(&format!(r#"<option value="{city}""#)),
        "{}",
        cart.text
    );
    let shipped = post_form(
        shop,
        "/cart/shipping",
        Some(&ada),
        &[("city", &city), ("csrf", &token)],
        None,
    );
    assert_eq!(
        (shipped.status, location(&shipped)),
        (303, "/cart"),
        "{}",
        shipped.text
    );
    let cart = page(shop, "/cart", Some(&ada));
    assert!(
        cart.text.contains(&format!("Ships to <strong>{city_name}")),
        "{}",
        cart.text
    );
    assert!(cart
        .text
        .contains(&format!(r#"<option value="{city}" selected>"#)));
    let unknown = post_form(
        shop,
        "/cart/shipping",
        Some(&ada),
        &[("city", "atlantis"), ("csrf", &token)],
        None,
    );
    assert_eq!(unknown.status, 400, "{}", unknown.text);

    let checkout = post_form(
        shop,
        "/cart/checkout",
        Some(&ada),
        &[("csrf", &token)],
        None,
    );
    assert_eq!(checkout.status, 303, "{}", checkout.text);
    let path = location(&checkout).to_owned();
    assert!(path.starts_with("/purchases/"), "{path}");
    let purchase = page(shop, &path, Some(&ada));
    assert_eq!(purchase.status, 200, "{}", purchase.text);
    assert!(purchase.text.contains(&name) && purchase.text.contains("2 × $30.00"));
    assert!(
        purchase.text.contains("Time left to pay") && purchase.text.contains(r#"value="tok_visa""#)
    );
    assert!(purchase.text.contains(&format!(r#"action="{path}/pay""#)));
    assert!(page(shop, "/purchases", Some(&ada)).text.contains(&path));
    assert!(page(shop, "/cart", Some(&ada))
        .text
        .contains("Your cart is empty"));

    // Nobody else sees it.
    let bobs_view = page(shop, &path, Some(&bob));
    assert_eq!(bobs_view.status, 404);
    assert!(!bobs_view.text.contains(&name));
    assert!(!page(shop, "/purchases", Some(&bob)).text.contains(&path));
    assert_eq!(page(shop, &path, None).status, 303);

    // Bob's line is now more than is left: checkout says so on his cart.
    let bob_token = form_token(shop, &bob);
    post_form(
        shop,
        "/cart/shipping",
        Some(&bob),
        &[("city", &city), ("csrf", &bob_token)],
        None,
    );
    let short = post_form(
        shop,
        "/cart/checkout",
        Some(&bob),
        &[("csrf", &bob_token)],
        None,
    );
    assert_eq!(short.status, 400, "{}", short.text);
    assert!(
        short.text.contains(&format!("{name} is out of stock")),
        "{}",
        short.text
    );

    // Ada cancels (not from another site, not without her token).
    let cancel = format!("{path}/cancel");
    assert_eq!(post_form(shop, &cancel, Some(&ada), &[], None).status, 403);
    assert_eq!(
        post_form(shop, &cancel, Some(&bob), &[("csrf", &bob_token)], None).status,
        404
    );
    let cancelled = post_form(shop, &cancel, Some(&ada), &[("csrf", &token)], None);
    assert_eq!(
        (cancelled.status, location(&cancelled)),
        (303, path.as_str())
    );
    let after = page(shop, &path, Some(&ada));
    assert!(
        after.text.contains("Purchase cancelled") && !after.text.contains("/pay\""),
        "{}",
        after.text
    );
}

// Needs the catalog and ratings services.
#[test]
fn the_shop_searches_filters_and_pages_its_products() {
    let shop = Shop::shared();
    let (seller, _) = shop.signup(&unique_email("seller"), "pass");
    let category = unique_sku("cat").to_lowercase();
    let word = unique_sku("word").to_lowercase().replace('-', "");
    let names: Vec<String> = (0..3)
        .map(|i| format!("<i>{word}</i> & item {i}"))
        .collect();
    for (i, name) in names.iter().enumerate() {
        list_product(shop, &seller, name, 10.0 + i as f64, i as i64, &category);
    }
    let escaped = |name: &str| {
        name.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };

    let all = page(shop, "/shop", None);
    assert_eq!(all.status, 200, "{}", all.text);
    assert!(
        all.text.contains(r#"href="/shop""#) && all.text.contains(">Shop<"),
        "the navigation has no Shop"
    );
    assert!(
        all.text.contains(&format!("{category} (3)")),
        "{}",
        all.text
    );
    let csp = all.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");

    let filtered = page(shop, &format!("/shop?category={category}"), None);
    assert_eq!(filtered.status, 200, "{}", filtered.text);
    for name in &names {
        assert!(
            filtered.text.contains(&escaped(name)),
            "{name}: {}",
            filtered.text
        );
    }
    assert!(!filtered.text.contains(&format!("<i>{word}")));
    assert!(filtered.text.contains("Out of stock") && filtered.text.contains("In stock"));
    assert!(filtered.text.contains("Not rated yet"), "{}", filtered.text);
    assert!(filtered.text.contains("$10.00") && filtered.text.contains("$12.00"));

    let searched = page(shop, &format!("/shop?q={word}"), None);
    assert!(
        searched.text.contains(&escaped(&names[0])),
        "{}",
        searched.text
    );
    let nothing = page(shop, &format!("/shop?q={word}zzz"), None);
    assert!(
        nothing.text.contains("No products found"),
        "{}",
        nothing.text
    );

    let first = page(shop, &format!("/shop?category={category}&limit=2"), None);
    assert!(
        first.text.contains("Next page") && !first.text.contains("Previous page"),
        "{}",
        first.text
    );
    assert_eq!(first.text.matches("<li class=\"product\">").count(), 2);
    let last = page(
        shop,
        &format!("/shop?category={category}&limit=2&offset=2"),
        None,
    );
    assert!(
        last.text.contains("Previous page") && !last.text.contains("Next page"),
        "{}",
        last.text
    );
    assert_eq!(last.text.matches("<li class=\"product\">").count(), 1);
}

// Needs the catalog and ratings services.
#[test]
fn products_are_listed_and_edited_through_their_forms_by_their_sellers_alone() {
    let shop = Shop::shared();
    let sell = page(shop, "/shop/sell", None);
    assert_eq!(
        (sell.status, location(&sell)),
        (303, "/signin?next=%2Fshop%2Fsell")
    );
    let (seller, _) = shop.signup(&unique_email("seller"), "pass");
    let token = form_token(shop, &seller);
    let form = page(shop, "/shop/sell", Some(&seller));
    assert_eq!(form.status, 200, "{}", form.text);
    assert!(form.text.contains(r#"name="sku""#) && form.text.contains("<textarea"));

    let sku = unique_sku("SELL");
    let refused = post_form(
        shop,
        "/shop/sell",
        Some(&seller),
        &[
            ("sku", &sku),
            ("name", ""),
            ("description", "d"),
            ("price", "0"),
            ("stock", "2"),
            ("categories", "kitchen"),
            ("csrf", &token),
        ],
        None,
    );
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(
        refused.text.contains(r#"id="field-price-error""#),
        "{}",
        refused.text
    );
    assert!(
        refused.text.contains(r#"id="field-name-error""#),
        "{}",
        refused.text
    );
    assert!(
        refused.text.contains(&format!(r#"value="{sku}""#)),
        "what was typed is kept"
    );

    let fields = [
        ("sku", sku.as_str()),
        ("name", "Blue mug"),
        ("description", "Holds tea"),
        ("price", "12.50"),
        ("stock", "2"),
        ("categories", "kitchen, gifts"),
        ("csrf", token.as_str()),
    ];
    let forged = post_form(
        shop,
        "/shop/sell",
        Some(&seller),
        &fields,
        Some("http://evil.test"),
    );
    assert_eq!(forged.status, 403);
    let listed = post_form(shop, "/shop/sell", Some(&seller), &fields, None);
    assert_eq!(listed.status, 303, "{}", listed.text);
    let path = location(&listed).to_owned();
    assert!(
        path.eq_ignore_ascii_case(&format!("/shop/products/{sku}")),
        "{path}"
    );
    let own = page(shop, &path, Some(&seller));
    assert_eq!(own.status, 200, "{}", own.text);
    assert!(
        own.text.contains("Holds tea")
            && own.text.contains("$12.50")
            && own.text.contains("(2 left)")
    );
    assert!(
        own.text.contains(&format!(r#"href="{path}/edit""#)),
        "{}",
        own.text
    );
    let taken = post_form(shop, "/shop/sell", Some(&seller), &fields, None);
    assert_eq!(taken.status, 400, "{}", taken.text);
    assert!(taken.text.contains("SKU in use"), "{}", taken.text);

    let edit = format!("{path}/edit");
    let filled = page(shop, &edit, Some(&seller));
    assert!(
        filled.text.contains(r#"value="Blue mug""#)
            && filled
                .text
                .contains(r#"name="categories" type="text" value=""#)
            && filled.text.contains("gifts"),
        "{}",
        filled.text
    );
    let (other, _) = shop.signup(&unique_email("other"), "pass");
    let other_token = form_token(shop, &other);
    assert_eq!(page(shop, &edit, Some(&other)).status, 403);
    let theirs = [
        ("name", "Stolen"),
        ("description", "x"),
        ("price", "1"),
        ("stock", "1"),
        ("categories", ""),
        ("csrf", other_token.as_str()),
    ];
    let not_yours = post_form(shop, &edit, Some(&other), &theirs, None);
    assert_eq!(not_yours.status, 403, "{}", not_yours.text);
    assert!(not_yours.text.contains("Not your product"));
    let mine = [
        ("name", "Green mug"),
        ("description", "Holds coffee"),
        ("price", "14"),
        ("stock", "3"),
        ("categories", "kitchen"),
        ("csrf", token.as_str()),
    ];
    let edited = post_form(shop, &edit, Some(&seller), &mine, None);
    assert_eq!(
        (edited.status, location(&edited)),
        (303, path.as_str()),
        "{}",
        edited.text
    );
    let shown = page(shop, &path, None);
    assert!(
        shown.text.contains("Green mug")
            && shown.text.contains("$14.00")
            && !shown.text.contains("Stolen")
    );
}

// Needs the catalog and ratings services.
#[test]
fn a_product_page_takes_the_cart_and_rating_forms_and_unknown_skus_are_a_404() {
    let shop = Shop::shared();
    let (seller, _) = shop.signup(&unique_email("seller"), "pass");
    let sku = list_product(shop, &seller, "Red kettle", 40.0, 1, "kitchen");
    let path = format!("/shop/products/{sku}");

    let shown = page(shop, &path, None);
    assert_eq!(shown.status, 200, "{}", shown.text);
    assert!(shown.text.contains("Red kettle") && shown.text.contains("Add to cart"));
    assert!(
        shown.text.contains("Not rated yet")
            && shown.text.contains(&format!("/signin?next={path}"))
    );

    // More than is left: the product's page says so beside its form.
    let too_many = post_form(
        shop,
        &format!("{path}/cart"),
        None,
        &[("quantity", "2")],
        None,
    );
    assert_eq!(too_many.status, 400, "{}", too_many.text);
    assert!(
        too_many.text.contains(r#"role="alert""#) && too_many.text.contains(r#"value="2""#),
        "{}",
        too_many.text
    );

    // Only buyers rate; the API's words show beside the rating form.
    let rate = format!("{path}/rating");
    let signed_out = post_form(shop, &rate, None, &[("stars", "5")], None);
    assert_eq!(
        (
            signed_out.status,
            location(&signed_out).starts_with("/signin?next=")
        ),
        (303, true)
    );
    let (shopper, _) = shop.signup(&unique_email("shopper"), "pass");
    let token = form_token(shop, &shopper);
    let form = page(shop, &path, Some(&shopper));
    assert!(
        form.text.contains("Your rating") && form.text.contains(r#"name="stars""#),
        "{}",
        form.text
    );
    let not_a_buyer = post_form(
        shop,
        &rate,
        Some(&shopper),
        &[("stars", "5"), ("csrf", &token)],
        None,
    );
    assert_eq!(not_a_buyer.status, 400, "{}", not_a_buyer.text);
    assert!(
        not_a_buyer
            .text
            .contains("Only buyers of this product can rate it"),
        "{}",
        not_a_buyer.text
    );
    assert_eq!(
        post_form(shop, &rate, Some(&shopper), &[("stars", "5")], None).status,
        403
    );

    for missing in [
        "/shop/products/NO-SUCH-SKU",
        "/shop/products/..%2Fcategories",
        "/shop/products/NO-SUCH-SKU/edit",
    ] {
        let answer = page(shop, missing, Some(&seller));
        assert_eq!(answer.status, 404, "{missing}: {}", answer.text);
        assert!(answer.text.contains("Page not found"), "{missing}");
    }
}
