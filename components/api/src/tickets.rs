//! The tickets component: the tickets for sale (docs/api.md, "Tickets"), and its event
//! route.

use serde::Serialize;
use utoipa::ToSchema;

use crate::events::event_route;
use crate::route::operations;
use crate::schemas::{Errors, Unavailable};

operations!("tickets":
    /// `POST /api/tickets`
    Create in "tickets",
    /// `GET /api/tickets`
    List in "tickets",
    /// `GET /api/tickets/{id}`
    Show in "tickets",
    /// `PUT /api/tickets/{id}`
    Edit in "tickets",
    /// `POST /internal/events/tickets`
    Deliver in "events",
);

event_route!(Deliver, "/internal/events/tickets", "tickets");

/// A ticket's title and price, to create or edit it.
#[derive(Serialize, ToSchema)]
pub struct TicketInput {
    /// 1 to 200 characters once trimmed.
    #[schema(min_length = 1, max_length = 200, example = "Opera night")]
    pub title: String,
    /// US dollars: what Stripe can charge (0.50 to 999,999.99), at most 2 decimals.
    #[schema(minimum = 0.5, maximum = 999999.99, multiple_of = 0.01, example = 20.5)]
    pub price: f64,
}

/// A ticket.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    /// Id (24 hex digits).
    pub id: String,
    /// Title.
    pub title: String,
    /// US dollars.
    pub price: f64,
    /// The seller.
    pub user_id: String,
    /// Goes up by exactly 1 on every change.
    pub version: i64,
    /// The order holding the ticket, while reserved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
}

/// Put a ticket on sale
///
/// Publishes `ticket:created`.
#[utoipa::path(
    post,
    path = "/api/tickets",
    impl_for = Create,
    request_body = TicketInput,
    responses(
        (status = 201, description = "The ticket, at version 0.", body = Ticket),
        (status = 400, description = "Invalid title or price.", body = Errors),
        (status = 401, description = "Not signed in (checked before the body).", body = Errors),
        (status = 503, response = Unavailable),
    ),
    security(("session" = [])),
)]
#[allow(dead_code)]
fn create() {}

/// The header in which the listing says how many tickets are on sale in all.
pub const TOTAL_COUNT: &str = "x-total-count";

/// The tickets on sale
///
/// Reserved tickets are left out, unless `ids` names them: then exactly those tickets,
/// reserved or not, in the order asked (unknown ids left out), so that a client holding
/// many ids asks once. The listing is paged (`limit`, `offset`), and answers the same array
/// a client of the reference API, which does not page, expects.
#[utoipa::path(
    get,
    path = "/api/tickets",
    impl_for = List,
    params(
        ("ids" = Option<String>, Query, description = "At most 100 ticket ids, separated by commas."),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "How many tickets on sale, 1 to 200 (default 100); not with `ids`."),
        ("offset" = Option<i64>, Query, minimum = 0, description = "How many to skip, oldest first (default 0); not with `ids`."),
    ),
    responses(
        (status = 200, description = "A page of the tickets on sale, oldest first, or those asked for.", body = Vec<Ticket>,
            headers(("x-total-count" = u64, description = "How many tickets are on sale in all (the listing only)."))),
        (status = 400, description = "`ids` holds something that is not a ticket id, or more than 100; or `limit` or `offset` is out of range.", body = Errors),
        (status = 503, response = Unavailable),
    ),
)]
#[allow(dead_code)]
fn list() {}

/// A ticket
#[utoipa::path(
    get,
    path = "/api/tickets/{id}",
    impl_for = Show,
    params(("id" = String, Path, description = "The ticket's id.")),
    responses(
        (status = 200, description = "The ticket.", body = Ticket),
        (status = 404, description = "No such ticket (or a malformed id).", body = Errors),
        (status = 503, response = Unavailable),
    ),
)]
#[allow(dead_code)]
fn show() {}

/// Edit a ticket
///
/// Only its seller may, and not while it is reserved ("Cannot edit a reserved ticket",
/// checked before the seller). Publishes `ticket:updated`.
#[utoipa::path(
    put,
    path = "/api/tickets/{id}",
    impl_for = Edit,
    params(("id" = String, Path, description = "The ticket's id.")),
    request_body = TicketInput,
    responses(
        (status = 200, description = "The ticket, version + 1.", body = Ticket),
        (status = 400, description = "Invalid title or price, or the ticket is reserved.", body = Errors),
        (status = 401, description = "Not signed in, or not the seller.", body = Errors),
        (status = 404, description = "No such ticket.", body = Errors),
        (status = 503, response = Unavailable),
    ),
    security(("session" = [])),
)]
#[allow(dead_code)]
fn edit() {}
