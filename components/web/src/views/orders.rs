//! Orders: one order's page (countdown, payment, cancellation) and the shopper's orders;
//! also the payment section that a purchase's page shares with it.

use boxoffice_shared::events::OrderStatus;
use boxoffice_shared::time;
use maud::{html, Markup};

use super::{clock, dollars, form_alert, layout, token_field, Head, Visitor};
use crate::api::{FieldError, Hold, Order};

/// Where an order stands, as a shopper reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Held for the buyer until it expires: pay or cancel.
    Open,
    /// Its time ran out (whether or not expiry has been applied yet).
    Expired,
    /// Its buyer cancelled it.
    Cancelled,
    /// Paid: the ticket is the buyer's.
    Paid,
}

impl Standing {
    /// How an order or a purchase held by `hold` stands at `now_ms`. A cancellation at or
    /// after the expiry time was the expiry's.
    pub fn of(hold: &Hold, now_ms: i64) -> Self {
        match hold.status {
            OrderStatus::Complete => Standing::Paid,
            OrderStatus::Cancelled if hold.updated_at_ms >= hold.expires_at_ms => Standing::Expired,
            OrderStatus::Cancelled => Standing::Cancelled,
            _ if now_ms >= hold.expires_at_ms => Standing::Expired,
            _ => Standing::Open,
        }
    }

    /// In a word or two.
    pub fn label(self) -> &'static str {
        match self {
            Standing::Open => "Awaiting payment",
            Standing::Expired => "Expired",
            Standing::Cancelled => "Cancelled",
            Standing::Paid => "Paid",
        }
    }
}

/// The time left until `expires_at_ms`, as a countdown reads: `14:59`, `1:02:03`.
pub fn time_left(now_ms: i64, expires_at_ms: i64) -> String {
    let seconds = ((expires_at_ms - now_ms).max(0) + 999) / 1000;
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// How the payment form takes a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardEntry {
    /// A Stripe test token typed in (no publishable key is configured).
    TestToken,
    /// Stripe Elements, with this publishable key.
    Elements(String),
}

/// What the order page says besides the order itself.
#[derive(Debug, Clone, Default)]
pub struct OrderNotes<'a> {
    /// The shopper has just paid (the page after the payment form).
    pub just_paid: bool,
    /// The API's answer to a payment or cancellation that did not go through.
    pub problems: &'a [FieldError],
    /// The token typed into a refused payment, or the payment method waiting for the
    /// buyer's authentication.
    pub token: Option<&'a str>,
    /// The client secret of a payment the buyer's bank asks them to authenticate
    /// (3-D Secure), which Stripe.js takes them through.
    pub authenticate: Option<&'a str>,
}

impl<'a> OrderNotes<'a> {
    /// The notes of a payment of `token` the buyer's bank asks them to authenticate, with
    /// the payment's client `secret`.
    pub fn authenticating(token: &'a str, secret: &'a str) -> Self {
        OrderNotes {
            token: Some(token),
            authenticate: Some(secret),
            ..Default::default()
        }
    }
}

/// Whether the page of what `hold` holds shows the payment form: it is open and was not
/// just paid.
pub fn takes_payment(hold: &Hold, now_ms: i64, notes: &OrderNotes) -> bool {
    Standing::of(hold, now_ms) == Standing::Open && !notes.just_paid
}

/// Whether the page of what `hold` holds loads Stripe.js: only for a payment form that
/// takes cards through Stripe Elements.
pub fn loads_stripe(hold: &Hold, now_ms: i64, cards: &CardEntry, notes: &OrderNotes) -> bool {
    takes_payment(hold, now_ms, notes) && matches!(cards, CardEntry::Elements(_))
}

/// What the page of an order or a purchase puts in its `<head>`: a reload each second
/// while a payment is being confirmed, Stripe.js for its payment form.
pub fn payment_head(hold: &Hold, now_ms: i64, cards: &CardEntry, notes: &OrderNotes) -> Head {
    let confirming = notes.just_paid && Standing::of(hold, now_ms) == Standing::Open;
    Head {
        refresh_seconds: confirming.then_some(1),
        stripe: loads_stripe(hold, now_ms, cards, notes),
    }
}

