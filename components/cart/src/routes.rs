//! The HTTP routes of the cart service (docs/cart.md) and its event route
//! `POST /internal/events/cart` (events.toml). The cart routes serve signed-in shoppers
//! and signed-out visitors alike (a visitor's cart is kept by the `cart` cookie); checkout
//! and purchases need a session, checked before the body.

use std::rc::Rc;

use boxoffice_api::cart::{route, Operation, CART_COOKIE};
use boxoffice_shared::holds::Terms;
use boxoffice_shared::kv::KeyValue;
use boxoffice_shared::service::Context;
use boxoffice_shared::{consume, http, ids, validate, ApiError, ApiRequest};
use serde::Serialize;
use spin_sdk::http::Response;

use crate::carts::{self, Owner, MAX_QUANTITY};
use crate::quotes::{self, Quotes};
use crate::{listen, purchases, SERVICE};

/// What the routes work with; built per request by the entry point, or by tests.
pub struct Env {
    /// The database, the clock, the session and event keys.
    pub ctx: Context,
    /// Where carts are kept.
    pub kv: Rc<dyn KeyValue>,
    /// Where shipping quotes come from.
    pub quotes: Box<dyn Quotes>,
    /// How long a purchase holds its units, and how many one buyer may hold.
    pub terms: Terms,
    /// The sales tax on goods, basis points.
    pub tax_basis_points: i64,
}

/// Answers one request: the documented operation of its method and path.
pub async fn handle(request: &ApiRequest, env: &Env) -> Response {
    let Some((operation, params)) = request.route(route) else {
        return http::not_found();
    };
    let sku = params.get("sku");
    let result = match operation {
        Operation::ShowCart => show(request, env),
        Operation::AddItem => add(request, env),
        Operation::SetQuantity => set_quantity(request, env, sku),
        Operation::RemoveItem => remove(request, env, sku),
        Operation::Ship => ship(request, env).await,
        Operation::Checkout => checkout(request, env),
        Operation::ListPurchases => list_purchases(request, env),
        Operation::ShowPurchase => show_purchase(request, env, params.get("id")),
        Operation::Cancel => cancel(request, env, params.get("id")),
        Operation::Deliver => {
            return consume::event_route(SERVICE, request, &env.ctx, listen::receive)
        }
    };
    result.unwrap_or_else(|e| e.to_response())
}

/// Whose cart a request is about, and the `cart` cookie to send back, if any.
struct Shopper {
    owner: Owner,
    cookie: Option<String>,
}

/// The cart's owner: the signed-in shopper (whose visitor cart, if the request still
/// carries one, moves into theirs now, and the cookie is cleared), or the visitor of the
/// `cart` cookie, or, when `create`, a new visitor. `None`: a visitor with no cart.
fn shopper(request: &ApiRequest, env: &Env, create: bool) -> Result<Option<Shopper>, ApiError> {
    let now_ms = env.ctx.now_ms;
    let secure = request.is_https();
    let visitor = request
        .cookie(CART_COOKIE)
        .filter(|id| ids::is_well_formed(id))
        .map(|id| Owner::Visitor(id.to_owned()));
    if let Some(session) = env.ctx.sessions()?.current(request, now_ms)? {
        let owner = Owner::User(session.user.id);
        let cookie = match &visitor {
            Some(visitor) => {
                carts::merge(env.kv.as_ref(), visitor, &owner, now_ms)?;
                Some(clear_cookie(secure))
            }
            None => None,
        };
        return Ok(Some(Shopper { owner, cookie }));
    }
    let owner = match visitor {
        Some(visitor) => visitor,
        None if create => Owner::new_visitor(),
        None => return Ok(None),
    };
    let cookie = match (&owner, create) {
        (Owner::Visitor(id), true) => Some(visitor_cookie(id, secure)),
        _ => None,
    };
    Ok(Some(Shopper { owner, cookie }))
}

/// The `set-cookie` value keeping a visitor's cart for as long as a cart lives unchanged.
fn visitor_cookie(id: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{CART_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        carts::IDLE_MS / 1000
    )
}

fn clear_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{CART_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
}

fn respond<T: Serialize>(
    status: u16,
    body: &T,
    cookie: Option<String>,
) -> Result<Response, ApiError> {
    let mut response = http::json(status, body)?;
    if let Some(cookie) = cookie {
        response.set_header("set-cookie", cookie);
    }
    Ok(response)
}

