//! The HTTP routes of the orders service (docs/api.md, "Orders"), and its event route
//! `POST /internal/events/orders` (events.toml). Authentication comes before
//! validation: an anonymous request with a bad body is a 401.

use boxoffice_api::orders::{route, Operation};
use boxoffice_shared::consume;
use boxoffice_shared::holds::Terms;
use boxoffice_shared::service::Context;
use boxoffice_shared::{http, validate, ApiError, ApiRequest};
use spin_sdk::http::Response;

use crate::{listen, orders, SERVICE};

/// What the routes work with; built per request by the entry point, or by tests.
pub struct Env {
    /// The database, the clock, the session and event keys.
    pub ctx: Context,
    /// How long a new order holds its ticket, and how many one buyer may hold.
    pub terms: Terms,
}

/// Answers one request: the documented operation of its method and path.
pub fn handle(request: &ApiRequest, env: &Env) -> Response {
    let Some((operation, params)) = request.route(route) else {
        return http::not_found();
    };
    let result = match operation {
        Operation::Create => create(request, env),
        Operation::List => list(request, env),
        Operation::Show => show(request, env, params.get("id")),
        Operation::Cancel => cancel(request, env, params.get("id")),
        Operation::Deliver => {
            return consume::event_route(SERVICE, request, &env.ctx, listen::receive)
        }
    };
    result.unwrap_or_else(|e| e.to_response())
}

fn ticket_id(request: &ApiRequest) -> Result<String, ApiError> {
    let body = request.json_object()?;
    validate::id("ticketId", body.get("ticketId")).map_err(|e| ApiError::Validation(vec![e]))
}

fn create(request: &ApiRequest, env: &Env) -> Result<Response, ApiError> {
    let session = env.ctx.sessions()?.require(request, env.ctx.now_ms)?;
    let ticket_id = ticket_id(request)?;
    let order = orders::create(
        env.ctx.db.get()?,
        &session.user.id,
        &ticket_id,
        &env.terms,
        env.ctx.now_ms,
    )?;
    http::json(201, &order)
}

fn list(request: &ApiRequest, env: &Env) -> Result<Response, ApiError> {
    let session = env.ctx.sessions()?.require(request, env.ctx.now_ms)?;
    http::json(200, &orders::list(env.ctx.db.get()?, &session.user.id)?)
}

fn show(request: &ApiRequest, env: &Env, id: &str) -> Result<Response, ApiError> {
    let session = env.ctx.sessions()?.require(request, env.ctx.now_ms)?;
    http::json(200, &orders::show(env.ctx.db.get()?, id, &session.user.id)?)
}

