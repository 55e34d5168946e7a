//! The tickets: the listing, a ticket's page, and the form that sells or edits one.

use maud::{html, Markup};

use super::{dollars, field, form_alert, layout, token_field, Field, Head, Visitor};
use crate::api::{FieldError, Ticket};

/// The tickets on sale, each with its price and a link to its page.
pub fn listing(visitor: &Visitor, tickets: &[Ticket]) -> Markup {
    layout(
        "Tickets on sale",
        visitor,
        Head::default(),
        html! {
            @if tickets.is_empty() {
                p.empty { "No tickets are on sale right now." }
            } @else {
                ul.tickets {
                    @for ticket in tickets {
                        li {
                            a.title href={ "/tickets/" (ticket.id) } { (ticket.title) }
                            span.price { (dollars(ticket.price)) }
                        }
                    }
                }
            }
            @if visitor.user.is_some() {
                p { a.button href="/sell" { "Sell a ticket" } }
            } @else {
                p { a href="/signup" { "Sign up" } " to sell your own tickets." }
            }
        },
    )
}

/// What the visitor can do with a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Buy it.
    Buy,
    /// Sign in first.
    SignedOut,
    /// Nothing: it is theirs (they may edit it while no order holds it).
    Own,
    /// Nothing: an order holds it.
    Reserved,
}

impl Offer {
    /// The offer of `ticket` to `visitor`.
    pub fn of(ticket: &Ticket, visitor: &Visitor) -> Self {
        if visitor.user.is_none() {
            Offer::SignedOut
        } else if visitor.is(&ticket.user_id) {
            Offer::Own
        } else if ticket.order_id.is_some() {
            Offer::Reserved
        } else {
            Offer::Buy
        }
    }
}

/// A ticket's page: its purchase button, or why there is none; `problems` are the API's
/// answer to a purchase that did not go through.
pub fn ticket(visitor: &Visitor, ticket: &Ticket, problems: &[FieldError]) -> Markup {
    let path = format!("/tickets/{}", ticket.id);
    layout(
        &ticket.title,
        visitor,
        Head::default(),
        html! {
            p.price-tag { (dollars(ticket.price)) }
            (form_alert(problems, &[]))
            @match Offer::of(ticket, visitor) {
                Offer::Buy => form method="post" action={ (path) "/order" } {
                    (token_field(visitor))
                    button type="submit" { "Buy for " (dollars(ticket.price)) }
                    p.hint { "The ticket is held for you while you pay." }
                },
                Offer::SignedOut => p.why {
                    a href={ "/signin?next=" (path) } { "Sign in" } " to buy this ticket."
                },
                Offer::Own => @if ticket.order_id.is_some() {
                    p.why { "This is your ticket. A buyer holds it, so it cannot be edited." }
                } @else {
                    p.why { "This is your ticket. " a href={ (path) "/edit" } { "Edit it" } }
                },
                Offer::Reserved => p.why {
                    "This ticket is reserved by another shopper. It comes back on sale if "
                    "their order is not paid in time."
                },
            }
        },
    )
}

/// The form that sells a ticket (`editing` none) or edits one, with what was typed and the
/// API's errors.
pub fn ticket_form(
    visitor: &Visitor,
    editing: Option<&str>,
    title: &str,
    price: &str,
    problems: &[FieldError],
) -> Markup {
    let (heading, action, button) = match editing {
        None => (
            "Sell a ticket".to_owned(),
            "/sell".to_owned(),
            "Put on sale",
        ),
        Some(id) => (
            "Edit your ticket".to_owned(),
            format!("/tickets/{id}/edit"),
            "Save",
        ),
    };
    let price_field = Field {
        inputmode: Some("decimal"),
        hint: Some("In US dollars, for example 25 or 12.50."),
        ..Field::text("price", "Price", price)
    };
    layout(
        &heading,
        visitor,
        Head::default(),
        html! {
            (form_alert(problems, &["title", "price"]))
            form.stack method="post" action=(action) novalidate {
                (token_field(visitor))
                (field(Field::text("title", "Title", title), problems))
                (field(price_field, problems))
                button type="submit" { (button) }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::User;
    use crate::views::tests::problem;

    fn ticket(owner: &str, order: Option<&str>) -> Ticket {
        Ticket {
            id: "t1".into(),
            title: "<script>alert(1)</script> & co".into(),
            price: 5.0,
            user_id: owner.into(),
            order_id: order.map(str::to_owned),
        }
    }

    fn visitor(id: &str) -> Visitor {
        Visitor {
            user: Some(User {
                id: id.into(),
                email: format!("{id}@example.com"),
            }),
            csrf: Some("tok".into()),
        }
    }

    #[test]
    fn the_listing_escapes_what_sellers_write_and_links_each_ticket() {
        let page = listing(&Visitor::default(), &[ticket("u1", None)]).into_string();
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"),
            "{page}"
        );
        assert!(!page.contains("<script>alert"));
        assert!(page.contains(r#"href="/tickets/t1""#) && page.contains("$5.00"));
        let empty = listing(&visitor("u1"), &[]).into_string();
        assert!(empty.contains("No tickets are on sale right now."));
        assert!(empty.contains(r#"href="/sell""#));
    }

    #[test]
    fn a_ticket_offers_a_purchase_or_says_why_not() {
        let on_sale = ticket("seller", None);
        let reserved = ticket("seller", Some("o1"));
        assert_eq!(Offer::of(&on_sale, &Visitor::default()), Offer::SignedOut);
        assert_eq!(Offer::of(&on_sale, &visitor("seller")), Offer::Own);
        assert_eq!(Offer::of(&on_sale, &visitor("buyer")), Offer::Buy);
        assert_eq!(Offer::of(&reserved, &visitor("buyer")), Offer::Reserved);
        assert_eq!(Offer::of(&reserved, &visitor("seller")), Offer::Own);

        let buy = super::ticket(&visitor("buyer"), &on_sale, &[]).into_string();
        assert!(buy.contains(r#"action="/tickets/t1/order""#) && buy.contains("Buy for $5.00"));
        let signed_out = super::ticket(&Visitor::default(), &on_sale, &[]).into_string();
        assert!(
            signed_out.contains(r#"href="/signin?next=/tickets/t1""#)
                && !signed_out.contains("Buy for")
        );
        let own = super::ticket(&visitor("seller"), &on_sale, &[]).into_string();
        assert!(own.contains(r#"href="/tickets/t1/edit""#) && !own.contains("Buy for"));
        let held = super::ticket(
            &visitor("buyer"),
            &reserved,
            &[problem(None, "Ticket is already reserved")],
        )
        .into_string();
        assert!(
            held.contains("reserved by another shopper")
                && held.contains("Ticket is already reserved")
        );
    }

    #[test]
    fn the_ticket_form_sells_or_edits() {
        let sell = ticket_form(
            &visitor("u1"),
            None,
            "",
            "0",
            &[problem(Some("price"), "Price must be greater than 0")],
        )
        .into_string();
        assert!(
            sell.contains(r#"action="/sell""#) && sell.contains("Price must be greater than 0")
        );
        assert!(sell.contains(r#"value="0""#) && sell.contains(r#"name="csrf" value="tok""#));
        let edit = ticket_form(&visitor("u1"), Some("t1"), "Show", "20", &[]).into_string();
        assert!(edit.contains(r#"action="/tickets/t1/edit""#) && edit.contains(r#"value="Show""#));
    }
}
