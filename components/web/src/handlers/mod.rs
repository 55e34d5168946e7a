//! What each page path does: read the visitor, call the API, and answer a page or a
//! redirect. The paths are the web component's operations in the API document
//! (`boxoffice_api::web`), which also lists them at `/api/docs`:
//!
//! | Path | GET | POST |
//! |---|---|---|
//! | `/` | the listing | |
//! | `/signup`, `/signin` | the form | sign up / in, then back to `next` |
//! | `/signout` | | sign out |
//! | `/sell` | the form | put a ticket on sale |
//! | `/tickets/:id` | the ticket | |
//! | `/tickets/:id/order` | | reserve it |
//! | `/tickets/:id/edit` | the form | edit it |
//! | `/orders` | my orders | |
//! | `/orders/:id` (`/paid`) | the order (just paid) | |
//! | `/orders/:id/pay`, `/cancel` | | pay, cancel |
//! | `/shop` | the goods: search, categories, pages | |
//! | `/shop/sell` | the form | list a product |
//! | `/shop/products/:sku` | the product, its rating | |
//! | `/shop/products/:sku/cart`, `/rating` | | add to the cart, rate |
//! | `/shop/products/:sku/edit` | the form | edit it |
//! | `/cart` | the cart | |
//! | `/cart/items/:sku` (`/remove`), `/cart/shipping`, `/cart/checkout` | | change a line, remove it, ship, check out |
//! | `/purchases` | my purchases | |
//! | `/purchases/:id` (`/paid`) | the purchase (just paid) | |
//! | `/purchases/:id/pay`, `/cancel` | | pay, cancel |
//! | `/assets/:file` | an asset | |
//! | `/api/openapi.json`, `/api/docs` | the API document, as JSON and as a page | |
//!
//! A `HEAD` is answered as the `GET`. Every post passes [`csrf::check`] first.

mod account;
mod cart;
mod docs;
mod orders;
mod purchases;
mod shop;
mod tickets;

use boxoffice_api::web::{route, Operation};
use boxoffice_shared::http::{not_found, Params};
use boxoffice_shared::{ApiError, ApiRequest};
use spin_sdk::http::{Method, Response};

use crate::api::{Api, Failure};
use crate::form::Form;
use crate::views::account::Door;
use crate::views::{errors, Visitor};
use crate::{assets, csrf, respond};

/// One request to a page: the visitor and the API on their behalf.
pub struct Visit {
    /// The API, as the visitor.
    pub api: Api,
    /// Who they are.
    pub visitor: Visitor,
}

impl Visit {
    /// A redirect to the sign-in page, coming back to `back` afterwards.
    fn sign_in_first(&self, back: &str) -> Response {
        let next: String = form_urlencoded::byte_serialize(back.as_bytes()).collect();
        respond::see_other(&format!("/signin?next={next}"), None)
    }

    /// The page for a call that failed: 404 for what is not there or not theirs, the
    /// sign-in page for a lapsed session, 503 when the shop cannot answer, else the API's
    /// own words.
    fn failed(&self, failure: Failure, back: &str) -> Response {
        match failure {
            Failure::Refused { status: 401, .. } if self.visitor.user.is_none() => {
                self.sign_in_first(back)
            }
            Failure::Refused {
                status: 401 | 404, ..
            } => respond::page(404, errors::not_found(&self.visitor)),
            Failure::Refused { status, problems } => {
                let text: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
                respond::page(
                    status,
                    errors::message(&self.visitor, "That did not work", &text.join(". ")),
                )
            }
            Failure::Unavailable => respond::page(503, errors::unavailable(&self.visitor)),
        }
    }
}

/// Whether the client asked for a page (a browser's `Accept`).
pub fn wants_html(request: &ApiRequest) -> bool {
    request
        .header("accept")
        .is_some_and(|accept| accept.contains("text/html"))
}

