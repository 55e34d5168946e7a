//! The gateway of boxoffice on wasmCloud: one origin for the whole shop.
//!
//! A wasmCloud host routes an incoming request to a workload by its `Host` header only,
//! while the shop answers under one origin by path (`/api/users/...` is auth,
//! `/api/tickets/...` tickets, …, as `spin.toml` routes it). This component is the one
//! workload bound to the shop's host name. It matches the path against the route table
//! with Spin's rules ([`boxoffice_wire::router`]) and forwards the request, unchanged but
//! for hop-by-hop headers, to the service's upstream URL. On a wasmCloud host started with
//! `--http-local-routing`, those upstreams are the services' `localRoute` names, served
//! in memory and unreachable from the network.
//!
//! The table comes from the environment variable `BOXOFFICE_ROUTES` ([`routes`]); the
//! wasmCloud manifests (`wadm/`) write it from `spin.toml`, so the routes are declared
//! once. The component imports only `wasi:http` and the WASI CLI basics.

pub mod routes;

use boxoffice_wire::error;
use boxoffice_wire::limits::MAX_HOST_BODY_BYTES;
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// The environment variable that holds the route table.
pub const ROUTES_ENV: &str = "BOXOFFICE_ROUTES";

fn json(status: u16, message: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(error::message(message))
        .build()
}

#[http_component]
async fn handle(request: Request) -> Response {
    let table = match routes::Routes::parse(&std::env::var(ROUTES_ENV).unwrap_or_default()) {
        Ok(table) => table,
        Err(e) => {
            eprintln!("gateway: {ROUTES_ENV} is not a route table: {e}");
            return json(500, "Something went wrong");
        }
    };
    let Some(upstream) = table.upstream(request.path(), request.query()) else {
        return json(404, boxoffice_wire::error::NO_ROUTE);
    };
    if request.body().len() > MAX_HOST_BODY_BYTES {
        return json(413, "Request body too large");
    }
    let mut forward = Request::builder();
    forward.method(request.method().clone()).uri(&upstream);
    for (name, value) in request.headers() {
        if routes::forwarded_header(name) {
            forward.header(name, String::from_utf8_lossy(value.as_bytes()).into_owned());
        }
    }
    // The host the shopper addressed, for the pages' same-origin check: the `host` header,
    // or the authority of the request's URL where the host gives that instead.
    let host = match request.header("host").and_then(|h| h.as_str()) {
        Some(host) => Some(host),
        None => boxoffice_wire::url::authority(request.uri()),
    };
    if let Some(host) = host {
        forward.header("x-forwarded-host", host);
    }
    let method = request.method().clone();
    let forward = forward.body(request.into_body()).build();
    match spin_sdk::http::send::<_, Response>(forward).await {
        Ok(answer) => {
            let mut back = Response::builder();
            back.status(*answer.status());
            for (name, value) in answer.headers() {
                if routes::forwarded_header(name) {
                    back.header(name, String::from_utf8_lossy(value.as_bytes()).into_owned());
                }
            }
            back.body(answer.into_body()).build()
        }
        Err(e) => {
            eprintln!("gateway: {method:?} {upstream}: {e}");
            json(503, "Service temporarily unavailable")
        }
    }
}
