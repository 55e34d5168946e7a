//! The shop's pages in a real browser: headless Chromium (Debian's `chromium`) driven by
//! `playwright-core` (npm), one Node scenario per test under `tests/browser/`, against a
//! shop this file starts with the fake Stripe. Each scenario audits every page it visits
//! with axe-core at desktop and phone widths, fails on a script error, a CSP violation or a
//! request leaving the shop, and screenshots each page into `target/screenshots/` (or
//! `BOXOFFICE_SCREENSHOTS`: `scripts/screenshots` points it at `docs/screenshots/`).
//! `scripts/setup` installs Chromium, Node and the npm packages.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use boxoffice_testkit as support;
use support::stripe::FakeStripe;
use support::{Shop, ShopOptions};

/// How long one scenario may run.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(240);

fn browser_dir() -> PathBuf {
    support::browser::dir()
}

/// A shop with the fake Stripe and a reservation window of `window_seconds`.
fn shop_with_stripe(window_seconds: u64) -> (FakeStripe, Shop) {
    shop_on(Default::default(), window_seconds)
}

fn shop_on(backend: support::Backend, window_seconds: u64) -> (FakeStripe, Shop) {
    let stripe = FakeStripe::start();
    let shop = Shop::start_with(ShopOptions {
        backend,
        variables: [(
            "reservation_window_seconds".into(),
            window_seconds.to_string(),
        )]
        .into_iter()
        .chain(stripe.variables())
        .collect(),
        ..Default::default()
    });
    (stripe, shop)
}

/// The shop the scenarios share (a reservation window of ten minutes).
fn shop() -> &'static Shop {
    static SHOP: OnceLock<(FakeStripe, Shop)> = OnceLock::new();
    &SHOP.get_or_init(|| shop_with_stripe(600)).1
}

fn screenshots_dir() -> PathBuf {
    match std::env::var_os("BOXOFFICE_SCREENSHOTS") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                support::workspace_root().join(dir)
            }
        }
        None => support::workspace_root().join("target/screenshots"),
    }
}

/// Runs `tests/browser/<scenario>.mjs` against `shop` and fails with its output unless it
/// passes (bounded by [`SCENARIO_TIMEOUT`]).
fn scenario(name: &str, shop: &Shop) {
    run_scenario(name, shop, Some(screenshots_dir()), &[]);
}

fn run_scenario(name: &str, shop: &Shop, screenshots: Option<PathBuf>, env: &[(&str, String)]) {
    let mut node = Command::new("node");
    node.arg(browser_dir().join(format!("{name}.mjs")))
        .arg(&shop.base)
        .current_dir(browser_dir())
        .envs(env.iter().map(|(name, value)| (name, value)))
        .env_remove("SCREENSHOTS_DIR");
    if let Some(dir) = screenshots {
        node.env("SCREENSHOTS_DIR", dir);
    }
    let child = node
        .env("CHROMIUM", support::browser::chromium())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node");
    let output = support::output_within(child, SCENARIO_TIMEOUT, name);
    let status = output.status;
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    println!("{out}");
    assert!(
        status.success(),
        "{name} failed ({status}):\n{out}\n{err}\nshop log:\n{}",
        shop.runtime().stderr()
    );
}

#[test]
fn two_shoppers_sell_buy_and_pay_in_the_browser() {
    if support::runnable("in the browser", support::browser::missing()) {
        scenario("purchase", shop());
    }
}

#[test]
fn two_shoppers_sell_buy_and_pay_on_a_wasmcloud_host() {
    if !support::runnable("in the browser", support::browser::missing()) {
        return;
    }
    let Some(backend) = support::wasmcloud::backend() else {
        return;
    };
    let (_stripe, shop) = shop_on(backend, 600);
    run_scenario("purchase", &shop, None, &[]);
}

#[test]
fn an_order_left_unpaid_expires_and_its_ticket_goes_back_on_sale() {
    if support::runnable("in the browser", support::browser::missing()) {
        let (_stripe, shop) = shop_with_stripe(6);
        scenario("expiry", &shop);
    }
}