/// Answers a request for anything the API services do not serve.
pub async fn handle(request: &ApiRequest) -> Response {
    // HEAD is GET without the body, which the host leaves out.
    let method = match request.method {
        Method::Head => "GET".to_owned(),
        ref method => method.to_string(),
    };
    let routed = route(&method, &request.path);
    let post = request.method == Method::Post;
    match routed {
        // Neither needs the visitor, so the API is not asked who they are.
        Some((Operation::Asset, params)) => return asset(&params),
        Some((Operation::OpenApi, _)) => return docs::document(),
        None if !wants_html(request)
            || !matches!(request.method, Method::Get | Method::Head | Method::Post) =>
        {
            return not_found()
        }
        _ => {}
    }
    let api = Api::for_request(request);
    let visit = Visit {
        visitor: visitor(request, &api).await,
        api,
    };
    let Some((operation, params)) = routed else {
        return respond::page(404, errors::not_found(&visit.visitor));
    };
    let form = if post {
        let form = Form::posted(request);
        if let Err(refusal) = csrf::check(request, form.get(csrf::FIELD)) {
            return respond::page(403, errors::refused(&visit.visitor, refusal));
        }
        form
    } else {
        Form::query(request)
    };
    page(&visit, operation, &params, &form).await
}

/// The page of a routed operation.
async fn page(visit: &Visit, operation: Operation, params: &Params, form: &Form) -> Response {
    let (id, sku) = (params.get("id"), params.get("sku"));
    match operation {
        Operation::Listing => tickets::listing(visit).await,
        Operation::SignUpForm => account::door(visit, Door::SignUp, form),
        Operation::SignInForm => account::door(visit, Door::SignIn, form),
        Operation::SignUp => account::enter(visit, Door::SignUp, form).await,
        Operation::SignIn => account::enter(visit, Door::SignIn, form).await,
        Operation::SignOut => account::sign_out(visit).await,
        Operation::SellForm => tickets::sell_form(visit),
        Operation::Sell => tickets::sell(visit, form).await,
        Operation::Ticket => tickets::ticket(visit, id).await,
        Operation::Buy => tickets::buy(visit, id).await,
        Operation::EditForm => tickets::edit_form(visit, id).await,
        Operation::Edit => tickets::edit(visit, id, form).await,
        Operation::MyOrders => orders::my_orders(visit).await,
        Operation::Order => orders::order(visit, id, false).await,
        Operation::Paid => orders::order(visit, id, true).await,
        Operation::Pay => orders::pay(visit, id, form).await,
        Operation::Cancel => orders::cancel(visit, id, form).await,
        Operation::Shop => shop::catalog(visit, form).await,
        Operation::SellProductForm => shop::sell_form(visit),
        Operation::SellProduct => shop::sell(visit, form).await,
        Operation::Product => shop::product(visit, sku).await,
        Operation::EditProductForm => shop::edit_form(visit, sku).await,
        Operation::EditProduct => shop::edit(visit, sku, form).await,
        Operation::AddToCart => shop::add_to_cart(visit, sku, form).await,
        Operation::Rate => shop::rate(visit, sku, form).await,
        Operation::Cart => cart::cart(visit).await,
        Operation::SetQuantity => cart::set_quantity(visit, sku, form).await,
        Operation::RemoveItem => cart::remove(visit, sku).await,
        Operation::Ship => cart::ship(visit, form).await,
        Operation::Checkout => cart::checkout(visit).await,
        Operation::MyPurchases => purchases::my_purchases(visit).await,
        Operation::Purchase => purchases::purchase(visit, id, false).await,
        Operation::PurchasePaid => purchases::purchase(visit, id, true).await,
        Operation::PayPurchase => purchases::pay(visit, id, form).await,
        Operation::CancelPurchase => purchases::cancel(visit, id).await,
        Operation::Docs => docs::page(visit),
        Operation::Asset => asset(params),
        Operation::OpenApi => docs::document(),
    }
}

/// The asset named by the path, or the API's 404 for an unknown one.
fn asset(params: &Params) -> Response {
    assets::serve(params.get("file")).unwrap_or_else(|| ApiError::NotFound.to_response())
}

async fn visitor(request: &ApiRequest, api: &Api) -> Visitor {
    Visitor {
        user: api.current_user().await,
        csrf: csrf::token(request),
    }
}
