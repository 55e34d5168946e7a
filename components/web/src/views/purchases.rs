//! Purchases: one purchase's page (its lines and totals; while held, the countdown,
//! payment and cancellation it shares with an order's page; once sent, its shipment) and
//! the shopper's purchases.

use maud::{html, Markup};

use super::orders::{payment_head, payment_section, CardEntry, OrderNotes, Payable, Standing};
use super::shop::product_path;
use super::{clock, dollars, form_alert, layout, Head, Visitor};
use crate::api::Purchase;

/// A purchase in a few words: what it holds.
fn summary(purchase: &Purchase) -> String {
    match purchase.lines.as_slice() {
        [] => "Purchase".to_owned(),
        [only] => only.name.clone(),
        [first, rest @ ..] => format!("{} and {} more", first.name, rest.len()),
    }
}

/// Where a purchase stands, in a word or two: an order's standing, or dispatched.
fn label(purchase: &Purchase, now_ms: i64) -> &'static str {
    match Standing::of(&purchase.hold(), now_ms) {
        Standing::Paid if purchase.shipment.is_some() => "Dispatched",
        standing => standing.label(),
    }
}

/// The page of one purchase.
pub fn purchase(
    visitor: &Visitor,
    purchase: &Purchase,
    now_ms: i64,
    cards: &CardEntry,
    notes: &OrderNotes,
) -> Markup {
    let hold = purchase.hold();
    let path = format!("/purchases/{}", purchase.id);
    let payable = Payable {
        path: &path,
        hold,
        amount: purchase.total,
        noun: "purchase",
    };
    layout(
        "Your purchase",
        visitor,
        payment_head(&hold, now_ms, cards, notes),
        html! {
            dl.facts {
                dt { "Status" } dd data-status { (label(purchase, now_ms)) }
                dt { "Ships to" }
                dd { (purchase.shipping.name) ", " (purchase.shipping.country) }
            }
            ul.lines {
                @for line in &purchase.lines {
                    li {
                        a.title href=(product_path(&line.sku)) { (line.name) }
                        span.price { (line.quantity) " × " (dollars(line.price)) }
                        span.price.line-total { (dollars(line.line_total)) }
                    }
                }
            }
            dl.facts.totals {
                dt { "Subtotal" } dd { (dollars(purchase.subtotal)) }
                dt { "Tax" } dd { (dollars(purchase.tax)) }
                dt { "Shipping" } dd { (dollars(purchase.shipping.cost)) }
                dt { "Total" } dd { strong { (dollars(purchase.total)) } }
            }
            (form_alert(notes.problems, &[]))
            @match Standing::of(&hold, now_ms) {
                Standing::Open => (payment_section(visitor, &payable, now_ms, cards, notes)),
                Standing::Expired => p.outcome role="status" {
                    strong { "Purchase expired" } ". The time to pay ran out, and the goods went "
                    "back on sale. " a href="/shop" { "Browse the shop" }
                },
                Standing::Cancelled => p.outcome role="status" {
                    strong { "Purchase cancelled" } ". The goods went back on sale."
                },
                Standing::Paid => div.outcome.paid role="status" {
                    p { strong { "Payment confirmed" } ". These goods are yours." }
                    @match &purchase.shipment {
                        Some(shipment) => p.shipment {
                            strong { "Dispatched" } " at " (clock(shipment.dispatched_at_ms))
                            " (shipment " (shipment.id) ")."
                        },
                        None => p { "They will be dispatched shortly." },
                    }
                    @if notes.just_paid { p { "Thank you for your purchase." } }
                },
            }
            p { a href="/purchases" { "All my purchases" } }
        },
    )
}

