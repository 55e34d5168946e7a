//! What each page path does: read the visitor, call the API, and answer a page or a
//! redirect. Paths, in one table ([`Route::of`]):
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
//!
//! Every post passes [`csrf::check`] first.

mod account;
mod orders;
mod tickets;

use boxoffice_shared::http::not_found;
use boxoffice_shared::ApiRequest;
use spin_sdk::http::{Method, Response};

use crate::api::{Api, Failure};
use crate::form::Form;
use crate::views::account::Door;
use crate::views::{errors, Visitor};
use crate::{assets, csrf, respond};

/// A page path, with the ids in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    Listing,
    DoorForm(Door),
    Enter(Door),
    SignOut,
    SellForm,
    Sell,
    Ticket(&'a str),
    Buy(&'a str),
    EditForm(&'a str),
    Edit(&'a str),
    MyOrders,
    Order(&'a str),
    Paid(&'a str),
    Pay(&'a str),
    Cancel(&'a str),
}

impl<'a> Route<'a> {
    /// The route of a GET (`post` false) or POST to `segments`.
    fn of(post: bool, segments: &[&'a str]) -> Option<Self> {
        Some(match (post, segments) {
            (false, []) => Route::Listing,
            (false, ["signup"]) => Route::DoorForm(Door::SignUp),
            (false, ["signin"]) => Route::DoorForm(Door::SignIn),
            (true, ["signup"]) => Route::Enter(Door::SignUp),
            (true, ["signin"]) => Route::Enter(Door::SignIn),
            (true, ["signout"]) => Route::SignOut,
            (false, ["sell"]) => Route::SellForm,
            (true, ["sell"]) => Route::Sell,
            (false, ["tickets", id]) => Route::Ticket(id),
            (true, ["tickets", id, "order"]) => Route::Buy(id),
            (false, ["tickets", id, "edit"]) => Route::EditForm(id),
            (true, ["tickets", id, "edit"]) => Route::Edit(id),
            (false, ["orders"]) => Route::MyOrders,
            (false, ["orders", id]) => Route::Order(id),
            (false, ["orders", id, "paid"]) => Route::Paid(id),
            (true, ["orders", id, "pay"]) => Route::Pay(id),
            (true, ["orders", id, "cancel"]) => Route::Cancel(id),
            _ => return None,
        })
    }
}

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

/// Answers a request for anything outside `/api`.
pub async fn handle(request: &ApiRequest) -> Response {
    let post = match request.method {
        Method::Get | Method::Head => false,
        Method::Post => true,
        _ => return not_found(),
    };
    if !post {
        if let Some(asset) = assets::serve(&request.path) {
            return asset;
        }
    }
    let segments = request.segments();
    let route = Route::of(post, &segments);
    if route.is_none() && !wants_html(request) {
        return not_found();
    }
    let api = Api::for_request(request);
    let visit = Visit {
        visitor: visitor(request, &api).await,
        api,
    };
    let Some(route) = route else {
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
    match route {
        Route::Listing => tickets::listing(&visit).await,
        Route::DoorForm(door) => account::door(&visit, door, &form),
        Route::Enter(door) => account::enter(&visit, door, &form).await,
        Route::SignOut => account::sign_out(&visit).await,
        Route::SellForm => tickets::sell_form(&visit),
        Route::Sell => tickets::sell(&visit, &form).await,
        Route::Ticket(id) => tickets::ticket(&visit, id).await,
        Route::Buy(id) => tickets::buy(&visit, id).await,
        Route::EditForm(id) => tickets::edit_form(&visit, id).await,
        Route::Edit(id) => tickets::edit(&visit, id, &form).await,
        Route::MyOrders => orders::my_orders(&visit).await,
        Route::Order(id) => orders::order(&visit, id, false).await,
        Route::Paid(id) => orders::order(&visit, id, true).await,
        Route::Pay(id) => orders::pay(&visit, id, &form).await,
        Route::Cancel(id) => orders::cancel(&visit, id, &form).await,
    }
}

async fn visitor(request: &ApiRequest, api: &Api) -> Visitor {
    Visitor {
        user: api.current_user().await,
        csrf: csrf::token(request),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_path_has_one_route_and_others_none() {
        assert_eq!(Route::of(false, &[]), Some(Route::Listing));
        assert_eq!(Route::of(true, &[]), None);
        assert_eq!(
            Route::of(true, &["tickets", "t1", "order"]),
            Some(Route::Buy("t1"))
        );
        assert_eq!(Route::of(false, &["tickets", "t1", "order"]), None);
        assert_eq!(
            Route::of(false, &["orders", "o1", "paid"]),
            Some(Route::Paid("o1"))
        );
        assert_eq!(Route::of(false, &["orders", "o1", "pay"]), None);
        assert_eq!(Route::of(false, &["tickets"]), None);
        assert_eq!(Route::of(true, &["signout"]), Some(Route::SignOut));
    }
}
