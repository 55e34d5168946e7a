//! Helpers for the services' unit tests (the `testing` feature), written once: the clock,
//! keys and in-memory database the tests share, signed-in requests and their JSON answers,
//! and the deliveries the broker would push to an event route, signed as their publisher
//! would sign them.

use boxoffice_api::route::{method_name, Operations};
use serde_json::Value;
use spin_sdk::http::{Method, Response};

use crate::events::{self, Attributes, EventType, OrderCreated, OrderStatus, OrderTicket, TICK};
use crate::money::Price;
#[cfg(feature = "native-sqlite")]
use crate::service::Context;
use crate::session::{set_cookie, SessionConfig, SessionUser};
use crate::signature::{PublicKeys, SigningKey, PUBLISHERS};
use crate::sql::Db;
use crate::{http, time, ApiRequest};

/// The unit tests' "now": 2024-05-01T12:00:00Z.
pub const NOW: i64 = 1_714_564_800_000;

/// Asserts that SQLite runs `sql` (its `$n` parameters bound to `params`) through `index`,
/// in the index's order (no temporary sort), so that its cost follows what the index
/// holds rather than the whole table.
pub fn assert_reads_index(
    db: &dyn crate::sql::Db,
    sql: &str,
    params: &[crate::sql::Value],
    index: &str,
) {
    let plan: Vec<String> = db
        .query(&format!("EXPLAIN QUERY PLAN {sql}"), params)
        .expect("a query SQLite can plan")
        .iter()
        .map(|step| step.text("detail").expect("a plan step's detail"))
        .collect();
    assert!(
        plan.iter()
            .any(|step| step.contains(&format!("USING INDEX {index}"))),
        "{sql}: {plan:?}"
    );
    assert!(
        !plan.iter().any(|step| step.contains("TEMP B-TREE")),
        "{sql}: {plan:?}"
    );
}

/// Runs `statements` (a service's migrations) as they are, on a fresh test database; the
/// services themselves migrate with [`crate::sql::migrate_once`].
pub fn migrate<S: AsRef<str>>(
    db: &dyn crate::sql::Db,
    statements: &[S],
) -> Result<(), crate::sql::SqlError> {
    for statement in statements {
        db.execute(statement.as_ref(), &[])?;
    }
    Ok(())
}

/// The events in `service`'s outbox, oldest first: `(type, data)`.
pub fn outbox_events(db: &dyn Db, service: &str) -> Vec<(String, Value)> {
    db.query(
        &format!(
            "SELECT event_type, data FROM {} ORDER BY created_at, seq",
            crate::outbox::table(service)
        ),
        &[],
    )
    .expect("the outbox is readable")
    .iter()
    .map(|row| {
        let data = row.text("data").expect("data");
        (
            row.text("event_type").expect("event_type"),
            serde_json::from_str(&data).expect("JSON data"),
        )
    })
    .collect()
}

/// A fresh in-memory SQLite database with `migrations`, opened on first use.
#[cfg(feature = "native-sqlite")]
pub fn memory_db(migrations: Vec<String>) -> std::rc::Rc<crate::sql::LazyDb> {
    use crate::sql::native::NativeSqlite;
    std::rc::Rc::new(crate::sql::LazyDb::new(
        "test",
        || Ok(Box::new(NativeSqlite::open_in_memory()?) as Box<dyn Db>),
        migrations,
    ))
}

/// `order:created` for order `id` of user `u1`, reserving ticket `ticket_id` at
/// `price_cents`, expiring at 2024-05-01T12:15:00Z ([`NOW`] + 15 minutes).
pub fn order_created(id: &str, ticket_id: &str, price_cents: i64) -> OrderCreated {
    OrderCreated {
        id: id.into(),
        version: 0,
        status: OrderStatus::Created,
        user_id: "u1".into(),
        expires_at: "2024-05-01T12:15:00.000Z".into(),
        ticket: OrderTicket {
            id: ticket_id.into(),
            price: Price::from_cents(price_cents),
        },
    }
}

/// A service's context for unit tests: an in-memory database with `migrations`, the
/// tests' session and event keys, and [`NOW`].
#[cfg(feature = "native-sqlite")]
pub fn context(migrations: Vec<String>) -> Context {
    Context::new(
        memory_db(migrations),
        NOW,
        Ok(sessions()),
        Ok(public_keys()),
    )
}

/// Sessions signed with the unit tests' key, valid for a minute.
pub fn sessions() -> SessionConfig {
    SessionConfig::new(b"a test signing key", 60).expect("the test key is valid")
}

/// The `cookie` header value of a session for the user whose id is `user` repeated to 24
/// characters (`"a"`: `aaaa…`), issued at [`NOW`].
pub fn cookie(sessions: &SessionConfig, user: &str) -> String {
    let user = SessionUser {
        id: user.repeat(24 / user.len()),
        email: "test@test.com".into(),
    };
    let token = sessions.issue(&user, NOW).expect("a session");
    let header = set_cookie(&token, false);
    header.split(';').next().unwrap_or_default().to_owned()
}

