//! The shopper's orders: the list, one order, paying and cancelling.

use boxoffice_shared::time;
use maud::Markup;
use spin_sdk::http::Response;

use super::Visit;
use crate::api::{Failure, Hold, Payment};
use crate::form::Form;
use crate::respond;
use crate::views::orders::{self as views, CardEntry, OrderNotes};
use boxoffice_api::payments::ALREADY_PAID;

/// The shopper's orders.
pub async fn my_orders(visit: &Visit) -> Response {
    if visit.visitor.user.is_none() {
        return visit.sign_in_first("/orders");
    }
    match visit.api.orders().await {
        Ok(orders) => respond::page(
            200,
            views::my_orders(&visit.visitor, &orders, time::now_ms()),
        ),
        Err(failure) => visit.failed(failure, "/orders"),
    }
}

/// One order's page (`just_paid`: the page the payment form leads to).
pub async fn order(visit: &Visit, id: &str, just_paid: bool) -> Response {
    let notes = OrderNotes {
        just_paid,
        ..Default::default()
    };
    show(visit, id, 200, &notes).await
}

async fn show(visit: &Visit, id: &str, status: u16, notes: &OrderNotes<'_>) -> Response {
    let back = format!("/orders/{id}");
    if visit.visitor.user.is_none() {
        return visit.sign_in_first(&back);
    }
    let order = match visit.api.order(id).await {
        Ok(order) => order,
        Err(failure) => return visit.failed(failure, &back),
    };
    payment_page(visit, &order.hold(), status, notes, |now_ms, cards| {
        views::order(&visit.visitor, &order, now_ms, cards, notes)
    })
    .await
}

/// The page of an order or a purchase held by `hold`, as `render` makes it at the time
/// given and with the way cards are taken. Payments is asked for its key only when there
/// is a form to take a card, and only that page loads Stripe.js.
pub(super) async fn payment_page(
    visit: &Visit,
    hold: &Hold,
    status: u16,
    notes: &OrderNotes<'_>,
    render: impl FnOnce(i64, &CardEntry) -> Markup,
) -> Response {
    let now_ms = time::now_ms();
    let key = if views::takes_payment(hold, now_ms, notes) {
        visit.api.publishable_key().await
    } else {
        None
    };
    let cards = key.map_or(CardEntry::TestToken, CardEntry::Elements);
    let page = render(now_ms, &cards);
    if views::loads_stripe(hold, now_ms, &cards, notes) {
        respond::stripe_page(status, page)
    } else {
        respond::page(status, page)
    }
}

/// What a payment form's post came to, for the page of an order or a purchase.
pub(super) enum Paying {
    /// Paid, being confirmed, or paid before (by the webhook while the buyer
    /// authenticated, or from a second tab): on to the page that says so.
    Paid,
    /// The buyer's bank asks them to authenticate (3-D Secure): the page again, with this
    /// client secret for Stripe.js.
    Authenticate(String),
    /// Refused: the page again with the API's reasons, or the failure's own page.
    Refused(Failure),
}

/// Pays order or purchase `id` with the posted `token`, and says what comes next.
pub(super) async fn paying(visit: &Visit, id: &str, token: &str) -> Paying {
    match visit.api.pay(id, token).await {
        Ok(Payment::Paid | Payment::Processing) => Paying::Paid,
        Ok(Payment::Authenticate(secret)) => Paying::Authenticate(secret),
        Err(Failure::Refused {
            status: 400,
            problems,
        }) if problems.iter().any(|p| p.message == ALREADY_PAID) => Paying::Paid,
        Err(failure) => Paying::Refused(failure),
    }
}

/// Pays with the posted card token, then shows the order being confirmed; a refusal (a
/// declined card, an expired order) shows on the order's page, and a card to
/// authenticate brings the page back for Stripe.js.
pub async fn pay(visit: &Visit, id: &str, posted: &Form) -> Response {
    let token = posted.text("token");
    match paying(visit, id, token).await {
        Paying::Paid => respond::see_other(&format!("/orders/{id}/paid"), None),
        Paying::Authenticate(secret) => {
            show(visit, id, 200, &OrderNotes::authenticating(token, &secret)).await
        }
        Paying::Refused(failure) => refused(visit, id, failure, Some(token)).await,
    }
}

/// Cancels the order, then shows it (or the list, when cancelled from there).
pub async fn cancel(visit: &Visit, id: &str, posted: &Form) -> Response {
    match visit.api.cancel_order(id).await {
        Ok(()) if posted.get("back") == Some("orders") => respond::see_other("/orders", None),
        Ok(()) => respond::see_other(&format!("/orders/{id}"), None),
        Err(failure) => refused(visit, id, failure, None).await,
    }
}

/// The order's page with the API's reasons for refusing, or the failure's own page.
async fn refused(visit: &Visit, id: &str, failure: Failure, token: Option<&str>) -> Response {
    match failure {
        Failure::Refused {
            status: 400,
            problems,
        } => {
            let notes = OrderNotes {
                problems: &problems,
                token,
                ..Default::default()
            };
            show(visit, id, 400, &notes).await
        }
        failure => visit.failed(failure, &format!("/orders/{id}")),
    }
}
