//! The listing, a ticket's page, buying, selling and editing.

use spin_sdk::http::Response;

use super::Visit;
use crate::api::{Failure, Ticket};
use crate::form::Form;
use crate::respond;
use crate::views::{errors, tickets as views};

/// The tickets on sale.
pub async fn listing(visit: &Visit) -> Response {
    match visit.api.tickets().await {
        Ok(tickets) => respond::page(200, views::listing(&visit.visitor, &tickets)),
        Err(failure) => visit.failed(failure, "/"),
    }
}

/// A ticket's page.
pub async fn ticket(visit: &Visit, id: &str) -> Response {
    let back = format!("/tickets/{id}");
    match visit.api.ticket(id).await {
        Ok(ticket) => respond::page(200, views::ticket(&visit.visitor, &ticket, &[])),
        Err(failure) => visit.failed(failure, &back),
    }
}

/// Reserves the ticket and goes to the new order; a refusal shows on the ticket's page.
pub async fn buy(visit: &Visit, id: &str) -> Response {
    let back = format!("/tickets/{id}");
    if visit.visitor.user.is_none() {
        return visit.sign_in_first(&back);
    }
    match visit.api.place_order(id).await {
        Ok(order) => respond::see_other(&format!("/orders/{}", order.id), None),
        Err(Failure::Refused {
            status: 400,
            problems,
        }) => match visit.api.ticket(id).await {
            Ok(ticket) => respond::page(400, views::ticket(&visit.visitor, &ticket, &problems)),
            Err(failure) => visit.failed(failure, &back),
        },
        Err(failure) => visit.failed(failure, &back),
    }
}

/// The form that puts a ticket on sale.
pub fn sell_form(visit: &Visit) -> Response {
    if visit.visitor.user.is_none() {
        return visit.sign_in_first("/sell");
    }
    respond::page(200, views::ticket_form(&visit.visitor, None, "", "", &[]))
}

/// Puts the posted ticket on sale and shows it; a refusal shows beside the fields.
pub async fn sell(visit: &Visit, posted: &Form) -> Response {
    let (title, price) = (posted.text("title"), posted.text("price"));
    let sold = visit.api.sell(title, price).await;
    saved(visit, None, posted, sold, "/sell")
}

/// After selling or editing: the ticket's page, or the form again with the API's errors
/// beside what was typed.
fn saved(
    visit: &Visit,
    editing: Option<&str>,
    posted: &Form,
    result: Result<Ticket, Failure>,
    back: &str,
) -> Response {
    match result {
        Ok(ticket) => respond::see_other(&format!("/tickets/{}", ticket.id), None),
        Err(Failure::Refused {
            status: 400,
            problems,
        }) => {
            let (title, price) = (posted.text("title"), posted.text("price"));
            let form = views::ticket_form(&visit.visitor, editing, title, price, &problems);
            respond::page(400, form)
        }
        Err(failure) => visit.failed(failure, back),
    }
}

/// The form that edits one's own ticket, filled in.
pub async fn edit_form(visit: &Visit, id: &str) -> Response {
    let back = format!("/tickets/{id}/edit");
    if visit.visitor.user.is_none() {
        return visit.sign_in_first(&back);
    }
    match visit.api.ticket(id).await {
        Ok(ticket) if visit.visitor.is(&ticket.user_id) => {
            let price = ticket.price.to_string();
            let form =
                views::ticket_form(&visit.visitor, Some(&ticket.id), &ticket.title, &price, &[]);
            respond::page(200, form)
        }
        Ok(_) => not_yours(visit),
        Err(failure) => visit.failed(failure, &back),
    }
}

/// Saves the posted edit and shows the ticket; a refusal shows beside the fields.
pub async fn edit(visit: &Visit, id: &str, posted: &Form) -> Response {
    let (title, price) = (posted.text("title"), posted.text("price"));
    match visit.api.edit(id, title, price).await {
        Err(Failure::Refused { status: 401, .. }) if visit.visitor.user.is_some() => {
            not_yours(visit)
        }
        edited => saved(
            visit,
            Some(id),
            posted,
            edited,
            &format!("/tickets/{id}/edit"),
        ),
    }
}

fn not_yours(visit: &Visit) -> Response {
    let text = "Only the seller of a ticket can edit it.";
    respond::page(
        403,
        errors::message(&visit.visitor, "Not your ticket", text),
    )
}
