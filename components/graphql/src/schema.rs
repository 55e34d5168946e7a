//! The GraphQL schema: the queries and mutations of the ticket shop, each resolved by the
//! service that owns its rules ([`crate::services`]). Nothing here decides anything a
//! service decides: a price, a title, who may cancel, whether an order may be paid.

use std::sync::Arc;

use async_graphql::{
    Context, EmptySubscription, Enum, Error, ErrorExtensions, Object, Schema as GraphQlSchema,
    SimpleObject, ID,
};
use serde::Deserialize;
use serde_json::json;
use spin_sdk::http::Method;

use crate::services::{Services, AUTH, ORDERS, PAYMENTS, TICKETS};

/// The schema of `/api/graphql`.
pub type Schema = GraphQlSchema<Query, Mutation, EmptySubscription>;

/// How deep a query may nest.
pub const MAX_DEPTH: usize = 6;
/// How complex a query may be (each field counts 1; a list's fields count per item asked).
pub const MAX_COMPLEXITY: usize = 250;
/// The most tickets one page of `tickets` holds.
pub const MAX_PAGE: usize = 100;

/// The schema, bounded; `introspection` lets clients ask it about itself (off in
/// production).
pub fn schema(introspection: bool) -> Schema {
    let builder = GraphQlSchema::build(Query, Mutation, EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY);
    if introspection {
        builder.finish()
    } else {
        builder.disable_introspection().finish()
    }
}

/// The message when a client asks the schema about itself while introspection is off.
pub const NO_INTROSPECTION: &str =
    "Introspection is off here (the graphql_introspection variable turns it on)";

