//! The HTTP routes of the tickets service (docs/api.md, "Tickets"), and its event route
//! `POST /internal/events/tickets` (events.toml). Authentication comes before
//! validation: an anonymous request with a bad body is a 401.

use boxoffice_api::tickets::{route, Operation, TOTAL_COUNT};
use boxoffice_shared::consume;
use boxoffice_shared::service::Context;
use boxoffice_shared::{http, validate, ApiError, ApiRequest};
use spin_sdk::http::Response;

use crate::{listen, tickets, SERVICE};

/// What the routes work with: the service's context, nothing more.
pub type Env = Context;

/// Answers one request: the documented operation of its method and path.
pub fn handle(request: &ApiRequest, env: &Env) -> Response {
    let Some((operation, params)) = request.route(route) else {
        return http::not_found();
    };
    let result = match operation {
        Operation::Create => create(request, env),
        Operation::List => list(request, env),
        Operation::Show => show(env, params.get("id")),
        Operation::Edit => edit(request, env, params.get("id")),
        Operation::Deliver => return consume::event_route(SERVICE, request, env, listen::receive),
    };
    result.unwrap_or_else(|e| e.to_response())
}

fn title_and_price(
    request: &ApiRequest,
) -> Result<(String, boxoffice_shared::money::Price), ApiError> {
    let body = request.json_object()?;
    validate::both(
        validate::title(body.get("title")),
        validate::price(body.get("price")),
    )
}

fn create(request: &ApiRequest, env: &Env) -> Result<Response, ApiError> {
    let session = env.sessions()?.require(request, env.now_ms)?;
    let (title, price) = title_and_price(request)?;
    let ticket = tickets::create(env.db.get()?, &session.user.id, title, price, env.now_ms)?;
    http::json(201, &ticket)
}

fn list(request: &ApiRequest, env: &Env) -> Result<Response, ApiError> {
    let param = |wanted: &str| {
        form_urlencoded::parse(request.query.as_bytes())
            .find(|(name, _)| name == wanted)
            .map(|(_, value)| value.into_owned())
    };
    if let Some(ids) = param("ids") {
        return http::json(200, &tickets::by_ids(env.db.get()?, &ids)?);
    }
    let (limit, offset) = validate::both(
        param("limit").map_or(Ok(tickets::DEFAULT_PAGE), |v| {
            validate::limit(&v, tickets::MAX_PAGE)
        }),
        param("offset").map_or(Ok(0), |v| validate::offset(&v)),
    )?;
    let db = env.db.get()?;
    let page = tickets::list_for_sale(db, limit, offset)?;
    // A short page that is not past the end is the end: its total needs no second query
    // (the listing of a shop with fewer tickets than a page, the common case, stays one).
    let len = i64::try_from(page.len()).unwrap_or(i64::MAX);
    let total = if len < limit && (len > 0 || offset == 0) {
        offset + len
    } else {
        tickets::count_for_sale(db)?
    };
    let mut response = http::json(200, &page)?;
    response.set_header(TOTAL_COUNT, total.to_string());
    Ok(response)
}

fn show(env: &Env, id: &str) -> Result<Response, ApiError> {
    http::json(200, &tickets::show(env.db.get()?, id)?)
}

