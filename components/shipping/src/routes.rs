//! The HTTP routes of the shipping service (docs/shipping.md), and its event route
//! `POST /internal/events/shipping` (events.toml).

use boxoffice_api::shipping::{route, Operation};
use boxoffice_shared::consume;
use boxoffice_shared::service::Context;
use boxoffice_shared::{http, ApiError, ApiRequest};
use spin_sdk::http::Response;

use crate::{listen, quotes, shipments, storage, SERVICE};

/// What the routes work with: the service's context, nothing more.
pub type Env = Context;

/// Answers one request: the documented operation of its method and path.
pub fn handle(request: &ApiRequest, env: &Env) -> Response {
    let Some((operation, params)) = request.route(route) else {
        return http::not_found();
    };
    let result = match operation {
        Operation::Cities => cities(env),
        Operation::ShowQuote => quote(env, params.get("city")),
        Operation::ShowShipment => shipment(request, env, params.get("purchaseId")),
        Operation::Deliver => return consume::event_route(SERVICE, request, env, listen::receive),
    };
    result.unwrap_or_else(|e| e.to_response())
}

fn cities(env: &Env) -> Result<Response, ApiError> {
    http::json(200, &storage::list_cities(env.db.get()?)?)
}

fn quote(env: &Env, city: &str) -> Result<Response, ApiError> {
    http::json(200, &quotes::quote(env.db.get()?, city)?)
}

fn shipment(request: &ApiRequest, env: &Env, purchase_id: &str) -> Result<Response, ApiError> {
    let session = env.sessions()?.require(request, env.now_ms)?;
    let shipment = shipments::show(env.db.get()?, purchase_id, &session.user.id)?;
    http::json(200, &shipment)
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_shared::{ids, testing};
    use serde_json::{json, Value};
    use spin_sdk::http::Method;

    fn env() -> Env {
        testing::context(storage::migrations())
    }

    /// Sends method `m` to path `p` as user `u` (if any).
    fn send(env: &Env, m: Method, p: &str, u: Option<&str>) -> (u16, Value) {
        testing::answer(&handle(
            &testing::request(env.sessions().unwrap(), m, p, u, None),
            env,
        ))
    }

    fn deliver(env: &Env, id: &str, data: &Value) -> u16 {
        let request =
            testing::delivery("/internal/events/shipping", id, "purchase:completed", data);
        *handle(&request, env).status()
    }

    /// `purchase:completed` of purchase `id` by the test user `u` (see [`testing::cookie`]).
    fn purchase(id: &str, u: &str, city: &str) -> Value {
        json!({"id": id, "version": 2, "userId": u.repeat(24), "city": city,
               "lines": [{"sku": "MUG-1", "quantity": 1}]})
    }

    fn published(env: &Env) -> Vec<Value> {
        env.db
            .get()
            .unwrap()
            .query(
                "SELECT data FROM shipping_outbox WHERE event_type = 'shipment:dispatched'",
                &[],
            )
            .unwrap()
            .iter()
            .map(|row| serde_json::from_str(&row.text("data").unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn serves_every_documented_operation_and_nothing_else() {
        let env = env();
        testing::assert_serves_exactly::<Operation>(|request| handle(request, &env));
    }

    #[test]
    fn cities_are_listed_by_name_and_quoted() {
        let env = env();
        let (status, cities) = send(&env, Method::Get, "/api/shipping/cities", None);
        assert_eq!(status, 200);
        let cities = cities.as_array().unwrap();
        assert_eq!(cities.len(), storage::CITIES.len());
        let names: Vec<&str> = cities.iter().map(|c| c["name"].as_str().unwrap()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        assert_eq!(
            cities[0],
            json!({"code": "atl", "name": "Atlanta", "country": "US", "distanceKm": 1152})
        );
        assert_eq!(
            send(&env, Method::Get, "/api/shipping/quotes/lax", None),
            (
                200,
                json!({"city": "lax", "name": "Los Angeles", "country": "US",
                       "distanceKm": 3241, "cost": 21.49})
            )
        );
        assert_eq!(
            send(&env, Method::Get, "/api/shipping/quotes/nowhere", None),
            (404, json!({"errors": [{"message": "Unknown city"}]}))
        );
    }

    #[test]
    fn a_purchase_is_shipped_once_and_shown_to_its_buyer_only() {
        let env = env();
        let id = ids::new_id();
        let paid = purchase(&id, "a", "nyc");
        assert_eq!(deliver(&env, "e1", &paid), 204);
        assert_eq!(deliver(&env, "e1", &paid), 204);
        assert_eq!(deliver(&env, "e2", &paid), 204, "a copy under another id");
        let events = published(&env);
        assert_eq!(events.len(), 1, "{events:?}");
        let path = format!("/api/shipping/shipments/{id}");
        assert_eq!(send(&env, Method::Get, &path, None).0, 401);
        assert_eq!(send(&env, Method::Get, &path, Some("b")).0, 401);
        let (status, shipment) = send(&env, Method::Get, &path, Some("a"));
        assert_eq!(status, 200);
        assert_eq!(
            shipment,
            json!({"id": events[0]["id"], "purchaseId": id, "city": "nyc",
                   "status": "dispatched", "dispatchedAt": "2024-05-01T12:00:00.000Z"})
        );
        assert_eq!(events[0]["userId"], "a".repeat(24));
        let unknown = format!("/api/shipping/shipments/{}", ids::new_id());
        assert_eq!(send(&env, Method::Get, &unknown, Some("a")).0, 404);
        assert_eq!(
            send(&env, Method::Get, "/api/shipping/shipments/nope", Some("a")).0,
            404
        );
    }

    #[test]
    fn deliveries_that_can_never_apply_say_so() {
        let env = env();
        assert_eq!(
            deliver(&env, "e1", &purchase(&ids::new_id(), "a", "xyz")),
            400
        );
        assert_eq!(deliver(&env, "e2", &json!({"id": 1})), 400);
        let other = testing::delivery(
            "/internal/events/shipping",
            "e3",
            "order:created",
            &json!({}),
        );
        assert_eq!(*handle(&other, &env).status(), 400);
        let tick = testing::tick("/internal/events/shipping");
        assert_eq!(*handle(&tick, &env).status(), 204);
        assert!(published(&env).is_empty());
    }
}