/// Whether `query` asks the schema about itself (`__schema` or `__type`, anywhere in its
/// operations or fragments); a document that does not parse is left for the schema to
/// refuse.
pub fn asks_about_itself(query: &str) -> bool {
    use async_graphql::parser::types::{Selection, SelectionSet};
    fn any(set: &SelectionSet) -> bool {
        set.items.iter().any(|item| match &item.node {
            Selection::Field(field) => {
                matches!(field.node.name.node.as_str(), "__schema" | "__type")
                    || any(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => any(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => false,
        })
    }
    let Ok(document) = async_graphql::parser::parse_query(query) else {
        return false;
    };
    document
        .operations
        .iter()
        .any(|(_, operation)| any(&operation.node.selection_set.node))
        || document
            .fragments
            .values()
            .any(|fragment| any(&fragment.node.selection_set.node))
}

fn services<'a>(ctx: &'a Context<'_>) -> &'a Services {
    ctx.data_unchecked::<Arc<Services>>()
}

/// A user.
#[derive(SimpleObject, Deserialize, Clone)]
pub struct User {
    /// Id.
    pub id: ID,
    /// Email address.
    pub email: String,
}

/// A ticket for sale.
#[derive(SimpleObject, Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    /// Id.
    pub id: ID,
    /// What is sold.
    pub title: String,
    /// US dollars.
    pub price: f64,
    /// The seller.
    pub user_id: ID,
    /// Goes up by exactly 1 on every change.
    pub version: i64,
    /// The order holding it, while reserved.
    pub order_id: Option<ID>,
}

/// A page of the tickets on sale.
#[derive(SimpleObject)]
pub struct TicketPage {
    /// The tickets of this page, oldest first.
    pub items: Vec<Ticket>,
    /// How many tickets are on sale in all.
    pub total: usize,
    /// How many were skipped.
    pub offset: usize,
}

/// Where an order is in its life.
#[derive(Enum, Deserialize, Copy, Clone, Eq, PartialEq)]
pub enum OrderStatus {
    /// Reserved, not paid.
    #[serde(rename = "created")]
    Created,
    /// Cancelled by its buyer or by expiry.
    #[serde(rename = "cancelled")]
    Cancelled,
    /// Awaiting payment.
    #[serde(rename = "awaiting:payment")]
    AwaitingPayment,
    /// Paid.
    #[serde(rename = "complete")]
    Complete,
}

/// The ticket inside an order, as the orders service shows it.
#[derive(Deserialize, Clone)]
struct HeldTicket {
    id: String,
}

/// An order as the orders service answers it.
#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct OrderAnswer {
    id: ID,
    user_id: ID,
    status: OrderStatus,
    expires_at: String,
    updated_at: String,
    version: i64,
    ticket: HeldTicket,
}

/// An order, with its ticket.
#[derive(SimpleObject, Clone)]
pub struct Order {
    /// Id.
    pub id: ID,
    /// The buyer.
    pub user_id: ID,
    /// Where it is in its life.
    pub status: OrderStatus,
    /// When the reservation lapses (ISO 8601).
    pub expires_at: String,
    /// When its status last changed (ISO 8601).
    pub updated_at: String,
    /// Goes up by exactly 1 on every change.
    pub version: i64,
    /// The reserved ticket.
    pub ticket: Ticket,
}

/// A payment.
#[derive(SimpleObject, Deserialize)]
pub struct Payment {
    /// Id.
    pub id: ID,
}

/// The tickets of `answers`, fetched in one call to the tickets service whatever their
/// number (no call per order), and the orders with them.
async fn with_tickets(ctx: &Context<'_>, answers: Vec<OrderAnswer>) -> Result<Vec<Order>, Error> {
    if answers.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = answers.iter().map(|a| a.ticket.id.as_str()).collect();
    let url = format!("{TICKETS}?ids={}", ids.join(","));
    let tickets: Vec<Ticket> = services(ctx).read(ctx, Method::Get, &url, None).await?;
    answers
        .into_iter()
        .map(|answer| {
            let ticket = tickets
                .iter()
                .find(|t| t.id.as_str() == answer.ticket.id)
                .cloned()
                .ok_or_else(|| Error::new(format!("Ticket {} is gone", answer.ticket.id)))?;
            Ok(Order {
                id: answer.id,
                user_id: answer.user_id,
                status: answer.status,
                expires_at: answer.expires_at,
                updated_at: answer.updated_at,
                version: answer.version,
                ticket,
            })
        })
        .collect()
}

/// The queries.
pub struct Query;

#[Object]
impl Query {
    /// The signed-in user, or null.
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<User>, Error> {
        #[derive(Deserialize)]
        struct Answer {
            #[serde(rename = "currentUser")]
            current_user: Option<User>,
        }
        let url = format!("{AUTH}/currentuser");
        let answer: Answer = services(ctx).read(ctx, Method::Get, &url, None).await?;
        Ok(answer.current_user)
    }

    /// The tickets on sale, a page at a time (oldest first).
    async fn tickets(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20, validator(minimum = 1, maximum = 100))] limit: usize,
        #[graphql(default = 0)] offset: usize,
    ) -> Result<TicketPage, Error> {
        let url = format!("{TICKETS}?limit={}&offset={offset}", limit.min(MAX_PAGE));
        let (items, total): (Vec<Ticket>, _) = services(ctx)
            .read_counted(ctx, Method::Get, &url, None)
            .await?;
        Ok(TicketPage {
            total: total.unwrap_or(offset + items.len()),
            items,
            offset,
        })
    }

    /// A ticket.
    async fn ticket(&self, ctx: &Context<'_>, id: ID) -> Result<Ticket, Error> {
        let url = format!("{TICKETS}/{}", segment(&id));
        services(ctx).read(ctx, Method::Get, &url, None).await
    }

    /// The signed-in user's orders, oldest first, each with its ticket: one call to the
    /// orders service and one to the tickets service, however many orders.
    async fn my_orders(&self, ctx: &Context<'_>) -> Result<Vec<Order>, Error> {
        let answers: Vec<OrderAnswer> = services(ctx).read(ctx, Method::Get, ORDERS, None).await?;
        with_tickets(ctx, answers).await
    }

    /// One of the signed-in user's orders.
    async fn order(&self, ctx: &Context<'_>, id: ID) -> Result<Order, Error> {
        let url = format!("{ORDERS}/{}", segment(&id));
        let answer: OrderAnswer = services(ctx).read(ctx, Method::Get, &url, None).await?;
        Ok(with_tickets(ctx, vec![answer]).await?.remove(0))
    }
}

/// The mutations.
pub struct Mutation;

#[Object]
impl Mutation {
    /// Signs up and signs in (the response sets the session cookie).
    async fn sign_up(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
    ) -> Result<User, Error> {
        let body = json!({"email": email, "password": password});
        let url = format!("{AUTH}/signup");
        services(ctx)
            .read(ctx, Method::Post, &url, Some(body))
            .await
    }

    /// Signs in (the response sets the session cookie).
    async fn sign_in(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
    ) -> Result<User, Error> {
        let body = json!({"email": email, "password": password});
        let url = format!("{AUTH}/signin");
        services(ctx)
            .read(ctx, Method::Post, &url, Some(body))
            .await
    }

