//! The pages, as maud templates: every value is HTML-escaped by construction, and a strict
//! Content-Security-Policy allows nothing but this origin's stylesheet.

use maud::{html, Markup, DOCTYPE};
use spin_sdk::http::Response;

use crate::api::{Ticket, User};
use crate::assets::STYLE_PATH;

/// The policy of every page: no script, no frame, no form to another origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; \
    img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// A page response with its security headers. Pages show who is signed in, so no cache
/// keeps them.
pub fn html(status: u16, page: Markup) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/html; charset=utf-8")
        .header("content-security-policy", CONTENT_SECURITY_POLICY)
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "same-origin")
        .header("cache-control", "no-store")
        .body(page.into_string())
        .build()
}

/// A price in dollars, as shoppers read it: `$42.50`.
pub fn dollars(price: f64) -> String {
    let cents = (price * 100.0).round() as i64;
    format!("${}.{:02}", cents / 100, cents % 100)
}

fn layout(title: &str, user: Option<&User>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · boxoffice" }
                link rel="stylesheet" href=(STYLE_PATH);
            }
            body {
                header.site {
                    a.brand href="/" { "boxoffice" }
                    @if let Some(user) = user {
                        span.user { "Signed in as " (user.email) }
                    }
                }
                main { (content) }
            }
        }
    }
}

/// The tickets on sale, each with its price.
pub fn listing(user: Option<&User>, tickets: &[Ticket]) -> Markup {
    layout(
        "Tickets on sale",
        user,
        html! {
            h1 { "Tickets on sale" }
            @if tickets.is_empty() {
                p.empty { "No tickets are on sale right now." }
            } @else {
                ul.tickets {
                    @for ticket in tickets {
                        li {
                            span.title { (ticket.title) }
                            span.price { (dollars(ticket.price)) }
                        }
                    }
                }
            }
        },
    )
}

/// The page of a path that leads nowhere.
pub fn not_found() -> Markup {
    layout(
        "Page not found",
        None,
        html! {
            h1 { "Page not found" }
            p { "There is nothing at this address. " a href="/" { "See the tickets on sale." } }
        },
    )
}

/// The page shown when the shop cannot answer.
pub fn unavailable(user: Option<&User>) -> Markup {
    layout(
        "Temporarily unavailable",
        user,
        html! {
            h1 { "The shop is temporarily unavailable" }
            p { "Please try again in a moment." }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(title: &str, price: f64) -> Ticket {
        Ticket {
            id: "0123456789abcdef01234567".into(),
            title: title.into(),
            price,
        }
    }

    #[test]
    fn prices_read_as_dollars_and_cents() {
        assert_eq!(dollars(20.0), "$20.00");
        assert_eq!(dollars(42.5), "$42.50");
        assert_eq!(dollars(0.1 + 0.2), "$0.30");
    }

    #[test]
    fn the_listing_escapes_what_sellers_write() {
        let page = listing(None, &[ticket("<script>alert(1)</script> & co", 5.0)]).into_string();
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"),
            "{page}"
        );
        assert!(!page.contains("<script>"));
        assert!(page.contains("$5.00"));
        assert!(page.starts_with("<!DOCTYPE html><html lang=\"en\">"));
    }

    #[test]
    fn an_empty_listing_says_so_and_a_signed_in_shopper_is_named() {
        let user = User {
            email: "ada@example.com".into(),
        };
        let page = listing(Some(&user), &[]).into_string();
        assert!(page.contains("No tickets are on sale right now."));
        assert!(page.contains("Signed in as ada@example.com"));
        assert!(page.contains(STYLE_PATH));
    }
}
