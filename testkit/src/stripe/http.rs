//! The fake's HTTP side: the server ([`LocalServer`], whose handler may drop a connection
//! without answering, for [`Fault::LoseAnswer`]), authentication, routing, CORS,
//! idempotency keys and faults.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};

use crate::local_server::LocalServer;

use super::{
    error, intents, refunds, Answer, Endpoint, Fault, Params, Remembered, Shared, SECRET_KEY,
    STRIPE_JS,
};

/// The handler's error: the connection closes without an answer.
#[derive(Debug)]
struct AnswerLost;

impl std::fmt::Display for AnswerLost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the fake Stripe loses this answer")
    }
}

impl std::error::Error for AnswerLost {}

type Reply = Result<Response<Full<Bytes>>, AnswerLost>;

/// Serves the fake until dropped ([`LocalServer::start_fallible`]: a lost answer closes
/// the connection unanswered).
pub(super) fn start(shared: Arc<Shared>) -> LocalServer {
    LocalServer::start_fallible(move |req| handle(shared.clone(), req))
}

/// Every answer carries CORS headers, so that a page can call the fake as Stripe.
fn respond(status: u16, content_type: &str, body: Bytes, replayed: bool) -> Response<Full<Bytes>> {
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("access-control-allow-origin", "*")
        .header("request-id", super::new_id("req"));
    if !content_type.is_empty() {
        builder = builder.header("content-type", content_type);
    }
    if replayed {
        builder = builder.header("idempotent-replayed", "true");
    }
    builder.body(Full::new(body)).expect("a valid response")
}

fn json_response(status: u16, body: &Value, replayed: bool) -> Response<Full<Bytes>> {
    respond(
        status,
        "application/json",
        Bytes::from(body.to_string()),
        replayed,
    )
}

/// What a request asks for.
enum Route {
    CreateIntent,
    ConfirmIntent(String),
    AuthenticateIntent(String),
    RetrieveIntent(String),
    CreateRefund,
    RetrieveRefund(String),
    CreateToken,
    ListCharges,
    RetrieveCharge(String),
}

impl Route {
    fn of(method: &str, path: &str) -> Option<Route> {
        let path = path.trim_end_matches('/');
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let id = |s: &str| s.to_owned();
        Some(match (method, segments.as_slice()) {
            ("POST", ["v1", "payment_intents"]) => Route::CreateIntent,
            ("POST", ["v1", "payment_intents", intent, "confirm"]) => {
                Route::ConfirmIntent(id(intent))
            }
            ("POST", ["v1", "payment_intents", intent, "authenticate"]) => {
                Route::AuthenticateIntent(id(intent))
            }
            ("GET", ["v1", "payment_intents", intent]) => Route::RetrieveIntent(id(intent)),
            ("POST", ["v1", "refunds"]) => Route::CreateRefund,
            ("GET", ["v1", "refunds", refund]) => Route::RetrieveRefund(id(refund)),
            ("POST", ["v1", "tokens"]) => Route::CreateToken,
            ("GET", ["v1", "charges"]) => Route::ListCharges,
            ("GET", ["v1", "charges", charge]) => Route::RetrieveCharge(id(charge)),
            _ => return None,
        })
    }

    fn endpoint(&self) -> Option<Endpoint> {
        match self {
            Route::CreateIntent => Some(Endpoint::CreateIntent),
            Route::ConfirmIntent(_) => Some(Endpoint::ConfirmIntent),
            Route::RetrieveIntent(_) => Some(Endpoint::RetrieveIntent),
            Route::CreateRefund => Some(Endpoint::Refund),
            _ => None,
        }
    }