    /// Signs out (the response clears the session cookie); with `everywhere: true`, every
    /// session of the user ends, on every device.
    async fn sign_out(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false)] everywhere: bool,
    ) -> Result<bool, Error> {
        let url = format!("{AUTH}/signout");
        services(ctx)
            .act(
                ctx,
                Method::Post,
                &url,
                Some(json!({ "everywhere": everywhere })),
            )
            .await?;
        Ok(true)
    }

    /// Puts a ticket on sale.
    async fn create_ticket(
        &self,
        ctx: &Context<'_>,
        title: String,
        price: f64,
    ) -> Result<Ticket, Error> {
        let body = json!({"title": title, "price": price});
        services(ctx)
            .read(ctx, Method::Post, TICKETS, Some(body))
            .await
    }

    /// Edits one's own ticket.
    async fn update_ticket(
        &self,
        ctx: &Context<'_>,
        id: ID,
        title: String,
        price: f64,
    ) -> Result<Ticket, Error> {
        let body = json!({"title": title, "price": price});
        let url = format!("{TICKETS}/{}", segment(&id));
        services(ctx).read(ctx, Method::Put, &url, Some(body)).await
    }

    /// Reserves a ticket.
    async fn place_order(&self, ctx: &Context<'_>, ticket_id: ID) -> Result<Order, Error> {
        let body = json!({"ticketId": ticket_id.as_str()});
        let answer: OrderAnswer = services(ctx)
            .read(ctx, Method::Post, ORDERS, Some(body))
            .await?;
        Ok(with_tickets(ctx, vec![answer]).await?.remove(0))
    }

    /// Cancels one's own order (not a paid one).
    async fn cancel_order(&self, ctx: &Context<'_>, id: ID) -> Result<bool, Error> {
        let url = format!("{ORDERS}/{}", segment(&id));
        services(ctx).act(ctx, Method::Delete, &url, None).await?;
        Ok(true)
    }

    /// Pays for an order with a payment method or a card token (Stripe's; `pm_card_visa`
    /// or `tok_visa` in test mode). A card that needs 3-D Secure is an error with the code
    /// `PAYMENT_REQUIRES_ACTION` and the payment's `clientSecret` for Stripe.js
    /// (`handleNextAction`); pay again once authenticated. One Stripe is still processing
    /// is `PAYMENT_PROCESSING`: the order completes when it is done.
    async fn pay(&self, ctx: &Context<'_>, order_id: ID, token: String) -> Result<Payment, Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Answer {
            id: Option<ID>,
            status: Option<String>,
            client_secret: Option<String>,
        }
        let body = json!({"orderId": order_id.as_str(), "token": token});
        let answer: Answer = services(ctx)
            .read(ctx, Method::Post, PAYMENTS, Some(body))
            .await?;
        if let Some(id) = answer.id {
            return Ok(Payment { id });
        }
        let secret = answer.client_secret;
        Err(match answer.status.as_deref() {
            Some("requires_action") => Error::new(
                "The buyer's bank asks them to authenticate this payment (3-D Secure) with Stripe.js",
            )
            .extend_with(|_, e| {
                e.set("code", "PAYMENT_REQUIRES_ACTION");
                if let Some(secret) = &secret {
                    e.set("clientSecret", secret.as_str());
                }
            }),
            _ => Error::new("Stripe is still processing this payment")
                .extend_with(|_, e| e.set("code", "PAYMENT_PROCESSING")),
        })
    }
}

/// An id as one path segment: percent-encoded, so that it can only name, never route.
fn segment(id: &str) -> String {
    form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asking_the_schema_about_itself_is_found_anywhere_in_a_document() {
        assert!(asks_about_itself("{ __schema { queryType { name } } }"));
        assert!(asks_about_itself(
            "{ tickets { items { id } } __type(name: \"Ticket\") { name } }"
        ));
        assert!(asks_about_itself(
            "{ ...F } fragment F on Query { __schema { types { name } } }"
        ));
        assert!(asks_about_itself(
            "{ ... on Query { __schema { types { name } } } }"
        ));
        assert!(!asks_about_itself(
            "{ tickets { items { id __typename } } }"
        ));
        assert!(!asks_about_itself("{ not a document"));
    }

    #[test]
    fn the_schema_has_the_operations_of_the_issue_and_no_introspection_by_default() {
        let sdl = schema(false).sdl();
        for field in [
            "me",
            "tickets(",
            "ticket(",
            "myOrders",
            "order(",
            "signUp(",
            "signIn(",
            "signOut",
            "createTicket(",
            "updateTicket(",
            "placeOrder(",
            "cancelOrder(",
            "pay(",
        ] {
            assert!(sdl.contains(field), "{field} is missing from:\n{sdl}");
        }
        let answer = futures::executor::block_on(
            schema(false).execute("{ __schema { queryType { name } } }"),
        );
        assert_eq!(answer.data.to_string(), "{__schema: null}");
    }
}