/// Stripe Elements in the browser: with a publishable key, the payment form takes the card
/// through Stripe.js (the fake Stripe's stand-in, served for js.stripe.com, its API calls
/// to api.stripe.com routed to the fake: the page's CSP stays exactly Stripe's origins); a
/// card Stripe.js refuses leaves the form usable; a card that needs 3-D Secure is refused
/// when the buyer fails the challenge and paid when they complete it, once.
#[test]
fn a_card_error_from_stripe_js_leaves_the_payment_form_usable() {
    if !support::runnable("in the browser", support::browser::missing()) {
        return;
    }
    let stripe = FakeStripe::start();
    let shop = Shop::start_with(ShopOptions {
        variables: stripe
            .variables()
            .into_iter()
            .chain([(
                "stripe_publishable_key".to_owned(),
                support::stripe::PUBLISHABLE_KEY.to_owned(),
            )])
            .collect(),
        ..Default::default()
    });
    run_scenario(
        "card",
        &shop,
        Some(screenshots_dir()),
        &[("STRIPE_FAKE", stripe.base_url())],
    );
    let charges = stripe.charges();
    assert_eq!(
        charges.len(),
        1,
        "one charge, after 3-D Secure: {charges:?}"
    );
    let intent = charges[0]["payment_intent"].as_str().unwrap_or_default();
    let asked = stripe.events_of_type("payment_intent.requires_action");
    assert!(
        asked.iter().any(|e| e["data"]["object"]["id"] == intent),
        "the paid intent went through 3-D Secure: {asked:?}"
    );
}

#[test]
fn every_form_shows_the_apis_errors_beside_its_fields() {
    if support::runnable("in the browser", support::browser::missing()) {
        scenario("forms", shop());
    }
}

#[test]
fn pages_keep_shoppers_apart_and_refuse_cross_site_posts() {
    if support::runnable("in the browser", support::browser::missing()) {
        scenario("privacy", shop());
    }
}

#[test]
fn the_api_docs_page_renders_the_openapi_document_accessibly() {
    if support::runnable("in the browser", support::browser::missing()) {
        scenario("docs", shop());
    }
}

/// Needs the catalog, ratings and shipping services besides the cart.
#[test]
fn a_seller_lists_goods_and_a_buyer_carts_pays_and_rates_them_in_the_browser() {
    if support::runnable("in the browser", support::browser::missing()) {
        scenario("shop", shop());
    }
}

#[test]
fn screenshots_are_small_pngs_of_every_page_at_both_widths() {
    let dir = support::workspace_root().join("docs/screenshots");
    let mut shots: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    shots.sort();
    for page in PAGES {
        for width in ["desktop", "phone"] {
            let shot = dir.join(format!("{page}-{width}.png"));
            let bytes = std::fs::read(&shot).unwrap_or_else(|e| panic!("{}: {e}", shot.display()));
            assert!(
                bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
                "{} is not a PNG",
                shot.display()
            );
            assert!(
                bytes.len() < 50_000,
                "{} is {} bytes",
                shot.display(),
                bytes.len()
            );
        }
    }
    let expected = PAGES.len() * 2;
    assert_eq!(
        shots.len(),
        expected,
        "docs/screenshots holds other files: {shots:?}"
    );
}

/// The pages the scenarios screenshot, as named in `docs/screenshots/`.
const PAGES: [&str; 31] = [
    "listing-signed-out",
    "signup",
    "sell",
    "ticket-own",
    "signin",
    "listing",
    "ticket",
    "order",
    "order-paid",
    "my-orders",
    "order-expired",
    "signup-errors",
    "signin-error",
    "sell-errors",
    "order-declined",
    "order-card-error",
    "not-found",
    "refused",
    "api-docs",
    "shop-signed-out",
    "sell-product",
    "product-own",
    "shop",
    "product",
    "cart-signed-out",
    "cart",
    "purchase",
    "purchase-paid",
    "purchase-dispatched",
    "my-purchases",
    "product-rated",
];