fn edit(request: &ApiRequest, env: &Env, id: &str) -> Result<Response, ApiError> {
    let session = env.sessions()?.require(request, env.now_ms)?;
    let (title, price) = title_and_price(request)?;
    let ticket = tickets::edit(
        env.db.get()?,
        id,
        &session.user.id,
        &title,
        price,
        env.now_ms,
    )?;
    http::json(200, &ticket)
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

    #[test]
    fn serves_every_documented_operation_and_nothing_else() {
        let env = env();
        boxoffice_shared::testing::assert_serves_exactly::<Operation>(|request| {
            handle(request, &env)
        });
    }

    #[test]
    fn create_needs_a_session_before_anything_else() {
        let env = env();
        let (status, _) = send(&env, Method::Post, "/api/tickets", None, Some(json!({})));
        assert_eq!(status, 401);
        let (status, body) = send(
            &env,
            Method::Post,
            "/api/tickets",
            Some("a"),
            Some(json!({"title": "", "price": -10})),
        );
        assert_eq!(status, 400);
        assert_eq!(body["errors"][0]["field"], "title");
        assert_eq!(body["errors"][1]["field"], "price");
        let (status, body) = send(
            &env,
            Method::Post,
            "/api/tickets",
            Some("a"),
            Some(json!({"title": "concert", "price": "20"})),
        );
        assert_eq!(
            (status, body["errors"][0]["field"].clone()),
            (400, json!("price"))
        );
    }

    #[test]
    fn created_tickets_are_shown_and_listed() {
        let env = env();
        let (status, ticket) = send(
            &env,
            Method::Post,
            "/api/tickets",
            Some("a"),
            Some(json!({"title": "concert", "price": 20})),
        );
        assert_eq!(status, 201);
        assert_eq!(ticket["title"], "concert");
        assert_eq!(ticket["price"], json!(20));
        assert_eq!(ticket["version"], 0);
        assert_eq!(ticket["userId"], "a".repeat(24));
        assert!(ticket.get("orderId").is_none());
        let path = format!("/api/tickets/{}", ticket["id"].as_str().unwrap());
        assert_eq!(
            send(&env, Method::Get, &path, None, None),
            (200, ticket.clone())
        );
        assert_eq!(
            send(&env, Method::Get, "/api/tickets", None, None),
            (200, json!([ticket]))
        );
    }

    #[test]
    fn the_listing_is_paged_and_bounded() {
        let env = env();
        let mut ids = Vec::new();
        for n in 0..5 {
            let (_, ticket) = send(
                &env,
                Method::Post,
                "/api/tickets",
                Some("a"),
                Some(json!({"title": format!("show {n}"), "price": 20})),
            );
            ids.push(ticket["id"].clone());
        }
        // Oldest first; made at one instant here, so by id.
        ids.sort_by_key(|id| id.as_str().unwrap_or_default().to_owned());
        let page = |query: &str| {
            let mut request = ApiRequest::new(Method::Get, "/api/tickets");
            request.query = query.to_owned();
            testing::answer(&handle(&request, &env))
        };
        let total = |query: &str| {
            let mut request = ApiRequest::new(Method::Get, "/api/tickets");
            request.query = query.to_owned();
            handle(&request, &env)
                .headers()
                .find(|(name, _)| name.eq_ignore_ascii_case(TOTAL_COUNT))
                .and_then(|(_, value)| value.as_str().map(str::to_owned))
        };
        for query in [
            "",
            "limit=2",
            "limit=5",
            "limit=2&offset=4",
            "offset=9",
            "limit=1&offset=5",
        ] {
            assert_eq!(total(query).as_deref(), Some("5"), "{query}");
        }
        let listed = |answer: (u16, Value)| -> Vec<Value> {
            assert_eq!(answer.0, 200, "{}", answer.1);
            answer
                .1
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].clone())
                .collect()
        };
        assert_eq!(
            listed(page("")),
            ids,
            "a client that does not page sees them all"
        );
        assert_eq!(listed(page("limit=2")), ids[..2]);
        assert_eq!(listed(page("limit=2&offset=3")), ids[3..]);
        assert_eq!(listed(page("offset=9")), Vec::<Value>::new());
        for (query, field) in [
            ("limit=0", "limit"),
            ("limit=201", "limit"),
            ("limit=ten", "limit"),
            ("offset=-1", "offset"),
        ] {
            let (status, body) = page(query);
            assert_eq!(
                (status, &body["errors"][0]["field"]),
                (400, &json!(field)),
                "{query}"
            );
        }
        assert_eq!(
            listed(page(&format!("limit={}", tickets::MAX_PAGE))).len(),
            5
        );
    }

    #[test]
    fn unknown_or_malformed_ids_are_404() {
        let env = env();
        let missing = format!("/api/tickets/{}", "f".repeat(24));
        assert_eq!(send(&env, Method::Get, &missing, None, None).0, 404);
        assert_eq!(
            send(&env, Method::Get, "/api/tickets/nope", None, None).0,
            404
        );
        assert_eq!(
            send(&env, Method::Delete, "/api/tickets", None, None).0,
            404
        );
        assert_eq!(
            send(&env, Method::Get, "/api/tickets/a/b", None, None).0,
            404
        );
    }

    #[test]
    fn edits_check_in_the_old_apps_order() {
        let env = env();
        let good = json!({"title": "opera", "price": 12.5});
        let missing = format!("/api/tickets/{}", "f".repeat(24));
        assert_eq!(
            send(&env, Method::Put, &missing, None, Some(json!({}))).0,
            401
        );
        assert_eq!(
            send(&env, Method::Put, &missing, Some("a"), Some(json!({}))).0,
            400
        );
        assert_eq!(
            send(&env, Method::Put, &missing, Some("a"), Some(good.clone())).0,
            404
        );

        let (_, ticket) = send(
            &env,
            Method::Post,
            "/api/tickets",
            Some("a"),
            Some(json!({"title": "concert", "price": 20})),
        );
        let path = format!("/api/tickets/{}", ticket["id"].as_str().unwrap());
        assert_eq!(
            send(&env, Method::Put, &path, Some("b"), Some(good.clone())).0,
            401
        );
        let (status, edited) = send(&env, Method::Put, &path, Some("a"), Some(good));
        assert_eq!(status, 200);
        assert_eq!(edited["title"], "opera");
        assert_eq!(edited["price"], json!(12.5));
        assert_eq!(edited["version"], 1);
    }

    fn deliver(env: &Env, id: &str, kind: &str, data: Value) -> u16 {
        let request = testing::delivery("/internal/events/tickets", id, kind, &data);
        *handle(&request, env).status()
    }

    #[test]
    fn order_events_reserve_and_release_tickets_once() {
        let env = env();
        let (_, ticket) = send(
            &env,
            Method::Post,
            "/api/tickets",
            Some("a"),
            Some(json!({"title": "concert", "price": 20})),
        );
        let id = ticket["id"].as_str().unwrap();
        let created = json!({"id": "o".repeat(24), "version": 0, "status": "created",
            "userId": "b".repeat(24), "expiresAt": "2024-05-01T12:15:00.000Z",
            "ticket": {"id": id, "price": 20}});
        assert_eq!(deliver(&env, "e1", "order:created", created.clone()), 204);
        assert_eq!(deliver(&env, "e1", "order:created", created), 204);
        let path = format!("/api/tickets/{id}");
        let (_, reserved) = send(&env, Method::Get, &path, None, None);
        assert_eq!(reserved["orderId"], "o".repeat(24));
        assert_eq!(reserved["version"], 1);
        assert_eq!(
            send(&env, Method::Get, "/api/tickets", None, None),
            (200, json!([]))
        );
        let (status, body) = send(
            &env,
            Method::Put,
            &path,
            Some("a"),
            Some(json!({"title": "opera", "price": 10})),
        );
        assert_eq!(status, 400);
        assert_eq!(
            body["errors"][0]["message"],
            "Cannot edit a reserved ticket"
        );

        let cancelled = json!({"id": "o".repeat(24), "version": 1, "ticket": {"id": id}});
        assert_eq!(deliver(&env, "e2", "order:cancelled", cancelled), 204);
        let (_, released) = send(&env, Method::Get, &path, None, None);
        assert!(released.get("orderId").is_none());
        assert_eq!(released["version"], 2);

        assert_eq!(deliver(&env, "e3", "ticket:created", json!({})), 400);
        assert_eq!(deliver(&env, "e4", "order:lost", json!({})), 400);
        assert_eq!(deliver(&env, "e5", "boxoffice:tick", json!({})), 204);
    }
}
