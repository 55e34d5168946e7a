//! The HTTP routes of the catalog (docs/catalog.md), and its event route
//! `POST /internal/events/catalog` (events.toml). Authentication comes before
//! validation: an anonymous request with a bad body is a 401.

use boxoffice_api::catalog::{route, Operation};
use boxoffice_shared::consume;
use boxoffice_shared::service::Context;
use boxoffice_shared::{http, ApiError, ApiRequest};
use spin_sdk::http::Response;

use crate::{input, listen, products, SERVICE};

/// What the routes work with: the service's context, nothing more.
pub type Env = Context;

/// Answers one request: the documented operation of its method and path.
pub fn handle(request: &ApiRequest, env: &Env) -> Response {
    let Some((operation, params)) = request.route(route) else {
        return http::not_found();
    };
    let result = match operation {
        Operation::List => list(request, env),
        Operation::Show => show(env, params.get("sku")),
        Operation::Create => create(request, env),
        Operation::Edit => edit(request, env, params.get("sku")),
        Operation::Categories => categories(env),
        Operation::Deliver => return consume::event_route(SERVICE, request, env, listen::receive),
    };
    result.unwrap_or_else(|e| e.to_response())
}

fn list(request: &ApiRequest, env: &Env) -> Result<Response, ApiError> {
    let listing = input::listing(&request.query)?;
    http::json(200, &products::list(env.db.get()?, &listing)?)
}

fn show(env: &Env, sku: &str) -> Result<Response, ApiError> {
    http::json(200, &products::show(env.db.get()?, sku)?)
}

fn create(request: &ApiRequest, env: &Env) -> Result<Response, ApiError> {
    let session = env.sessions()?.require(request, env.now_ms)?;
    let (sku, details) = input::new_product(&request.json_object()?)?;
    let product = products::create(env.db.get()?, &session.user.id, sku, details, env.now_ms)?;
    http::json(201, &product)
}

fn edit(request: &ApiRequest, env: &Env, sku: &str) -> Result<Response, ApiError> {
    let session = env.sessions()?.require(request, env.now_ms)?;
    let details = input::edited_product(&request.json_object()?)?;
    let product = products::edit(env.db.get()?, sku, &session.user.id, &details, env.now_ms)?;
    http::json(200, &product)
}

