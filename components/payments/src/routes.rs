//! The HTTP routes of the payments service (docs/api.md, "Payments"), and its event route
//! `POST /internal/events/payments` (events.toml). Authentication comes before
//! validation: an anonymous request with a bad body is a 401.

use boxoffice_api::payments::{route, Operation};
use boxoffice_shared::consume;
use boxoffice_shared::events::Inbound;
use boxoffice_shared::http;
use boxoffice_shared::kv::KeyValue;
use boxoffice_shared::service::Context;
use boxoffice_shared::{validate, ApiError, ApiRequest};
use spin_sdk::http::Response;

use crate::stripe::{self, Charge, Stripe};
use crate::{listen, payments, SERVICE};

/// What the routes work with; built per request by the entry point, or by tests.
pub struct Env {
    /// The database, the clock, the session and event keys.
    pub ctx: Context,
    /// The key-value store (declined-attempt counters for idempotency keys).
    pub kv: Box<dyn KeyValue>,
    /// How to reach Stripe.
    pub stripe: Stripe,
}

/// Answers one request: the documented operation of its method and path.
pub async fn handle(request: &ApiRequest, env: &Env) -> Response {
    let Some((operation, _)) = request.route(route) else {
        return http::not_found();
    };
    let result = match operation {
        Operation::Pay => pay(request, env).await,
        Operation::Config => {
            let key = env.stripe.publishable_key();
            http::json(200, &serde_json::json!({ "publishableKey": key }))
        }
        Operation::Deliver => return consume::answer(SERVICE, receive(request, env).await),
    };
    result.unwrap_or_else(|e| e.to_response())
}

async fn receive(request: &ApiRequest, env: &Env) -> Result<(), ApiError> {
    let keys = env.ctx.event_keys()?;
    let delivery = Inbound::read(request, keys)?;
    listen::receive(env.ctx.db.get()?, &env.stripe, &delivery, env.ctx.now_ms).await
}

