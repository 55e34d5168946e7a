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
    assert!(
        csp.contains("script-src 'self' https://js.stripe.com;"),
        "{csp}"
    );
    assert!(csp.contains("frame-src https://js.stripe.com"), "{csp}");
    // Every other page keeps the strict policy and loads nothing from Stripe.
    let listing = page(&shop, "/", Some(&buyer));
    assert!(!listing.text.contains("js.stripe.com"));
    assert!(!listing.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("stripe"));
}