    /// Whether Stripe takes a publishable key here (Stripe.js's calls).
    fn publishable(&self) -> bool {
        matches!(self, Route::CreateToken | Route::AuthenticateIntent(_))
    }
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Reply {
    shared.lock().requests += 1;
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let method = parts.method.as_str();
    let path = parts.uri.path();

    // CORS preflights and Stripe.js need no key.
    if method == "OPTIONS" {
        let mut response = respond(204, "", Bytes::new(), false);
        let headers = response.headers_mut();
        headers.insert(
            "access-control-allow-headers",
            "authorization, content-type".parse().expect("a header"),
        );
        headers.insert(
            "access-control-allow-methods",
            "GET, POST".parse().expect("a header"),
        );
        headers.insert("access-control-max-age", "600".parse().expect("a header"));
        return Ok(response);
    }
    if method == "GET" && (path == "/v3/" || path == "/v3") {
        return Ok(respond(
            200,
            "application/javascript",
            Bytes::from_static(STRIPE_JS.as_bytes()),
            false,
        ));
    }

    let route = Route::of(method, path);
    let key = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let publishable_ok = route.as_ref().is_some_and(Route::publishable);
    match key {
        None => {
            return Ok(json_response(
                401,
                &error(
                    "invalid_request_error",
                    "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
                    json!({}),
                ),
                false,
            ))
        }
        Some(key) if key == SECRET_KEY || (publishable_ok && key.starts_with("pk_test_")) => {}
        Some(key) => {
            let shown = format!("{}****", key.get(..8).unwrap_or(key));
            return Ok(json_response(
                401,
                &error(
                    "invalid_request_error",
                    &format!("Invalid API Key provided: {shown}"),
                    json!({}),
                ),
                false,
            ));
        }
    }
    let Some(route) = route else {
        return Ok(json_response(
            404,
            &error(
                "invalid_request_error",
                &format!("Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/."),
                json!({}),
            ),
            false,
        ));
    };

    let fault = route.endpoint().and_then(|endpoint| {
        shared
            .lock()
            .faults
            .get_mut(&endpoint)
            .and_then(|queue| queue.pop_front())
    });
    // Rate limiting comes before everything: nothing runs, nothing is saved
    // (https://docs.stripe.com/rate-limits).
    if let Some(Fault::RateLimited { retry_after_s }) = fault {
        let mut response = json_response(
            429,
            &error(
                "invalid_request_error",
                "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
                json!({"code": "rate_limit"}),
            ),
            false,
        );
        response.headers_mut().insert(
            "retry-after",
            retry_after_s.to_string().parse().expect("a header"),
        );
        return Ok(response);
    }

    if method == "GET" {
        if let Some(Fault::Slow(delay)) = fault {
            tokio::time::sleep(delay).await;
        }
        let answer = match fault {
            Some(Fault::ServerError { .. }) => server_error(),
            _ => retrieve(&shared, &route),
        };
        let response = json_response(answer.status, &answer.body, false);
        return match fault {
            Some(Fault::LoseAnswer) => Err(AnswerLost),
            _ => Ok(response),
        };
    }

    let params = Params::parse(&body);
    let idempotency_key = parts
        .headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut sorted = params.pairs.clone();
    sorted.sort();
    let request = (path.trim_end_matches('/').to_owned(), sorted);

    // Idempotency (https://docs.stripe.com/api/idempotent_requests): a saved answer is
    // replayed; other parameters are an error; a key still executing is a 409; otherwise
    // the key is marked in flight (one look-up under the lock, so two requests cannot both
    // execute).
    let replay = match &idempotency_key {
        Some(key) => match look_up(&shared, key, &request) {
            KeyState::New => None,
            KeyState::Saved(status, body) => Some((status, body)),
            KeyState::Refused(status, body) => return Ok(json_response(status, &body, false)),
        },
        None => None,
    };
    if let Some((status, body)) = replay {
        return match fault {
            Some(Fault::LoseAnswer) => Err(AnswerLost),
            Some(Fault::ServerError { .. }) => {
                let answer = server_error();
                Ok(json_response(answer.status, &answer.body, false))
            }
            Some(Fault::Slow(delay)) => {
                tokio::time::sleep(delay).await;
                Ok(json_response(status, &body, true))
            }
            _ => Ok(json_response(status, &body, true)),
        };
    }

    // Execution runs in a task of its own: a client that gives up (closing the
    // connection) does not stop Stripe from finishing the work.
    let task = {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut delay = shared.lock().latency;
            if let Some(Fault::Slow(slow)) = fault {
                delay += slow;
            }
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let mut state = shared.lock();
            let answer = match fault {
                Some(Fault::ServerError { executed }) => {
                    if executed {
                        execute(&mut state, &route, &params);
                    }
                    server_error()
                }
                _ => execute(&mut state, &route, &params),
            };
            if let Some(key) = &idempotency_key {
                state.in_flight.remove(key);
                if answer.save {
                    state.idempotent.insert(
                        key.clone(),
                        Remembered {
                            request,
                            status: answer.status,
                            body: answer.body.clone(),
                        },
                    );
                }
            }
            drop(state);
            shared.wake.notify_all();
            answer
        })
    };
    let answer = task.await.unwrap_or_else(|_| server_error());
    match fault {
        Some(Fault::LoseAnswer) => Err(AnswerLost),
        _ => Ok(json_response(answer.status, &answer.body, false)),
    }
}

