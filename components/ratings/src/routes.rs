//! The HTTP routes of the ratings service (docs/ratings.md), and its event route
//! `POST /internal/events/ratings` (events.toml). Authentication comes before
//! validation: an anonymous vote with a bad body is a 401.

use boxoffice_api::ratings::{route, Operation};
use boxoffice_shared::consume;
use boxoffice_shared::service::Context;
use boxoffice_shared::{http, validate, ApiError, ApiRequest};
use spin_sdk::http::Response;

use crate::{listen, ratings, SERVICE};

/// What the routes work with: the service's context, nothing more.
pub type Env = Context;

/// Answers one request: the documented operation of its method and path.
pub fn handle(request: &ApiRequest, env: &Env) -> Response {
    let Some((operation, params)) = request.route(route) else {
        return http::not_found();
    };
    let result = match operation {
        Operation::List => list(request, env),
        Operation::Show => show(request, env, params.get("sku")),
        Operation::Rate => rate(request, env, params.get("sku")),
        Operation::Deliver => return consume::event_route(SERVICE, request, env, listen::receive),
    };
    result.unwrap_or_else(|e| e.to_response())
}

/// The product code of the path; a malformed one names no product: 404.
fn sku(text: &str) -> Result<String, ApiError> {
    validate::sku_text(text).ok_or(ApiError::NotFound)
}

fn list(request: &ApiRequest, env: &Env) -> Result<Response, ApiError> {
    let asked = form_urlencoded::parse(request.query.as_bytes())
        .find(|(name, _)| name == "skus")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    let skus = ratings::skus(&asked)?;
    http::json(200, &ratings::list(env.db.get()?, &skus)?)
}

fn show(request: &ApiRequest, env: &Env, sku: &str) -> Result<Response, ApiError> {
    let sku = self::sku(sku)?;
    let session = env.sessions()?.current(request, env.now_ms)?;
    let user_id = session.as_ref().map(|s| s.user.id.as_str());
    http::json(200, &ratings::show(env.db.get()?, &sku, user_id)?)
}

