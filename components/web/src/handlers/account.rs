//! Signing up, in and out.

use spin_sdk::http::Response;

use super::Visit;
use crate::api::Failure;
use crate::form::{local_path, Form};
use crate::respond;
use crate::views::account::{form, Door};

/// The sign-up or sign-in form; `next` (from the query) is where to go afterwards.
pub fn door(visit: &Visit, door: Door, query: &Form) -> Response {
    let next = local_path(query.get("next"));
    respond::page(200, form(&visit.visitor, door, "", next, &[]))
}

/// Signs up or in with the posted email and password: on success, the session cookie and
/// on to `next`; on a refusal, the form again with the API's errors.
pub async fn enter(visit: &Visit, door: Door, posted: &Form) -> Response {
    let (email, password) = (posted.text("email"), posted.text("password"));
    let next = local_path(posted.get("next"));
    let entered = match door {
        Door::SignUp => visit.api.sign_up(email, password).await,
        Door::SignIn => visit.api.sign_in(email, password).await,
    };
    match entered {
        Ok(set_cookie) => respond::see_other(next, set_cookie.as_deref()),
        Err(Failure::Refused {
            status: 400,
            problems,
        }) => respond::page(400, form(&visit.visitor, door, email, next, &problems)),
        Err(failure) => visit.failed(failure, "/"),
    }
}

/// Signs out and goes to the listing.
pub async fn sign_out(visit: &Visit) -> Response {
    match visit.api.sign_out().await {
        Ok(set_cookie) => respond::see_other("/", set_cookie.as_deref()),
        Err(failure) => visit.failed(failure, "/"),
    }
}