/// An order or a purchase, as its payment section names it.
#[derive(Debug, Clone, Copy)]
pub struct Payable<'a> {
    /// Its page, where the payment and cancel forms post (`/orders/:id`).
    pub path: &'a str,
    /// How it is held.
    pub hold: Hold,
    /// What it costs, dollars.
    pub amount: f64,
    /// What it is called: `order`, `purchase`.
    pub noun: &'a str,
}

/// The section of an open order or purchase: "Confirming…" right after paying, otherwise
/// the countdown, the payment form and the cancel button.
pub fn payment_section(
    visitor: &Visitor,
    payable: &Payable,
    now_ms: i64,
    cards: &CardEntry,
    notes: &OrderNotes,
) -> Markup {
    let (path, hold, noun) = (payable.path, payable.hold, payable.noun);
    html! {
        @if notes.just_paid {
            p.notice role="status" { "Payment received. Confirming your " (noun) "…" }
        } @else {
            p.countdown role="timer" data-expires-at=(time::rfc3339(hold.expires_at_ms)) {
                "Time left to pay: "
                strong data-time-left { (time_left(now_ms, hold.expires_at_ms)) }
                " (until " (clock(hold.expires_at_ms)) ")"
            }
            p.expired-note role="status" hidden { (capitalized(noun)) " expired" }
            section aria-labelledby="pay-heading" {
                h2 id="pay-heading" { "Pay" }
                form.stack.pay method="post" action={ (path) "/pay" } novalidate {
                    (token_field(visitor))
                    @match cards {
                        CardEntry::TestToken => div.field {
                            label for="field-token" { "Card token" }
                            p.hint id="field-token-hint" {
                                "Test mode: tok_visa pays, tok_chargeDeclined is declined."
                            }
                            input id="field-token" name="token" type="text"
                                value=(notes.token.unwrap_or("tok_visa"))
                                autocomplete="off" aria-describedby="field-token-hint";
                            @if notes.authenticate.is_some() {
                                p.error role="alert" {
                                    "This card asks for authentication (3-D Secure), which "
                                    "needs Stripe.js; use another card."
                                }
                            }
                        },
                        CardEntry::Elements(key) => div.field {
                            label for="card-element" { "Card" }
                            @if let Some(secret) = notes.authenticate {
                                p.notice role="status" {
                                    "Your bank asks you to confirm this payment."
                                }
                                div #card-element.card data-stripe-key=(key)
                                    data-client-secret=(secret) {}
                                input type="hidden" name="token"
                                    value=(notes.token.unwrap_or_default());
                            } @else {
                                div #card-element.card data-stripe-key=(key) {}
                                input type="hidden" name="token" value="";
                            }
                        },
                    }
                    button type="submit" { "Pay " (dollars(payable.amount)) }
                }
            }
            form.cancel method="post" action={ (path) "/cancel" } {
                (token_field(visitor))
                button.secondary type="submit" { "Cancel " (noun) }
            }
        }
    }
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The page of one order.
pub fn order(
    visitor: &Visitor,
    order: &Order,
    now_ms: i64,
    cards: &CardEntry,
    notes: &OrderNotes,
) -> Markup {
    let standing = Standing::of(&order.hold(), now_ms);
    let head = payment_head(&order.hold(), now_ms, cards, notes);
    let path = format!("/orders/{}", order.id);
    let payable = Payable {
        path: &path,
        hold: order.hold(),
        amount: order.ticket.price,
        noun: "order",
    };
    layout(
        &format!("Order for {}", order.ticket.title),
        visitor,
        head,
        html! {
            dl.facts {
                dt { "Ticket" } dd { a href={ "/tickets/" (order.ticket.id) } { (order.ticket.title) } }
                dt { "Price" } dd { (dollars(order.ticket.price)) }
                dt { "Status" } dd data-status { (standing.label()) }
            }
            (form_alert(notes.problems, &[]))
            @match standing {
                Standing::Open => (payment_section(visitor, &payable, now_ms, cards, notes)),
                Standing::Expired => p.outcome role="status" {
                    strong { "Order expired" } ". The time to pay ran out, and the ticket went "
                    "back on sale. " a href="/" { "See the tickets on sale" }
                },
                Standing::Cancelled => p.outcome role="status" {
                    strong { "Order cancelled" } ". The ticket went back on sale."
                },
                Standing::Paid => div.outcome.paid role="status" {
                    p { strong { "Payment confirmed" } ". This ticket is yours." }
                    @if notes.just_paid { p { "Thank you for your order." } }
                },
            }
            p { a href="/orders" { "All my orders" } }
        },
    )
}

/// The shopper's orders: ticket, price, where each stands, and cancellation where allowed.
pub fn my_orders(visitor: &Visitor, orders: &[Order], now_ms: i64) -> Markup {
    layout(
        "My orders",
        visitor,
        Head::default(),
        html! {
            @if orders.is_empty() {
                p.empty { "You have no orders yet. " a href="/" { "See the tickets on sale." } }
            } @else {
                ul.orders {
                    @for order in orders {
                        @let standing = Standing::of(&order.hold(), now_ms);
                        li {
                            a.title href={ "/orders/" (order.id) } { (order.ticket.title) }
                            span.price { (dollars(order.ticket.price)) }
                            span.status { (standing.label()) }
                            @if standing == Standing::Open {
                                form method="post" action={ "/orders/" (order.id) "/cancel" } {
                                    (token_field(visitor))
                                    input type="hidden" name="back" value="orders";
                                    button.secondary type="submit" {
                                        "Cancel" span.visually-hidden { " the order for " (order.ticket.title) }
                                    }
                                }
                            }
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
    use crate::api::OrderTicket;

    const NOW: i64 = 1_800_000_000_000;
    const WINDOW: i64 = 15 * 60 * 1000;

    fn order(status: OrderStatus, updated_at_ms: i64) -> Order {
        Order {
            id: "o1".into(),
            status,
            expires_at_ms: NOW + WINDOW,
            updated_at_ms,
            ticket: OrderTicket {
                id: "t1".into(),
                title: "Show <b>".into(),
                price: 20.0,
            },
        }
    }

    #[test]
    fn an_order_is_expired_when_its_time_ran_out_and_cancelled_when_its_buyer_said_so() {
        let open = order(OrderStatus::Created, NOW).hold();
        assert_eq!(Standing::of(&open, NOW), Standing::Open);
        assert_eq!(Standing::of(&open, NOW + WINDOW), Standing::Expired);
        let by_buyer = order(OrderStatus::Cancelled, NOW + 1000).hold();
        assert_eq!(
            Standing::of(&by_buyer, NOW + 2 * WINDOW),
            Standing::Cancelled
        );
        let by_expiry = order(OrderStatus::Cancelled, NOW + WINDOW + 40).hold();
        assert_eq!(
            Standing::of(&by_expiry, NOW + WINDOW + 50),
            Standing::Expired
        );
        assert_eq!(
            Standing::of(&order(OrderStatus::Complete, NOW).hold(), NOW + 2 * WINDOW),
            Standing::Paid
        );
    }

    #[test]
    fn a_payment_to_authenticate_hands_stripe_js_its_client_secret_and_method() {
        let notes = OrderNotes::authenticating("pm_card_authenticationRequired", "pi_1_secret_2");
        let render = |cards: &CardEntry| {
            super::order(
                &Visitor::default(),
                &order(OrderStatus::Created, NOW),
                NOW,
                cards,
                &notes,
            )
            .into_string()
        };
        let elements = render(&CardEntry::Elements("pk_test_123".into()));
        assert!(
            elements.contains(r#"data-client-secret="pi_1_secret_2""#)
                && elements.contains(r#"value="pm_card_authenticationRequired""#)
                && elements.contains("Your bank asks you to confirm this payment."),
            "{elements}"
        );
        let tokens = render(&CardEntry::TestToken);
        assert!(
            tokens.contains("needs Stripe.js; use another card") && !tokens.contains("pi_1_secret"),
            "{tokens}"
        );
    }

    #[test]
    fn the_countdown_reads_minutes_and_seconds() {
        assert_eq!(time_left(NOW, NOW + WINDOW), "15:00");
        assert_eq!(time_left(NOW, NOW + 59_001), "1:00");
        assert_eq!(time_left(NOW, NOW + 3_723_000), "1:02:03");
        assert_eq!(time_left(NOW, NOW - 5), "0:00");
    }

    #[test]
    fn an_open_order_counts_down_and_takes_a_test_token_without_a_stripe_key() {
        let page = super::order(
            &Visitor::default(),
            &order(OrderStatus::Created, NOW),
            NOW + 1000,
            &CardEntry::TestToken,
            &OrderNotes::default(),
        )
        .into_string();
        assert!(page.contains("Order for Show &lt;b&gt;"), "{page}");
        assert!(
            page.contains(r#"data-expires-at="2027-01-15T08:15:00.000Z""#),
            "{page}"
        );
        assert!(page.contains("14:59") && page.contains(r#"value="tok_visa""#));
        assert!(page.contains(r#"action="/orders/o1/cancel""#) && page.contains("Pay $20.00"));
        assert!(!page.contains("js.stripe.com"));

        let stripe = CardEntry::Elements("pk_test_123".into());
        let elements = super::order(
            &Visitor::default(),
            &order(OrderStatus::Created, NOW),
            NOW,
            &stripe,
            &OrderNotes::default(),
        )
        .into_string();
        assert!(
            elements.contains(r#"<script src="https://js.stripe.com/v3/"></script>"#),
            "{elements}"
        );
        assert!(
            elements.contains(r#"data-stripe-key="pk_test_123""#) && !elements.contains("tok_visa")
        );
    }

    #[test]
    fn after_paying_the_page_confirms_or_waits_for_the_confirmation() {
        let notes = OrderNotes {
            just_paid: true,
            ..Default::default()
        };
        let waiting = super::order(
            &Visitor::default(),
            &order(OrderStatus::Created, NOW),
            NOW,
            &CardEntry::TestToken,
            &notes,
        )
        .into_string();
        assert!(
            waiting.contains("Confirming your order")
                && waiting.contains(r#"http-equiv="refresh""#)
        );
        assert!(
            !waiting.contains("/pay\""),
            "no second payment form while confirming"
        );
        let paid = super::order(
            &Visitor::default(),
            &order(OrderStatus::Complete, NOW),
            NOW,
            &CardEntry::TestToken,
            &notes,
        )
        .into_string();
        assert!(
            paid.contains("Payment confirmed")
                && !paid.contains("refresh")
                && !paid.contains("/cancel")
        );
        let expired = super::order(
            &Visitor::default(),
            &order(OrderStatus::Cancelled, NOW + WINDOW),
            NOW + WINDOW,
            &CardEntry::TestToken,
            &OrderNotes::default(),
        )
        .into_string();
        assert!(expired.contains("Order expired") && !expired.contains("/pay\""));
    }

    #[test]
    fn my_orders_offer_cancellation_only_where_allowed() {
        let page = my_orders(
            &Visitor::default(),
            &[
                order(OrderStatus::Created, NOW),
                order(OrderStatus::Complete, NOW),
            ],
            NOW,
        )
        .into_string();
        assert_eq!(page.matches("/cancel").count(), 1, "{page}");
        assert!(page.contains("Awaiting payment") && page.contains("Paid"));
        assert!(my_orders(&Visitor::default(), &[], NOW)
            .into_string()
            .contains("no orders yet"));
    }
}