fn show(request: &ApiRequest, env: &Env) -> Result<Response, ApiError> {
    let db = env.ctx.db.get()?;
    let Some(shopper) = shopper(request, env, false)? else {
        let empty = carts::view(db, &Default::default(), env.tax_basis_points)?;
        return respond(200, &empty, None);
    };
    let cart = carts::load(env.kv.as_ref(), &shopper.owner, env.ctx.now_ms)?;
    respond(
        200,
        &carts::view(db, &cart, env.tax_basis_points)?,
        shopper.cookie,
    )
}

/// Changes the cart of the request's shopper with `change`, saves it and answers it.
fn change_cart(
    request: &ApiRequest,
    env: &Env,
    create: bool,
    change: impl FnOnce(crate::model::Cart) -> Result<crate::model::Cart, ApiError>,
) -> Result<Response, ApiError> {
    let Some(shopper) = shopper(request, env, create)? else {
        return Err(ApiError::NotFound);
    };
    let kv = env.kv.as_ref();
    let cart = carts::load(kv, &shopper.owner, env.ctx.now_ms)?;
    let cart = carts::save(kv, &shopper.owner, change(cart)?, env.ctx.now_ms)?;
    let db = env.ctx.db.get()?;
    respond(
        200,
        &carts::view(db, &cart, env.tax_basis_points)?,
        shopper.cookie,
    )
}

fn add(request: &ApiRequest, env: &Env) -> Result<Response, ApiError> {
    let body = request.json_object()?;
    let (sku, quantity) = validate::both(
        validate::sku(body.get("sku")),
        validate::quantity(body.get("quantity"), 1, MAX_QUANTITY),
    )?;
    let db = env.ctx.db.get()?;
    change_cart(request, env, true, |cart| {
        carts::add(db, cart, &sku, quantity)
    })
}

fn set_quantity(request: &ApiRequest, env: &Env, sku: &str) -> Result<Response, ApiError> {
    let sku = validate::sku_text(sku).ok_or(ApiError::NotFound)?;
    let body = request.json_object()?;
    let quantity = validate::quantity(body.get("quantity"), 0, MAX_QUANTITY)
        .map_err(|e| ApiError::Validation(vec![e]))?;
    let db = env.ctx.db.get()?;
    change_cart(request, env, false, |cart| {
        carts::set_quantity(db, cart, &sku, quantity)
    })
}

fn remove(request: &ApiRequest, env: &Env, sku: &str) -> Result<Response, ApiError> {
    let sku = validate::sku_text(sku).ok_or(ApiError::NotFound)?;
    change_cart(request, env, false, |cart| carts::remove(cart, &sku))
}

async fn ship(request: &ApiRequest, env: &Env) -> Result<Response, ApiError> {
    let body = request.json_object()?;
    let city = quotes::city_code(body.get("city"))?;
    let quote = quotes::quote(env.quotes.as_ref(), &city).await?;
    change_cart(request, env, true, |cart| Ok(carts::ship(cart, quote)))
}

fn checkout(request: &ApiRequest, env: &Env) -> Result<Response, ApiError> {
    env.ctx.sessions()?.require(request, env.ctx.now_ms)?;
    let shopper = shopper(request, env, false)?.ok_or(ApiError::Unauthorized)?;
    let Owner::User(user_id) = &shopper.owner else {
        return Err(ApiError::Unauthorized);
    };
    let kv = env.kv.as_ref();
    let cart = carts::load(kv, &shopper.owner, env.ctx.now_ms)?;
    let purchase = purchases::checkout(
        env.ctx.db.get()?,
        &cart,
        user_id,
        &env.terms,
        env.tax_basis_points,
        env.ctx.now_ms,
    )?;
    // The purchase is committed: a cart that cannot be emptied now must not turn it into
    // an error the shopper would retry (and buy twice).
    if let Err(e) = carts::clear(kv, &shopper.owner) {
        eprintln!(
            "{SERVICE}: purchase {} made, but its cart stays: {e}",
            purchase.id
        );
    }
    respond(201, &purchase, shopper.cookie)
}

fn list_purchases(request: &ApiRequest, env: &Env) -> Result<Response, ApiError> {
    let session = env.ctx.sessions()?.require(request, env.ctx.now_ms)?;
    http::json(200, &purchases::list(env.ctx.db.get()?, &session.user.id)?)
}