/// A request to `path`, signed in as `user` (see [`cookie`]) when given, with a JSON body
/// when given.
pub fn request(
    sessions: &SessionConfig,
    method: Method,
    path: &str,
    user: Option<&str>,
    body: Option<Value>,
) -> ApiRequest {
    let mut request = ApiRequest::new(method, path);
    if let Some(user) = user {
        request = request.with_header("cookie", &cookie(sessions, user));
    }
    if let Some(body) = body {
        request = request.with_json(&body);
    }
    request
}

/// A response's status and JSON body (`null` when empty).
pub fn answer(response: &Response) -> (u16, Value) {
    let body = if response.body().is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(response.body()).expect("a JSON body")
    };
    (*response.status(), body)
}

/// The seed of `service`'s signing key in the tests, derived from its name.
pub fn signing_seed(service: &str) -> [u8; 32] {
    hmac_sha256::Hash::hash(format!("test-events-key {service}").as_bytes())
}

/// The signing key of `service` in the tests (see [`signing_seed`]).
pub fn signing_key(service: &str) -> SigningKey {
    SigningKey::from_seed(signing_seed(service))
}

/// The public keys of every publisher's [`signing_key`].
pub fn public_keys() -> PublicKeys {
    let keys: Vec<(&str, SigningKey)> = PUBLISHERS
        .iter()
        .map(|service| (*service, signing_key(service)))
        .collect();
    PublicKeys::of(keys.iter().map(|(service, key)| (*service, key)))
}

/// A binary-mode CloudEvent of `event_type` (such as `ticket:created`) with id `id` and
/// payload `data`, from the type's publisher, signed with its [`signing_key`], POSTed to
/// `path`.
pub fn delivery(path: &str, id: &str, event_type: &str, data: &Value) -> ApiRequest {
    let publisher = EventType::parse(event_type).map_or("test", EventType::publisher);
    let source = events::source(publisher);
    let body = data.to_string().into_bytes();
    let subject = ["id", "orderId"]
        .iter()
        .find_map(|field| data.get(field).and_then(Value::as_str))
        .unwrap_or_default();
    let attributes = Attributes {
        id,
        event_type,
        source: &source,
        time: &time::rfc3339(0),
        subject,
    };
    let mut request = ApiRequest::new(Method::Post, path);
    for (name, value) in events::binary_headers(&attributes, &body, &signing_key(publisher)) {
        request = request.with_header(&name, &value);
    }
    request.body = body;
    request
}

/// `time` (RFC 3339 in UTC, with `Z`) as the CloudEvents Go SDK writes it, which Knative's
/// broker re-encodes every event with: Go's `time.RFC3339Nano`, trailing zeros of the
/// fraction dropped (`.120Z` is `.12Z`, `.000Z` is `Z`).
pub fn as_go_writes_it(time: &str) -> String {
    match time.strip_suffix('Z').and_then(|t| t.split_once('.')) {
        Some((seconds, fraction)) => match fraction.trim_end_matches('0') {
            "" => format!("{seconds}Z"),
            kept => format!("{seconds}.{kept}Z"),
        },
        None => time.to_owned(),
    }
}

/// The broker's tick, POSTed to `path`.
pub fn tick(path: &str) -> ApiRequest {
    ApiRequest::new(Method::Post, path)
        .with_header("ce-specversion", "1.0")
        .with_header("ce-type", TICK)
}

/// Asserts that `handle` (a component's router) answers every documented operation of `O`
/// (its method on its path, each path parameter a well-formed id nobody has) with
/// something other than the JSON 404 "Route not found", and every other method on those
/// paths with exactly that: the component serves its documented routes, and only those.
pub fn assert_serves_exactly<O: Operations>(handle: impl Fn(&ApiRequest) -> Response) {
    let methods = [
        Method::Get,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Patch,
    ];
    for &operation in O::ALL {
        let path = sample_path(&operation.path());
        for method in &methods {
            let documented = O::ALL.iter().any(|other| {
                other.path() == operation.path()
                    && method_name(&other.method()) == method.to_string()
            });
            let answer = handle(&ApiRequest::new(method.clone(), &path));
            let (status, body) = (*answer.status(), answer.body().to_vec());
            let no_route = status == 404 && body == http::not_found().body();
            assert_eq!(
                no_route,
                !documented,
                "{method} {path} ({operation:?} of {}): {status} {}",
                O::COMPONENT,
                String::from_utf8_lossy(&body)
            );
        }
    }
}

/// `template` with each `{param}` replaced by a well-formed id that nobody has.
fn sample_path(template: &str) -> String {
    template
        .split('/')
        .map(|part| {
            if part.starts_with('{') {
                "f".repeat(24)
            } else {
                part.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}