fn cancel(request: &ApiRequest, env: &Env, id: &str) -> Result<Response, ApiError> {
    let session = env.ctx.sessions()?.require(request, env.ctx.now_ms)?;
    orders::cancel(env.ctx.db.get()?, id, &session.user.id, env.ctx.now_ms)?;
    Ok(Response::builder().status(204).build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_shared::ids;
    use boxoffice_shared::testing;
    use serde_json::{json, Value};
    use spin_sdk::http::Method;

    use crate::storage;

    fn env() -> Env {
        Env {
            ctx: testing::context(storage::migrations()),
            terms: Terms {
                window_ms: 900_000,
                max_live: 10,
            },
        }
    }

    /// Sends method `m` to path `p` as user `u` (if any) with body `b` (if any).
    fn send(env: &Env, m: Method, p: &str, u: Option<&str>, b: Option<Value>) -> (u16, Value) {
        testing::answer(&handle(
            &testing::request(env.ctx.sessions().unwrap(), m, p, u, b),
            env,
        ))
    }

    fn deliver(env: &Env, id: &str, kind: &str, data: Value) -> u16 {
        let request = testing::delivery("/internal/events/orders", id, kind, &data);
        *handle(&request, env).status()
    }

    fn known_ticket(env: &Env) -> String {
        let id = ids::new_id();
        let created = json!({"id": id, "version": 0, "title": "concert", "price": 20,
                             "userId": "s".repeat(24)});
        assert_eq!(deliver(env, &ids::new_id(), "ticket:created", created), 204);
        id
    }

    #[test]
    fn serves_every_documented_operation_and_nothing_else() {
        let env = env();
        boxoffice_shared::testing::assert_serves_exactly::<Operation>(|request| {
            handle(request, &env)
        });
    }

    #[test]
    fn creating_an_order_checks_session_then_body_then_ticket() {
        let env = env();
        let path = "/api/orders";
        assert_eq!(send(&env, Method::Post, path, None, Some(json!({}))).0, 401);
        let (status, body) = send(&env, Method::Post, path, Some("a"), Some(json!({})));
        assert_eq!(
            (status, &body["errors"][0]["field"]),
            (400, &json!("ticketId"))
        );
        let (status, body) = send(
            &env,
            Method::Post,
            path,
            Some("a"),
            Some(json!({"ticketId": "nope"})),
        );
        assert_eq!(
            (status, &body["errors"][0]["field"]),
            (400, &json!("ticketId"))
        );
        let unknown = json!({"ticketId": "f".repeat(24)});
        assert_eq!(
            send(&env, Method::Post, path, Some("a"), Some(unknown)).0,
            404
        );

        let ticket = known_ticket(&env);
        let (status, order) = send(
            &env,
            Method::Post,
            path,
            Some("a"),
            Some(json!({"ticketId": ticket})),
        );
        assert_eq!(status, 201);
        assert_eq!(order["status"], "created");
        assert_eq!(order["userId"], "a".repeat(24));
        assert_eq!(order["version"], 0);
        assert_eq!(order["expiresAt"], "2024-05-01T12:15:00.000Z");
        assert_eq!(
            order["ticket"],
            json!({"id": ticket, "title": "concert", "price": 20, "version": 0})
        );
        let (status, body) = send(
            &env,
            Method::Post,
            path,
            Some("b"),
            Some(json!({"ticketId": ticket})),
        );
        assert_eq!(status, 400);
        assert_eq!(body["errors"][0]["message"], "Ticket is already reserved");
    }

    #[test]
    fn orders_are_listed_shown_and_cancelled_by_their_buyer() {
        let env = env();
        let ticket = known_ticket(&env);
        let (_, order) = send(
            &env,
            Method::Post,
            "/api/orders",
            Some("a"),
            Some(json!({"ticketId": ticket})),
        );
        let path = format!("/api/orders/{}", order["id"].as_str().unwrap());
        assert_eq!(send(&env, Method::Get, "/api/orders", None, None).0, 401);
        assert_eq!(
            send(&env, Method::Get, "/api/orders", Some("a"), None),
            (200, json!([order.clone()]))
        );
        assert_eq!(
            send(&env, Method::Get, "/api/orders", Some("b"), None),
            (200, json!([]))
        );
        assert_eq!(send(&env, Method::Get, &path, None, None).0, 401);
        assert_eq!(send(&env, Method::Get, &path, Some("b"), None).0, 401);
        assert_eq!(
            send(&env, Method::Get, &path, Some("a"), None),
            (200, order.clone())
        );
        assert_eq!(
            send(&env, Method::Get, "/api/orders/nope", Some("a"), None).0,
            404
        );
        assert_eq!(send(&env, Method::Delete, &path, None, None).0, 401);
        assert_eq!(send(&env, Method::Delete, &path, Some("b"), None).0, 401);
        let missing = format!("/api/orders/{}", "f".repeat(24));
        assert_eq!(send(&env, Method::Delete, &missing, Some("a"), None).0, 404);
        assert_eq!(
            send(&env, Method::Delete, &path, Some("a"), None),
            (204, Value::Null)
        );
        assert_eq!(
            send(&env, Method::Delete, &path, Some("a"), None),
            (204, Value::Null)
        );
        let (_, cancelled) = send(&env, Method::Get, &path, Some("a"), None);
        assert_eq!(
            (&cancelled["status"], &cancelled["version"]),
            (&json!("cancelled"), &json!(1))
        );
        assert_eq!(send(&env, Method::Put, &path, Some("a"), None).0, 404);
        assert_eq!(send(&env, Method::Get, "/api/other", None, None).0, 404);
    }

    #[test]
    fn payment_completes_an_order_which_then_cannot_be_cancelled() {
        let env = env();
        let ticket = known_ticket(&env);
        let (_, order) = send(
            &env,
            Method::Post,
            "/api/orders",
            Some("a"),
            Some(json!({"ticketId": ticket})),
        );
        let id = order["id"].as_str().unwrap();
        let paid = json!({"id": ids::new_id(), "orderId": id, "stripeId": "ch_1"});
        assert_eq!(deliver(&env, "p1", "payment:created", paid.clone()), 204);
        assert_eq!(deliver(&env, "p1", "payment:created", paid), 204);
        let path = format!("/api/orders/{id}");
        let (_, complete) = send(&env, Method::Get, &path, Some("a"), None);
        assert_eq!(
            (&complete["status"], &complete["version"]),
            (&json!("complete"), &json!(1))
        );
        let (status, body) = send(&env, Method::Delete, &path, Some("a"), None);
        assert_eq!(status, 400);
        assert_eq!(
            body["errors"][0]["message"],
            "Cannot cancel a completed order"
        );
        assert_eq!(
            deliver(&env, "x1", "expiration:complete", json!({"orderId": id})),
            204
        );
        let (_, still) = send(&env, Method::Get, &path, Some("a"), None);
        assert_eq!(still, complete);
    }

    #[test]
    fn events_that_cannot_apply_yet_or_ever_say_so() {
        let env = env();
        let early = json!({"id": ids::new_id(), "version": 3, "title": "x", "price": 1,
                           "userId": "s".repeat(24)});
        assert_eq!(deliver(&env, "e1", "ticket:updated", early), 503);
        assert_eq!(deliver(&env, "e2", "order:created", json!({})), 400);
        assert_eq!(deliver(&env, "e3", "ticket:created", json!({"id": 1})), 400);
        assert_eq!(
            deliver(
                &env,
                "e4",
                "expiration:complete",
                json!({"orderId": "f".repeat(24)})
            ),
            400
        );
        assert_eq!(deliver(&env, "e5", "boxoffice:tick", json!({})), 204);
    }
}
