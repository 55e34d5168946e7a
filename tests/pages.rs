//! End to end: the pages of the web component under the real runtime, read over HTTP as a
//! browser would ask for them (`Accept: text/html`).

use boxoffice_testkit as support;

use serde_json::json;
use support::{unique_email, Body, Shop};

const BROWSER: (&str, &str) = ("accept", "text/html,application/xhtml+xml,*/*;q=0.8");

fn page(shop: &Shop, path: &str, cookie: Option<&str>) -> support::Resp {
    shop.request_with("GET", path, cookie, Body::None, &[BROWSER])
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
}

#[test]
fn the_header_names_the_signed_in_shopper() {
    let shop = Shop::shared();
    let email = unique_email("buyer");
    let (cookie, _) = shop.signup(&email, "pass");
    let signed_in = page(shop, "/", Some(&cookie));
    assert!(
        signed_in.text.contains(&format!("Signed in as {email}")),
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
    assert_eq!(api.error_messages(), vec!["Not found"]);
    // A JSON client asking for the root gets the page too: it is a page route.
    assert_eq!(shop.get("/", None).status, 200);
}

#[test]
fn the_listing_renders_on_a_wasmcloud_host_too() {
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
}
