//! The HTTP routes of the payments service (docs/api.md, "Payments"), and its event route
//! `POST /internal/events/payments` (events.toml). Authentication comes before
//! validation: an anonymous request with a bad body is a 401.

use boxoffice_api::payments::{route, Operation};
use boxoffice_shared::consume;
use boxoffice_shared::events::Inbound;
use boxoffice_shared::http;
use boxoffice_shared::service::Context;
use boxoffice_shared::{validate, ApiError, ApiRequest};
use serde_json::json;
use spin_sdk::http::Response;

use crate::intents::{self, Paid};
use crate::stripe::Stripe;
use crate::{listen, payments, webhook, SERVICE};

/// What the routes work with; built per request by the entry point, or by tests.
pub struct Env {
    /// The database, the clock, the session and event keys.
    pub ctx: Context,
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
            http::json(200, &json!({ "publishableKey": key }))
        }
        Operation::Webhook => stripe_webhook(request, env).await,
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
    let (method, order_id) = validate::both(
        validate::required_string("token", body.get("token")),
        validate::id("orderId", body.get("orderId")),
    )?;
    env.stripe.require_configured()?;
    let db = env.ctx.db.get()?;
    let (user_id, now_ms) = (&session.user.id, env.ctx.now_ms);
    let order = payments::payable(db, &order_id, user_id, now_ms)?;
    payments::may_try(db, &order.id, user_id, now_ms)?;
    let paid = intents::pay(db, &env.stripe, &order, &method, now_ms).await;
    payments::note_outcome(db, &order.id, user_id, &paid, now_ms)?;
    match paid? {
        Paid::Recorded(payment) => http::json(201, &payment),
        Paid::Authenticate(client_secret) => http::json(
            202,
            &json!({"status": "requires_action", "clientSecret": client_secret}),
        ),
        Paid::Processing => http::json(202, &json!({"status": "processing"})),
    }
}

