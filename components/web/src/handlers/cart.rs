//! The cart: its page, changing its lines, choosing where it ships, and checking out. Every
//! answer of the cart may set its `cart` cookie (a new visitor's, or cleared once a
//! visitor's cart moved into a shopper's), which goes on to the browser.

use spin_sdk::http::Response;

use super::Visit;
use crate::api::{Cart, Carted, Failure, FieldError};
use crate::form::Form;
use crate::respond;
use crate::views::cart as views;

const PATH: &str = "/cart";

/// The cart's page.
pub async fn cart(visit: &Visit) -> Response {
    show(visit, 200, &[]).await
}

/// The cart's page with `problems`, the API's answer to a form that did not go through.
async fn show(visit: &Visit, status: u16, problems: &[FieldError]) -> Response {
    match visit.api.cart().await {
        Ok(carted) => {
            let cities = visit.api.cities().await.ok();
            let page = views::cart(&visit.visitor, &carted.value, cities.as_deref(), problems);
            respond::with_cookie(respond::page(status, page), carted.set_cookie.as_deref())
        }
        Err(failure) => visit.failed(failure, PATH),
    }
}

/// After a change: the cart again, or the cart with the API's reasons for refusing.
async fn changed(visit: &Visit, result: Result<Carted<Cart>, Failure>) -> Response {
    match result {
        Ok(carted) => respond::see_other(PATH, carted.set_cookie.as_deref()),
        Err(Failure::Refused {
            status: 400,
            problems,
        }) => show(visit, 400, &problems).await,
        Err(failure) => visit.failed(failure, PATH),
    }
}

/// Sets a line's quantity to the posted one (0 removes it).
pub async fn set_quantity(visit: &Visit, sku: &str, posted: &Form) -> Response {
    let result = visit.api.set_quantity(sku, posted.text("quantity")).await;
    changed(visit, result).await
}

/// Takes a product out of the cart.
pub async fn remove(visit: &Visit, sku: &str) -> Response {
    let result = visit.api.remove_item(sku).await;
    changed(visit, result).await
}

/// Ships the cart to the posted city.
pub async fn ship(visit: &Visit, posted: &Form) -> Response {
    let result = visit.api.ship(posted.text("city")).await;
    changed(visit, result).await
}

/// Turns the cart into a purchase and shows it; a signed-out visitor signs in first (and
/// their cart follows them), and a refusal (empty, no shipping, not enough left) shows on
/// the cart's page.
pub async fn checkout(visit: &Visit) -> Response {
    if visit.visitor.user.is_none() {
        return visit.sign_in_first(PATH);
    }
    match visit.api.checkout().await {
        Ok(carted) => {
            let location = format!("/purchases/{}", carted.value.id);
            respond::see_other(&location, carted.set_cookie.as_deref())
        }
        Err(Failure::Refused {
            status: 400,
            problems,
        }) => show(visit, 400, &problems).await,
        Err(failure) => visit.failed(failure, PATH),
    }
}
