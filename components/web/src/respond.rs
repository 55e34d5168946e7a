//! How pages leave: with their security headers, or as a redirect after a form post.

use maud::Markup;
use spin_sdk::http::Response;

/// The policy of every page: this origin's stylesheet and script, forms that post only
/// here, no frame, no plugin, nothing else.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; \
    frame-ancestors 'none'";

/// The policy of a payment page that takes cards through Stripe Elements: Stripe.js, its
/// frames and its API, and nothing more (the origins of Stripe's security guide, "Content
/// Security Policy": its scripts and frames also come from `*.js.stripe.com`).
pub const STRIPE_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; \
    script-src 'self' https://js.stripe.com https://*.js.stripe.com; style-src 'self'; \
    img-src 'self'; \
    frame-src https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com; \
    connect-src https://api.stripe.com; form-action 'self'; base-uri 'none'; \
    frame-ancestors 'none'";

/// A page with its security headers. Pages show who is signed in and carry their form
/// token, so no cache keeps them.
pub fn page(status: u16, markup: Markup) -> Response {
    respond(status, markup, CONTENT_SECURITY_POLICY)
}

/// A page that loads Stripe.js.
pub fn stripe_page(status: u16, markup: Markup) -> Response {
    respond(status, markup, STRIPE_CONTENT_SECURITY_POLICY)
}

fn respond(status: u16, markup: Markup, policy: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/html; charset=utf-8")
        .header("content-security-policy", policy)
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "same-origin")
        .header("cache-control", "no-store")
        .body(markup.into_string())
        .build()
}

/// After a form post: "see other" `location`, setting the cookie the API sent (if any), so
/// that reloading the next page never posts the form again.
pub fn see_other(location: &str, set_cookie: Option<&str>) -> Response {
    let mut response = Response::builder();
    response
        .status(303)
        .header("location", location)
        .header("cache-control", "no-store");
    with_cookie(response.build(), set_cookie)
}

/// `response`, setting the cookie a service sent (if any), as the service would have.
pub fn with_cookie(mut response: Response, set_cookie: Option<&str>) -> Response {
    if let Some(cookie) = set_cookie {
        response.set_header("set-cookie", cookie);
    }
    response
}
