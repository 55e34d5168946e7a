//! The shopper's purchases: the list, one purchase, paying and cancelling (paid like an
//! order, through payments, with the purchase's id).

use boxoffice_shared::time;
use spin_sdk::http::Response;

use super::orders::{paying, payment_page, Paying};
use super::Visit;
use crate::api::Failure;
use crate::form::Form;
use crate::respond;
use crate::views::orders::OrderNotes;
use crate::views::purchases as views;

/// The shopper's purchases.
pub async fn my_purchases(visit: &Visit) -> Response {
    if visit.visitor.user.is_none() {
        return visit.sign_in_first("/purchases");
    }
    match visit.api.purchases().await {
        Ok(purchases) => respond::page(
            200,
            views::my_purchases(&visit.visitor, &purchases, time::now_ms()),
        ),
        Err(failure) => visit.failed(failure, "/purchases"),
    }
}

/// One purchase's page (`just_paid`: the page the payment form leads to).
pub async fn purchase(visit: &Visit, id: &str, just_paid: bool) -> Response {
    let notes = OrderNotes {
        just_paid,
        ..Default::default()
    };
    show(visit, id, 200, &notes).await
}

async fn show(visit: &Visit, id: &str, status: u16, notes: &OrderNotes<'_>) -> Response {
    let back = format!("/purchases/{id}");
    if visit.visitor.user.is_none() {
        return visit.sign_in_first(&back);
    }
    let purchase = match visit.api.purchase(id).await {
        Ok(purchase) => purchase,
        Err(failure) => return visit.failed(failure, &back),
    };
    payment_page(visit, &purchase.hold(), status, notes, |now_ms, cards| {
        views::purchase(&visit.visitor, &purchase, now_ms, cards, notes)
    })
    .await
}

/// Pays with the posted card token, then shows the purchase being confirmed; a refusal (a
/// declined card, a lapsed hold) shows on the purchase's page, and a card to authenticate
/// brings the page back for Stripe.js.
pub async fn pay(visit: &Visit, id: &str, posted: &Form) -> Response {
    let token = posted.text("token");
    match paying(visit, id, token).await {
        Paying::Paid => respond::see_other(&format!("/purchases/{id}/paid"), None),
        Paying::Authenticate(secret) => {
            show(visit, id, 200, &OrderNotes::authenticating(token, &secret)).await
        }
        Paying::Refused(failure) => refused(visit, id, failure, Some(token)).await,
    }
}

/// Cancels the purchase, then shows it.
pub async fn cancel(visit: &Visit, id: &str) -> Response {
    match visit.api.cancel_purchase(id).await {
        Ok(()) => respond::see_other(&format!("/purchases/{id}"), None),
        Err(failure) => refused(visit, id, failure, None).await,
    }
}

/// The purchase's page with the API's reasons for refusing, or the failure's own page.
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
        failure => visit.failed(failure, &format!("/purchases/{id}")),
    }
}