fn rate(request: &ApiRequest, env: &Env, sku: &str) -> Result<Response, ApiError> {
    let session = env.sessions()?.require(request, env.now_ms)?;
    let sku = self::sku(sku)?;
    let body = request.json_object()?;
    let stars = ratings::stars(body.get("stars")).map_err(|e| ApiError::Validation(vec![e]))?;
    let rating = ratings::rate(env.db.get()?, &sku, &session.user.id, stars, env.now_ms)?;
    http::json(200, &rating)
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_shared::testing;
    use serde_json::{json, Value};
    use spin_sdk::http::Method;

    use crate::storage;

    fn env() -> Env {
        testing::context(storage::migrations())
    }

    /// Sends method `m` to path `p` as user `u` (if any) with body `b` (if any).
    fn send(env: &Env, m: Method, p: &str, u: Option<&str>, b: Option<Value>) -> (u16, Value) {
        testing::answer(&handle(
            &testing::request(env.sessions().unwrap(), m, p, u, b),
            env,
        ))
    }

    /// `GET /api/ratings?<query>`.
    fn listing(env: &Env, query: &str) -> (u16, Value) {
        let mut request = ApiRequest::new(Method::Get, "/api/ratings");
        request.query = query.to_owned();
        testing::answer(&handle(&request, env))
    }

    fn deliver(env: &Env, id: &str, kind: &str, data: Value) -> u16 {
        let request = testing::delivery("/internal/events/ratings", id, kind, &data);
        *handle(&request, env).status()
    }

    /// `purchase:completed` of purchase `id` by the test user `u` (see [`testing::cookie`]).
    fn purchase(id: &str, u: &str, skus: &[&str]) -> Value {
        let lines: Vec<Value> = skus
            .iter()
            .map(|sku| json!({"sku": sku, "quantity": 1}))
            .collect();
        json!({"id": id, "version": 2, "userId": u.repeat(24), "city": "nyc", "lines": lines})
    }

    #[test]
    fn serves_every_documented_operation_and_nothing_else() {
        let env = env();
        testing::assert_serves_exactly::<Operation>(|request| handle(request, &env));
    }

    #[test]
    fn voting_checks_session_then_product_then_stars_then_purchase() {
        let env = env();
        let path = "/api/ratings/mug-1";
        assert_eq!(
            send(&env, Method::Put, path, None, Some(json!({"stars": 9}))).0,
            401
        );
        assert_eq!(
            send(&env, Method::Put, "/api/ratings/x", Some("a"), None).0,
            404
        );
        for bad in [json!({}), json!({"stars": 0}), json!({"stars": "5"})] {
            let (status, body) = send(&env, Method::Put, path, Some("a"), Some(bad));
            assert_eq!(status, 400);
            assert_eq!(
                body["errors"],
                json!([{"field": "stars", "message": ratings::STARS_INVALID}])
            );
        }
        let (status, body) = send(
            &env,
            Method::Put,
            path,
            Some("a"),
            Some(json!({"stars": 5})),
        );
        assert_eq!(
            (status, &body["errors"][0]["message"]),
            (400, &json!(ratings::ONLY_BUYERS))
        );
    }

    #[test]
    fn buyers_learnt_from_purchases_vote_once_and_may_change_their_vote() {
        let env = env();
        let bought = purchase(&"p".repeat(24), "a", &["MUG-1", "TEE-2"]);
        assert_eq!(
            deliver(&env, "e1", "purchase:completed", bought.clone()),
            204
        );
        assert_eq!(
            deliver(&env, "e1", "purchase:completed", bought.clone()),
            204
        );
        assert_eq!(deliver(&env, "e2", "purchase:completed", bought), 204);
        let path = "/api/ratings/mug-1";
        assert_eq!(
            send(
                &env,
                Method::Put,
                path,
                Some("a"),
                Some(json!({"stars": 3}))
            ),
            (
                200,
                json!({"sku": "MUG-1", "average": 3.0, "count": 1, "mine": 3})
            )
        );
        assert_eq!(
            send(
                &env,
                Method::Put,
                path,
                Some("a"),
                Some(json!({"stars": 5}))
            ),
            (
                200,
                json!({"sku": "MUG-1", "average": 5.0, "count": 1, "mine": 5})
            )
        );
        assert_eq!(
            deliver(
                &env,
                "e3",
                "purchase:completed",
                purchase("q1", "b", &["mug-1"])
            ),
            204
        );
        send(
            &env,
            Method::Put,
            path,
            Some("b"),
            Some(json!({"stars": 2})),
        );
        assert_eq!(
            send(&env, Method::Get, path, None, None),
            (
                200,
                json!({"sku": "MUG-1", "average": 3.5, "count": 2, "mine": null})
            )
        );
        assert_eq!(
            send(&env, Method::Get, "/api/ratings/MUG-1", Some("b"), None).1["mine"],
            2
        );
        assert_eq!(
            listing(&env, "skus=mug-1%2CNOPE-9"),
            (
                200,
                json!([{"sku": "MUG-1", "average": 3.5, "count": 2},
                       {"sku": "NOPE-9", "average": null, "count": 0}])
            )
        );
    }

    #[test]
    fn unknown_and_malformed_products() {
        let env = env();
        assert_eq!(
            send(&env, Method::Get, "/api/ratings/never-sold", None, None),
            (
                200,
                json!({"sku": "NEVER-SOLD", "average": null, "count": 0, "mine": null})
            )
        );
        for bad in [
            "/api/ratings/ab",
            "/api/ratings/a_b_c",
            "/api/ratings/%2e%2e",
        ] {
            let (status, body) = send(&env, Method::Get, bad, None, None);
            assert_eq!(
                (status, &body["errors"][0]["message"]),
                (404, &json!("Not found"))
            );
        }
        assert_eq!(
            send(&env, Method::Get, "/api/ratings", None, None),
            (200, json!([]))
        );
        let (status, body) = listing(&env, "skus=a");
        assert_eq!((status, &body["errors"][0]["field"]), (400, &json!("skus")));
    }

    #[test]
    fn events_it_does_not_consume_are_refused_for_good() {
        let env = env();
        assert_eq!(deliver(&env, "e1", "purchase:completed", json!({})), 400);
        assert_eq!(deliver(&env, "e2", "order:created", json!({})), 400);
        let malformed = purchase("p2", "a", &["MUG-1", "not a code"]);
        assert_eq!(deliver(&env, "e3", "purchase:completed", malformed), 204);
        assert_eq!(
            send(
                &env,
                Method::Put,
                "/api/ratings/MUG-1",
                Some("a"),
                Some(json!({"stars": 4}))
            )
            .0,
            200
        );
    }
}
