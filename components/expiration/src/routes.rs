//! The one route of the expiration service: `POST /internal/events/expiration`, where the
//! broker pushes `order:created` and its ticks (events.toml). Anything else is a 404.

use boxoffice_api::expiration::{route, Operation};
use boxoffice_shared::service::Context;
use boxoffice_shared::{consume, http, ApiRequest};
use spin_sdk::http::Response;

use crate::{listen, SERVICE};

/// What the route works with: the service's context, nothing more.
pub type Env = Context;

/// Answers one request: the documented operation of its method and path.
pub fn handle(request: &ApiRequest, env: &Env) -> Response {
    match request.route(route) {
        Some((Operation::Deliver, _)) => {
            consume::event_route(SERVICE, request, env, listen::receive)
        }
        None => http::not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_shared::testing;
    use serde_json::{json, Value};
    use spin_sdk::http::Method;

    const CREATED_AT: i64 = 1_714_564_800_000;

    fn deliver(env: &mut Env, now_ms: i64, id: &str, kind: &str, data: Value) -> u16 {
        env.now_ms = now_ms;
        let request = testing::delivery("/internal/events/expiration", id, kind, &data);
        *handle(&request, env).status()
    }

    fn order_created(id: &str) -> Value {
        json!({"id": id, "version": 0, "status": "created", "userId": "u".repeat(24),
               "expiresAt": "2024-05-01T12:15:00.000Z", "ticket": {"id": "t1", "price": 20}})
    }

    fn published(env: &Env) -> usize {
        env.db
            .get()
            .unwrap()
            .query("SELECT event_id FROM expiration_outbox", &[])
            .unwrap()
            .len()
    }

    #[test]
    fn serves_every_documented_operation_and_nothing_else() {
        let env = testing::context(crate::storage::migrations());
        boxoffice_shared::testing::assert_serves_exactly::<Operation>(|request| {
            handle(request, &env)
        });
    }

    #[test]
    fn an_order_expires_once_at_its_time() {
        let mut env = testing::context(crate::storage::migrations());
        let db = &mut env;
        let window_end = CREATED_AT + 900_000;
        assert_eq!(
            deliver(db, CREATED_AT, "e1", "order:created", order_created("o1")),
            204
        );
        assert_eq!(
            deliver(db, CREATED_AT, "e1", "order:created", order_created("o1")),
            204
        );
        assert_eq!(
            // A second early: ticks closer together than the broker's clock do nothing.
            deliver(db, window_end - 1000, "t1", "boxoffice:tick", json!({})),
            204
        );
        assert_eq!(published(db), 0);
        assert_eq!(
            deliver(db, window_end, "t2", "boxoffice:tick", json!({})),
            204
        );
        assert_eq!(published(db), 1);
        assert_eq!(
            deliver(db, window_end + 1000, "t3", "boxoffice:tick", json!({})),
            204
        );
        assert_eq!(published(db), 1);
        let mut bad = order_created("o2");
        bad["expiresAt"] = json!("soon");
        assert_eq!(deliver(db, CREATED_AT, "e2", "order:created", bad), 400);
        assert_eq!(
            deliver(db, CREATED_AT, "e3", "payment:created", json!({})),
            400
        );
    }

    #[test]
    fn other_routes_are_json_404s() {
        let env = testing::context(Vec::new());
        let get = ApiRequest::new(Method::Get, "/internal/events/expiration");
        assert_eq!(*handle(&get, &env).status(), 404);
    }
}