fn categories(env: &Env) -> Result<Response, ApiError> {
    http::json(200, &products::categories(env.db.get()?)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_shared::sql::Dialect;
    use boxoffice_shared::testing;
    use serde_json::{json, Value};
    use spin_sdk::http::Method;

    use crate::storage;

    fn env() -> Env {
        testing::context(storage::migrations(Dialect::Sqlite))
    }

    /// Sends method `m` to path `p` as user `u` (if any) with body `b` (if any).
    fn send(env: &Env, m: Method, p: &str, u: Option<&str>, b: Option<Value>) -> (u16, Value) {
        let mut request = testing::request(env.sessions().unwrap(), m, p, u, b);
        if let Some((path, query)) = p.split_once('?') {
            request.path = path.to_owned();
            request.query = query.to_owned();
        }
        testing::answer(&handle(&request, env))
    }

    fn deliver(env: &Env, id: &str, kind: &str, data: Value) -> u16 {
        let request = testing::delivery("/internal/events/catalog", id, kind, &data);
        *handle(&request, env).status()
    }

    fn tee() -> Value {
        json!({"sku": "tee-1", "name": "Tour shirt", "description": "Black cotton",
               "price": 25.5, "stock": 10, "categories": ["Merch"]})
    }

    #[test]
    fn serves_every_documented_operation_and_nothing_else() {
        let env = env();
        testing::assert_serves_exactly::<Operation>(|request| handle(request, &env));
    }

    #[test]
    fn creating_needs_a_session_before_anything_else() {
        let env = env();
        let path = "/api/products";
        assert_eq!(send(&env, Method::Post, path, None, Some(json!({}))).0, 401);
        assert_eq!(send(&env, Method::Post, path, None, Some(tee())).0, 401);
        let (status, body) = send(&env, Method::Post, path, Some("a"), Some(json!({"sku": 1})));
        assert_eq!(status, 400);
        let fields: Vec<&Value> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["field"])
            .collect();
        assert_eq!(
            fields,
            [
                &json!("sku"),
                &json!("name"),
                &json!("price"),
                &json!("stock")
            ]
        );
    }

    #[test]
    fn created_products_are_shown_listed_and_edited_by_their_seller() {
        let env = env();
        let (status, product) = send(&env, Method::Post, "/api/products", Some("a"), Some(tee()));
        assert_eq!(status, 201);
        assert_eq!(
            product,
            json!({"sku": "TEE-1", "name": "Tour shirt", "description": "Black cotton",
                   "price": 25.5, "stock": 10, "categories": ["merch"],
                   "userId": "a".repeat(24), "version": 0})
        );
        let (status, body) = send(&env, Method::Post, "/api/products", Some("b"), Some(tee()));
        assert_eq!(status, 400);
        assert_eq!(
            body,
            json!({"errors": [{"message": "SKU in use", "field": "sku"}]})
        );
        assert_eq!(
            send(&env, Method::Get, "/api/products/tee-1", None, None),
            (200, product.clone())
        );
        assert_eq!(
            send(&env, Method::Get, "/api/products", None, None),
            (200, json!([product.clone()]))
        );
        assert_eq!(
            send(
                &env,
                Method::Get,
                "/api/products?q=cotton&category=merch",
                None,
                None
            ),
            (200, json!([product.clone()]))
        );
        assert_eq!(
            send(&env, Method::Get, "/api/categories", None, None),
            (200, json!([{"name": "merch", "count": 1}]))
        );

        let edit = json!({"name": "Tour shirt", "price": 20, "stock": 3});
        let path = "/api/products/TEE-1";
        assert_eq!(send(&env, Method::Put, path, None, Some(json!({}))).0, 401);
        assert_eq!(
            send(&env, Method::Put, path, Some("b"), Some(json!({}))).0,
            400
        );
        assert_eq!(
            send(&env, Method::Put, path, Some("b"), Some(edit.clone())).0,
            401
        );
        assert_eq!(
            send(
                &env,
                Method::Put,
                "/api/products/NOPE-1",
                Some("a"),
                Some(edit.clone())
            )
            .0,
            404
        );
        let (status, edited) = send(&env, Method::Put, path, Some("a"), Some(edit));
        assert_eq!(status, 200);
        assert_eq!(
            (&edited["price"], &edited["stock"], &edited["version"]),
            (&json!(20), &json!(3), &json!(1))
        );
        assert_eq!(edited["description"], "");
        assert_eq!(edited["categories"], json!([]));
        assert_eq!(
            send(&env, Method::Get, "/api/categories", None, None),
            (200, json!([]))
        );
    }

    #[test]
    fn unknown_or_malformed_skus_are_404_and_bad_listings_400() {
        let env = env();
        for path in [
            "/api/products/NOPE-1",
            "/api/products/-x",
            "/api/products/%22",
        ] {
            assert_eq!(send(&env, Method::Get, path, None, None).0, 404, "{path}");
        }
        assert_eq!(
            send(&env, Method::Get, "/api/products/a/b", None, None).0,
            404
        );
        for (query, field) in [
            ("limit=0", "limit"),
            ("offset=-5", "offset"),
            ("category=%20%2A", "category"),
        ] {
            let (status, body) = send(
                &env,
                Method::Get,
                &format!("/api/products?{query}"),
                None,
                None,
            );
            assert_eq!(
                (status, &body["errors"][0]["field"]),
                (400, &json!(field)),
                "{query}"
            );
        }
        let hostile = "%22+%2A+%27+AND+OR+NOT+%25+NEAR%28";
        assert_eq!(
            send(
                &env,
                Method::Get,
                &format!("/api/products?q={hostile}"),
                None,
                None
            ),
            (200, json!([]))
        );
    }

    #[test]
    fn a_completed_purchase_takes_its_units_once() {
        let env = env();
        send(&env, Method::Post, "/api/products", Some("a"), Some(tee()));
        let completed = json!({"id": "p".repeat(24), "version": 2, "userId": "b".repeat(24),
                               "city": "NYC", "lines": [{"sku": "TEE-1", "quantity": 4}]});
        assert_eq!(
            deliver(&env, "e1", "purchase:completed", completed.clone()),
            204
        );
        assert_eq!(
            deliver(&env, "e1", "purchase:completed", completed.clone()),
            204
        );
        assert_eq!(deliver(&env, "e2", "purchase:completed", completed), 204);
        let (_, product) = send(&env, Method::Get, "/api/products/TEE-1", None, None);
        assert_eq!(
            (&product["stock"], &product["version"]),
            (&json!(6), &json!(1))
        );

        let unknown = json!({"id": "q".repeat(24), "version": 2, "userId": "b".repeat(24),
                             "city": "NYC", "lines": [{"sku": "NOPE-1", "quantity": 1}]});
        assert_eq!(deliver(&env, "e3", "purchase:completed", unknown), 400);
        assert_eq!(deliver(&env, "e4", "purchase:created", json!({})), 400);
        assert_eq!(deliver(&env, "e5", "product:created", json!({})), 400);
        let tick = testing::tick("/internal/events/catalog");
        assert_eq!(*handle(&tick, &env).status(), 204);
    }
}