/// Stripe's webhook: 400 unless the signature holds; then the event applied once.
async fn stripe_webhook(request: &ApiRequest, env: &Env) -> Result<Response, ApiError> {
    let signature = request.header("stripe-signature");
    let now_s = env.ctx.now_ms.div_euclid(1000);
    webhook::verify(signature, &request.body, &env.stripe.webhook_secret, now_s)
        .map_err(|refusal| refusal.to_error())?;
    let db = env.ctx.db.get()?;
    webhook::receive(db, &env.stripe, &request.body, env.ctx.now_ms).await?;
    http::json(200, &json!({"received": true}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stripe;
    use boxoffice_shared::ids;
    use boxoffice_shared::testing;
    use futures::executor::block_on;
    use serde_json::{json, Value};
    use spin_sdk::http::Method;

    use crate::storage;

    const WEBHOOK_SECRET: &str = "whsec_unit_old, whsec_unit_new";

    fn env(secret_key: &str) -> Env {
        Env {
            ctx: testing::context(storage::migrations()),
            stripe: Stripe {
                secret_key: secret_key.into(),
                api_base: stripe::DEFAULT_API_BASE.into(),
                webhook_secret: WEBHOOK_SECRET.into(),
                ..Stripe::default()
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

    /// A Stripe webhook delivery of `event`, signed with `secret` at `t` (unix seconds).
    fn webhook(env: &Env, event: &Value, secret: &str, t: i64) -> (u16, Value) {
        let payload = event.to_string();
        let mac = hmac_sha256::HMAC::mac(format!("{t}.{payload}").as_bytes(), secret.as_bytes());
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        let mut request = ApiRequest::new(Method::Post, "/api/payments/webhook")
            .with_header("content-type", "application/json")
            .with_header("stripe-signature", &format!("t={t},v1={hex}"));
        request.body = payload.into_bytes();
        testing::answer(&block_on(handle(&request, env)))
    }

    fn succeeded(event_id: &str, intent_id: &str, order_id: &str) -> Value {
        json!({"id": event_id, "object": "event", "type": "payment_intent.succeeded",
            "data": {"object": {"id": intent_id, "object": "payment_intent",
                "status": "succeeded", "amount": 2000,
                "metadata": {"boxoffice_order": order_id, "boxoffice_purchase": "false"}}}})
    }

    fn paid(env: &Env, order_id: &str) -> Vec<String> {
        env.ctx
            .db
            .get()
            .unwrap()
            .query(
                "SELECT stripe_id FROM payments_payments WHERE order_id = $1",
                &[order_id.into()],
            )
            .unwrap()
            .iter()
            .map(|row| row.text("stripe_id").unwrap())
            .collect()
    }

    #[test]
    fn a_webhook_with_a_bad_or_stale_signature_is_refused_and_changes_nothing() {
        let env = env("sk_test_1");
        let live = order(&env, "2024-05-01T12:15:00.000Z");
        let now_s = env.ctx.now_ms / 1000;
        let event = succeeded("evt_1", "pi_1", &live);
        let refused = |answer: (u16, Value)| (answer.0, answer.1["errors"][0]["message"].clone());
        assert_eq!(
            refused(webhook(&env, &event, "whsec_someone_else", now_s)),
            (400, json!("Stripe-Signature does not match"))
        );
        assert_eq!(
            refused(webhook(&env, &event, "whsec_unit_new", now_s - 301)),
            (400, json!("Stripe-Signature timestamp is too old"))
        );
        let mut unsigned = ApiRequest::new(Method::Post, "/api/payments/webhook")
            .with_header("content-type", "application/json");
        unsigned.body = event.to_string().into_bytes();
        let (status, _) = testing::answer(&block_on(handle(&unsigned, &env)));
        assert_eq!(status, 400);
        assert!(paid(&env, &live).is_empty(), "nothing recorded");
        // Either secret of a rotation is accepted, within the tolerance either way.
        assert_eq!(webhook(&env, &event, "whsec_unit_old", now_s + 299).0, 200);
        assert_eq!(paid(&env, &live), ["pi_1"]);
        let unconfigured = Env {
            stripe: Stripe::default(),
            ..env
        };
        assert_eq!(
            webhook(&unconfigured, &event, "whsec_unit_new", now_s).0,
            503
        );
    }

    #[test]
    fn the_same_webhook_twice_records_one_payment_and_one_event() {
        let env = env("sk_test_1");
        let live = order(&env, "2024-05-01T12:15:00.000Z");
        let now_s = env.ctx.now_ms / 1000;
        let event = succeeded("evt_dup", "pi_dup", &live);
        assert_eq!(webhook(&env, &event, "whsec_unit_new", now_s).0, 200);
        assert_eq!(webhook(&env, &event, "whsec_unit_new", now_s).0, 200);
        // The same payment told again under another event id (Stripe's retries keep the id;
        // a replay through the dashboard may not): still one payment.
        let again = succeeded("evt_dup_2", "pi_dup", &live);
        assert_eq!(webhook(&env, &again, "whsec_unit_new", now_s).0, 200);
        assert_eq!(paid(&env, &live), ["pi_dup"]);
        let db = env.ctx.db.get().unwrap();
        let outbox = db
            .query("SELECT event_type FROM payments_outbox", &[])
            .unwrap();
        assert_eq!(outbox.len(), 1, "one payment:created");
        // The order is paid now: paying again is refused before Stripe is asked.
        let (status, body) = send(
            &env,
            "/api/payments",
            Some("a"),
            json!({"token": "pm_card_visa", "orderId": live}),
        );
        assert_eq!(
            (status, message(&body).0),
            (400, &json!("Order has already been paid"))
        );
        // Events the shop does not act on, and intents that are not the shop's, are taken.
        let foreign = json!({"id": "evt_f", "type": "payment_intent.succeeded",
            "data": {"object": {"id": "pi_f", "status": "succeeded", "metadata": {}}}});
        assert_eq!(webhook(&env, &foreign, "whsec_unit_new", now_s).0, 200);
        let other = json!({"id": "evt_o", "type": "customer.created", "data": {"object": {}}});
        assert_eq!(webhook(&env, &other, "whsec_unit_new", now_s).0, 200);
        let broken = json!({"type": "payment_intent.succeeded"});
        assert_eq!(webhook(&env, &broken, "whsec_unit_new", now_s).0, 400);
        let dispute = json!({"id": "evt_d", "type": "charge.dispute.created",
            "data": {"object": {"id": "dp_1", "object": "dispute", "payment_intent": "pi_dup",
                "amount": 2000, "status": "needs_response", "reason": "fraudulent"}}});
        assert_eq!(webhook(&env, &dispute, "whsec_unit_new", now_s).0, 200);
        let disputes = db
            .query("SELECT stripe_id, status FROM payments_disputes", &[])
            .unwrap();
        assert_eq!(disputes.len(), 1);
        assert_eq!(disputes[0].text("stripe_id").unwrap(), "pi_dup");
    }
}