fn show_purchase(request: &ApiRequest, env: &Env, id: &str) -> Result<Response, ApiError> {
    let session = env.ctx.sessions()?.require(request, env.ctx.now_ms)?;
    http::json(
        200,
        &purchases::show(env.ctx.db.get()?, id, &session.user.id)?,
    )
}

fn cancel(request: &ApiRequest, env: &Env, id: &str) -> Result<Response, ApiError> {
    let session = env.ctx.sessions()?.require(request, env.ctx.now_ms)?;
    purchases::cancel(env.ctx.db.get()?, id, &session.user.id, env.ctx.now_ms)?;
    Ok(Response::builder().status(204).build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_shared::kv::MemoryKv;
    use boxoffice_shared::money::Price;
    use boxoffice_shared::testing::{self, NOW};
    use futures::executor::block_on;
    use serde_json::{json, Value};
    use spin_sdk::http::Method;

    use crate::model::Shipping;
    use crate::quotes::Lookup;
    use crate::storage;

    /// The shipping service's answers, as a table.
    struct FixedQuotes;

    impl Quotes for FixedQuotes {
        fn quote<'a>(&'a self, city: &'a str) -> Lookup<'a> {
            Box::pin(async move {
                match city {
                    "nyc" => Ok(Some(Shipping {
                        city: "nyc".into(),
                        name: "New York".into(),
                        country: "United States".into(),
                        cost: Price::from_cents(899),
                    })),
                    "down" => Err("no answer".into()),
                    _ => Ok(None),
                }
            })
        }
    }

    fn env() -> Env {
        Env {
            ctx: testing::context(storage::migrations()),
            kv: Rc::new(MemoryKv::default()),
            quotes: Box::new(FixedQuotes),
            terms: Terms {
                window_ms: 900_000,
                max_live: 10,
            },
            tax_basis_points: 800,
        }
    }

    fn at(env: &Env, now_ms: i64) -> Env {
        Env {
            ctx: Context::new(
                env.ctx.db.clone(),
                now_ms,
                Ok(testing::sessions()),
                Ok(testing::public_keys()),
            ),
            kv: env.kv.clone(),
            quotes: Box::new(FixedQuotes),
            terms: env.terms,
            tax_basis_points: env.tax_basis_points,
        }
    }

    fn deliver(env: &Env, kind: &str, data: Value) -> u16 {
        let request = testing::delivery("/internal/events/cart", &ids::new_id(), kind, &data);
        *block_on(handle(&request, env)).status()
    }

    fn product(env: &Env, sku: &str, price: f64, stock: i64) {
        let created = json!({"sku": sku, "version": 0, "name": format!("{sku} name"),
                             "price": price, "stock": stock, "userId": "seller"});
        assert_eq!(deliver(env, "product:created", created), 204);
    }

    /// `(status, body, set-cookie)` of `method path` with `cookie` and `body`.
    fn send(
        env: &Env,
        method: Method,
        path: &str,
        cookie: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value, Option<String>) {
        let mut request = ApiRequest::new(method, path);
        if let Some(cookie) = cookie {
            request = request.with_header("cookie", cookie);
        }
        if let Some(body) = body {
            request = request.with_json(&body);
        }
        let response = block_on(handle(&request, env));
        let set_cookie = response
            .header("set-cookie")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        let (status, body) = testing::answer(&response);
        (status, body, set_cookie)
    }

    fn user(env: &Env, name: &str) -> String {
        testing::cookie(env.ctx.sessions().unwrap(), name)
    }

    #[test]
    fn serves_every_documented_operation_and_nothing_else() {
        let env = env();
        testing::assert_serves_exactly::<Operation>(|request| block_on(handle(request, &env)));
    }

    #[test]
    fn a_visitor_fills_a_cart_kept_by_its_cookie_with_totals_and_tax() {
        let env = env();
        product(&env, "MUG-1", 12.5, 3);
        let (status, cart, _) = send(&env, Method::Get, "/api/cart", None, None);
        assert_eq!(
            (status, &cart["items"], &cart["total"]),
            (200, &json!([]), &json!(0))
        );
        let add = json!({"sku": "mug-1", "quantity": 2});
        let (status, cart, cookie) = send(&env, Method::Post, "/api/cart/items", None, Some(add));
        assert_eq!(status, 200, "{cart}");
        let cookie = cookie.unwrap();
        assert!(
            cookie.starts_with("cart=") && cookie.contains("HttpOnly"),
            "{cookie}"
        );
        let visitor = cookie.split(';').next().unwrap().to_owned();
        let (_, cart, _) = send(
            &env,
            Method::Put,
            "/api/cart/shipping",
            Some(&visitor),
            Some(json!({"city": " NYC "})),
        );
        assert_eq!(cart["shipping"]["name"], "New York");
        assert_eq!(
            (
                &cart["subtotal"],
                &cart["tax"],
                &cart["total"],
                &cart["taxRate"],
                &cart["count"]
            ),
            (&json!(25), &json!(2), &json!(35.99), &json!(8.0), &json!(2))
        );
        assert_eq!(cart["items"][0]["available"], 3);
        let (status, body, _) = send(
            &env,
            Method::Post,
            "/api/cart/items",
            Some(&visitor),
            Some(json!({"sku": "MUG-1", "quantity": 2})),
        );
        assert_eq!(
            (status, &body["errors"][0]["message"]),
            (400, &json!("Only 3 of MUG-1 name left"))
        );
        let (status, cart, _) = send(
            &env,
            Method::Put,
            "/api/cart/items/mug-1",
            Some(&visitor),
            Some(json!({"quantity": 3})),
        );
        assert_eq!((status, &cart["count"]), (200, &json!(3)));
        let (status, cart, _) = send(
            &env,
            Method::Put,
            "/api/cart/items/MUG-1",
            Some(&visitor),
            Some(json!({"quantity": 0})),
        );
        assert_eq!((status, &cart["items"]), (200, &json!([])));
        let (status, ..) = send(
            &env,
            Method::Delete,
            "/api/cart/items/MUG-1",
            Some(&visitor),
            None,
        );
        assert_eq!(status, 404, "no longer in the cart");
    }

    #[test]
    fn bad_input_is_a_clear_400_or_404() {
        let env = env();
        product(&env, "MUG-1", 12.5, 0);
        let cases = [
            (json!({"sku": "MUG-1", "quantity": 0}), "quantity"),
            (json!({"sku": "MUG-1", "quantity": 100}), "quantity"),
            (json!({"sku": "MUG-1", "quantity": "1"}), "quantity"),
            (json!({"sku": "x", "quantity": 1}), "sku"),
            (json!({"quantity": 1}), "sku"),
        ];
        for (body, field) in cases {
            let (status, answer, _) = send(&env, Method::Post, "/api/cart/items", None, Some(body));
            assert_eq!(
                (status, &answer["errors"][0]["field"]),
                (400, &json!(field))
            );
        }
        let (status, answer, _) = send(
            &env,
            Method::Post,
            "/api/cart/items",
            None,
            Some(json!({"sku": "MUG-1", "quantity": 1})),
        );
        assert_eq!(
            (status, &answer["errors"][0]["message"]),
            (400, &json!("MUG-1 name is out of stock"))
        );
        let (status, ..) = send(
            &env,
            Method::Post,
            "/api/cart/items",
            None,
            Some(json!({"sku": "NOPE-1", "quantity": 1})),
        );
        assert_eq!(status, 404);
        for (city, status, message) in [
            (json!("atlantis"), 400, "Unknown city"),
            (json!("../x"), 400, "Unknown city"),
            (json!(""), 400, "City is required"),
            (
                json!("down"),
                503,
                "Shipping quotes are unavailable; try again shortly",
            ),
        ] {
            let (got, answer, _) = send(
                &env,
                Method::Put,
                "/api/cart/shipping",
                None,
                Some(json!({"city": city})),
            );
            assert_eq!(
                (got, &answer["errors"][0]["message"]),
                (status, &json!(message))
            );
        }
        let (status, ..) = send(&env, Method::Post, "/api/cart/checkout", None, None);
        assert_eq!(status, 401);
    }

    #[test]
    fn signing_in_moves_the_visitors_cart_into_the_shoppers_and_checkout_empties_it() {
        let env = env();
        product(&env, "MUG-1", 12.5, 10);
        product(&env, "TEE-1", 20.0, 10);
        let alice = user(&env, "a");
        send(
            &env,
            Method::Post,
            "/api/cart/items",
            Some(&alice),
            Some(json!({"sku": "MUG-1", "quantity": 1})),
        );
        let (_, _, cookie) = send(
            &env,
            Method::Post,
            "/api/cart/items",
            None,
            Some(json!({"sku": "MUG-1", "quantity": 2})),
        );
        let visitor = cookie.unwrap().split(';').next().unwrap().to_owned();
        send(
            &env,
            Method::Post,
            "/api/cart/items",
            Some(&visitor),
            Some(json!({"sku": "TEE-1", "quantity": 1})),
        );
        send(
            &env,
            Method::Put,
            "/api/cart/shipping",
            Some(&visitor),
            Some(json!({"city": "nyc"})),
        );
        let both = format!("{alice}; {visitor}");
        let (status, cart, cleared) = send(&env, Method::Get, "/api/cart", Some(&both), None);
        assert_eq!(status, 200);
        assert!(cleared.unwrap().contains("Max-Age=0"));
        assert_eq!(cart["count"], 4, "{cart}");
        assert_eq!(cart["shipping"]["city"], "nyc");
        let (_, visitors, _) = send(&env, Method::Get, "/api/cart", Some(&visitor), None);
        assert_eq!(visitors["items"], json!([]), "the visitor's cart is gone");
        let (status, purchase, _) =
            send(&env, Method::Post, "/api/cart/checkout", Some(&alice), None);
        assert_eq!(status, 201, "{purchase}");
        assert_eq!(purchase["status"], "created");
        assert_eq!(purchase["total"], json!(71.09));
        let (_, cart, _) = send(&env, Method::Get, "/api/cart", Some(&alice), None);
        assert_eq!(cart["items"], json!([]));
        let id = purchase["id"].as_str().unwrap();
        let (status, shown, _) = send(
            &env,
            Method::Get,
            &format!("/api/purchases/{id}"),
            Some(&alice),
            None,
        );
        assert_eq!((status, &shown), (200, &purchase));
        let bob = user(&env, "b");
        let (status, ..) = send(
            &env,
            Method::Get,
            &format!("/api/purchases/{id}"),
            Some(&bob),
            None,
        );
        assert_eq!(status, 401);
        let (_, mine, _) = send(&env, Method::Get, "/api/purchases", Some(&alice), None);
        assert_eq!(mine, json!([purchase]));
        let (status, ..) = send(&env, Method::Post, "/api/cart/checkout", Some(&alice), None);
        assert_eq!(status, 400, "the cart is empty now");
        let payment =
            json!({"id": ids::new_id(), "orderId": id, "stripeId": "ch_1", "purchase": true});
        assert_eq!(deliver(&env, "payment:created", payment), 204);
        let ticket_payment =
            json!({"id": ids::new_id(), "orderId": "f".repeat(24), "stripeId": "ch_2"});
        assert_eq!(
            deliver(&env, "payment:created", ticket_payment),
            204,
            "the orders service's"
        );
        let dispatched = json!({"id": "s1", "purchaseId": id, "userId": "a", "city": "nyc",
                                "dispatchedAt": "2024-05-01T13:00:00.000Z"});
        assert_eq!(deliver(&env, "shipment:dispatched", dispatched), 204);
        let (_, shown, _) = send(
            &env,
            Method::Get,
            &format!("/api/purchases/{id}"),
            Some(&alice),
            None,
        );
        assert_eq!(shown["status"], "complete");
        assert_eq!(
            shown["shipment"],
            json!({"id": "s1", "dispatchedAt": "2024-05-01T13:00:00.000Z"})
        );
        let (status, ..) = send(
            &env,
            Method::Delete,
            &format!("/api/purchases/{id}"),
            Some(&alice),
            None,
        );
        assert_eq!(status, 400);
    }

    #[test]
    fn a_cart_left_alone_for_a_day_is_dropped() {
        let env = env();
        product(&env, "MUG-1", 12.5, 10);
        let (_, _, cookie) = send(
            &env,
            Method::Post,
            "/api/cart/items",
            None,
            Some(json!({"sku": "MUG-1", "quantity": 1})),
        );
        let visitor = cookie.unwrap().split(';').next().unwrap().to_owned();
        let later = |ms| {
            send(
                &at(&env, NOW + ms),
                Method::Get,
                "/api/cart",
                Some(&visitor),
                None,
            )
            .1
        };
        assert_eq!(later(carts::IDLE_MS - 1)["count"], 1);
        assert_eq!(later(carts::IDLE_MS)["count"], 0);
        assert_eq!(later(0)["count"], 0, "and it is gone for good");
    }
}