async fn pay(request: &ApiRequest, env: &Env) -> Result<Response, ApiError> {
    let session = env.ctx.sessions()?.require(request, env.ctx.now_ms)?;
    let body = request.json_object()?;
    let (token, order_id) = validate::both(
        validate::required_string("token", body.get("token")),
        validate::id("orderId", body.get("orderId")),
    )?;
    env.stripe.require_configured()?;
    let db = env.ctx.db.get()?;
    let order = payments::payable(db, &order_id, &session.user.id, env.ctx.now_ms)?;
    let charge = Charge {
        idempotency_key: stripe::idempotency_key(env.kv.as_ref(), &order.id)?,
        order_id: order.id.clone(),
        amount_cents: order.price_cents,
        token,
    };
    let stripe_id = match env.stripe.charge(&charge).await {
        Ok(id) => id,
        Err(refusal) => {
            if refusal.status() == 400 {
                stripe::note_decline(env.kv.as_ref(), &charge)?;
            }
            return Err(refusal);
        }
    };
    let payment = payments::record(db, &order, &stripe_id, env.ctx.now_ms)?;
    http::json(201, &payment)
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_shared::ids;
    use boxoffice_shared::kv::MemoryKv;
    use boxoffice_shared::testing;
    use futures::executor::block_on;
    use serde_json::{json, Value};
    use spin_sdk::http::Method;

    use crate::storage;

    fn env(secret_key: &str) -> Env {
        Env {
            ctx: testing::context(storage::migrations()),
            kv: Box::new(MemoryKv::default()),
            stripe: Stripe {
                secret_key: secret_key.into(),
                api_base: stripe::DEFAULT_API_BASE.into(),
                publishable_key: String::new(),
            },
        }
    }

    fn send(env: &Env, path: &str, user: Option<&str>, body: Value) -> (u16, Value) {
        let request = testing::request(
            env.ctx.sessions().unwrap(),
            Method::Post,
            path,
            user,
            Some(body),
        );
        testing::answer(&block_on(handle(&request, env)))
    }

    fn deliver(env: &Env, kind: &str, data: Value) -> u16 {
        let request = testing::delivery("/internal/events/payments", &ids::new_id(), kind, &data);
        *block_on(handle(&request, env)).status()
    }

    fn order(env: &Env, expires_at: &str) -> String {
        let id = ids::new_id();
        let created = json!({"id": id, "version": 0, "status": "created",
            "userId": "a".repeat(24), "expiresAt": expires_at,
            "ticket": {"id": ids::new_id(), "price": 20}});
        assert_eq!(deliver(env, "order:created", created), 204);
        id
    }

    fn message(body: &Value) -> (&Value, &Value) {
        (&body["errors"][0]["message"], &body["errors"][0]["field"])
    }

    #[test]
    fn serves_every_documented_operation_and_nothing_else() {
        let env = env("sk_test_x");
        boxoffice_shared::testing::assert_serves_exactly::<Operation>(|request| {
            block_on(handle(request, &env))
        });
    }

    #[test]
    fn the_config_tells_browsers_the_publishable_key_and_nothing_secret() {
        let mut env = env("sk_test_secret");
        let config = || ApiRequest::new(Method::Get, "/api/payments/config");
        let answer = |env: &Env| testing::answer(&block_on(handle(&config(), env)));
        assert_eq!(answer(&env), (200, json!({"publishableKey": null})));
        env.stripe.publishable_key = " pk_test_123 ".into();
        let (status, body) = answer(&env);
        assert_eq!(
            (status, &body),
            (200, &json!({"publishableKey": "pk_test_123"}))
        );
        assert!(!body.to_string().contains("sk_test"));
    }

    #[test]
    fn paying_checks_session_body_configuration_then_order() {
        let env = env("sk_test_1");
        let path = "/api/payments";
        assert_eq!(send(&env, path, None, json!({})).0, 401);
        let (status, body) = send(&env, path, Some("a"), json!({"token": " "}));
        assert_eq!(status, 400);
        assert_eq!(body["errors"][0]["field"], "token");
        assert_eq!(body["errors"][1]["field"], "orderId");
        let unknown = json!({"token": "tok_visa", "orderId": "f".repeat(24)});
        assert_eq!(send(&env, path, Some("a"), unknown).0, 404);
        let malformed = json!({"token": "tok_visa", "orderId": "nope"});
        let (status, body) = send(&env, path, Some("a"), malformed);
        assert_eq!((status, message(&body).1), (400, &json!("orderId")));

        let live = order(&env, "2024-05-01T12:15:00.000Z");
        let pay_live = json!({"token": "tok_visa", "orderId": live});
        assert_eq!(send(&env, path, Some("b"), pay_live).0, 401);

        let expired = order(&env, "2024-05-01T12:00:00.000Z");
        let (status, body) = send(
            &env,
            path,
            Some("a"),
            json!({"token": "tok_visa", "orderId": expired}),
        );
        assert_eq!(
            (status, message(&body).0),
            (400, &json!("Order has expired"))
        );

        let cancelled = json!({"id": live, "version": 1, "ticket": {"id": "t"}});
        assert_eq!(deliver(&env, "order:cancelled", cancelled), 204);
        let (status, body) = send(
            &env,
            path,
            Some("a"),
            json!({"token": "tok_visa", "orderId": live}),
        );
        assert_eq!(
            (status, message(&body).0),
            (400, &json!("Cannot pay for a cancelled order"))
        );

        let paid = order(&env, "2024-05-01T12:15:00.000Z");
        let completed = json!({"id": paid, "version": 1, "ticket": {"id": "t"}});
        assert_eq!(deliver(&env, "order:completed", completed), 204);
        let (status, body) = send(
            &env,
            path,
            Some("a"),
            json!({"token": "tok_visa", "orderId": paid}),
        );
        assert_eq!(
            (status, message(&body).0),
            (400, &json!("Order has already been paid"))
        );
    }

    #[test]
    fn without_a_stripe_key_payments_are_a_clear_503() {
        let env = env("");
        let live = order(&env, "2024-05-01T12:15:00.000Z");
        let (status, body) = send(
            &env,
            "/api/payments",
            Some("a"),
            json!({"token": "tok_visa", "orderId": live}),
        );
        assert_eq!(
            (status, message(&body)),
            (503, (&json!("Payments are not configured"), &Value::Null))
        );
    }

    #[test]
    fn events_that_cannot_apply_yet_or_ever_say_so() {
        let env = env("sk_test_1");
        let early = json!({"id": ids::new_id(), "version": 2, "ticket": {"id": "t"}});
        assert_eq!(deliver(&env, "order:cancelled", early), 503);
        assert_eq!(deliver(&env, "ticket:created", json!({})), 400);
        assert_eq!(deliver(&env, "boxoffice:tick", json!({})), 204);
        assert_eq!(send(&env, "/api/payments/x", None, json!({})).0, 404);
    }
}