/// What an idempotency key says about a request.
enum KeyState {
    /// A new key, now in flight.
    New,
    /// The saved answer, to replay.
    Saved(u16, Value),
    /// Other parameters (400) or the key still executing (409).
    Refused(u16, Value),
}

/// The idempotency look-up of a key, under the lock, so two requests cannot both execute.
fn look_up(shared: &Shared, key: &str, request: &(String, Vec<(String, String)>)) -> KeyState {
    let mut state = shared.lock();
    if let Some(first) = state.idempotent.get(key) {
        if &first.request != request {
            return KeyState::Refused(
                400,
                error(
                    "idempotency_error",
                    &format!("Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."),
                    json!({}),
                ),
            );
        }
        return KeyState::Saved(first.status, first.body.clone());
    }
    if !state.in_flight.insert(key.to_owned()) {
        // Not saved: the client may retry once the first request finished.
        return KeyState::Refused(
            409,
            error(
                "idempotency_error",
                &format!("There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): {key}. Please try again later."),
                json!({"code": "idempotency_key_in_use"}),
            ),
        );
    }
    KeyState::New
}

/// Stripe's 500, saved under the idempotency key like any answer once execution began.
fn server_error() -> Answer {
    Answer {
        status: 500,
        body: error("api_error", "An unknown error occurred", json!({})),
        save: true,
    }
}

fn execute(state: &mut super::State, route: &Route, params: &Params) -> Answer {
    match route {
        Route::CreateIntent => intents::create(state, params),
        Route::ConfirmIntent(id) => intents::confirm(state, id, params),
        Route::AuthenticateIntent(id) => intents::authenticate_request(state, id, params),
        Route::CreateRefund => refunds::create(state, params),
        Route::CreateToken => intents::create_token(state, params),
        _ => unreachable!("a GET route"),
    }
}

fn retrieve(shared: &Shared, route: &Route) -> Answer {
    let state = shared.lock();
    let found = |object: Option<&Value>, kind: &str, id: &str, param: &str| match object {
        Some(object) => Answer::ok(object.clone()),
        None => Answer::missing(kind, id, param),
    };
    match route {
        Route::RetrieveIntent(id) => found(state.intents.get(id), "payment_intent", id, "intent"),
        Route::RetrieveRefund(id) => found(
            state.refunds.iter().find(|r| r["id"] == id.as_str()),
            "refund",
            id,
            "refund",
        ),
        Route::RetrieveCharge(id) => found(
            state
                .charges
                .iter()
                .chain(&state.failed_charges)
                .find(|c| c["id"] == id.as_str()),
            "charge",
            id,
            "charge",
        ),
        Route::ListCharges => Answer::ok(json!({
            "object": "list",
            "data": state.charges,
            "has_more": false,
            "url": "/v1/charges",
        })),
        _ => unreachable!("a POST route"),
    }
}