/// The shopper's purchases: what each holds, its total, where it stands.
pub fn my_purchases(visitor: &Visitor, purchases: &[Purchase], now_ms: i64) -> Markup {
    layout(
        "My purchases",
        visitor,
        Head::default(),
        html! {
            @if purchases.is_empty() {
                p.empty { "You have no purchases yet. " a href="/shop" { "Browse the shop." } }
            } @else {
                ul.orders {
                    @for purchase in purchases {
                        li {
                            a.title href={ "/purchases/" (purchase.id) } { (summary(purchase)) }
                            span.price { (dollars(purchase.total)) }
                            span.status { (label(purchase, now_ms)) }
                        }
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{PurchaseLine, Shipment, Shipping};
    use boxoffice_shared::events::OrderStatus;

    const NOW: i64 = 1_800_000_000_000;
    const WINDOW: i64 = 15 * 60 * 1000;

    fn purchase(status: OrderStatus, shipment: Option<Shipment>) -> Purchase {
        let line = |sku: &str, name: &str| PurchaseLine {
            sku: sku.into(),
            name: name.into(),
            price: 12.5,
            quantity: 2,
            line_total: 25.0,
        };
        Purchase {
            id: "p1".into(),
            status,
            expires_at_ms: NOW + WINDOW,
            updated_at_ms: NOW,
            lines: vec![line("MUG-01", "Mug <b>"), line("CUP-01", "Cup")],
            subtotal: 50.0,
            shipping: Shipping {
                city: "par".into(),
                name: "Paris".into(),
                country: "France".into(),
                cost: 9.0,
            },
            tax: 4.0,
            total: 63.0,
            shipment,
        }
    }

    #[test]
    fn an_open_purchase_counts_down_and_takes_a_payment_of_its_total() {
        let page = super::purchase(
            &Visitor::default(),
            &purchase(OrderStatus::Created, None),
            NOW + 1000,
            &CardEntry::TestToken,
            &OrderNotes::default(),
        )
        .into_string();
        assert!(
            page.contains("Mug &lt;b&gt;") && page.contains("2 × $12.50"),
            "{page}"
        );
        assert!(page.contains("Paris, France") && page.contains("$63.00"));
        assert!(page.contains("14:59") && page.contains(r#"action="/purchases/p1/pay""#));
        assert!(page.contains("Pay $63.00") && page.contains("Cancel purchase"));
        assert!(page.contains(r#"hidden>Purchase expired</p>"#), "{page}");
    }

    #[test]
    fn a_paid_purchase_says_when_it_was_dispatched() {
        let waiting = super::purchase(
            &Visitor::default(),
            &purchase(OrderStatus::Complete, None),
            NOW,
            &CardEntry::TestToken,
            &OrderNotes::default(),
        )
        .into_string();
        assert!(waiting.contains("Payment confirmed") && waiting.contains("dispatched shortly"));
        assert!(!waiting.contains("/pay\"") && !waiting.contains("/cancel\""));
        let shipment = Shipment {
            id: "s1".into(),
            dispatched_at_ms: NOW + 60_000,
        };
        let sent = purchase(OrderStatus::Complete, Some(shipment));
        let page = super::purchase(
            &Visitor::default(),
            &sent,
            NOW,
            &CardEntry::TestToken,
            &OrderNotes::default(),
        )
        .into_string();
        assert!(page.contains("<strong>Dispatched</strong> at") && page.contains("shipment s1"));
        assert!(page.contains("data-status>Dispatched<"), "{page}");
        let list = my_purchases(&Visitor::default(), &[sent], NOW).into_string();
        assert!(list.contains("Mug &lt;b&gt; and 1 more") && list.contains("Dispatched"));
        assert!(my_purchases(&Visitor::default(), &[], NOW)
            .into_string()
            .contains("no purchases yet"));
    }

    #[test]
    fn an_expired_purchase_offers_nothing_to_pay() {
        let page = super::purchase(
            &Visitor::default(),
            &purchase(OrderStatus::Created, None),
            NOW + WINDOW,
            &CardEntry::TestToken,
            &OrderNotes::default(),
        )
        .into_string();
        assert!(page.contains("<strong>Purchase expired</strong>") && !page.contains("/pay\""));
    }
}
