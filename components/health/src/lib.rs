//! The health component: `GET /health` (the app is alive: it ran this component, and
//! nothing else was touched) and `GET /ready` (every backend the services need answers:
//! the SQL database, the key-value store `default`, the broker at `broker_url`), for load
//! balancers and Kubernetes probes alike (docs/health.md).
//!
//! A component of its own, so that a probe instantiates only this small one, with its own
//! routes in spin.toml, the same on every host. Reads [`report`] (the answers) ←
//! [`sql`], [`key_value`], [`broker`] (one check each) ← this file (the routes).

pub mod broker;
pub mod key_value;
pub mod report;
pub mod sql;

use std::time::Duration;

use boxoffice_shared::{config, ApiError};
use spin_sdk::http::{IncomingRequest, Method, Response};

use report::{Check, Outcome, Readiness};

/// How long each check may take. The broker's runs beside the other two, so `/ready`
/// answers within about two of these (docs/health.md, "How long").
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /health`.
    Health,
    /// `GET /ready`.
    Ready,
    /// Anything else: the API's JSON 404, as every service answers an unknown route.
    NotFound,
}

/// The route of `method` on `path` (a query string is ignored).
pub fn route(method: &Method, path: &str) -> Route {
    let path = path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match (method, segments.as_slice()) {
        (Method::Get, ["health"]) => Route::Health,
        (Method::Get, ["ready"]) => Route::Ready,
        _ => Route::NotFound,
    }
}

/// Runs the three checks: the broker's is sent first and answered last, so that it runs
/// while the database and the store are asked.
pub fn readiness() -> Readiness {
    let probe = match config::broker_url() {
        Ok(url) => broker::Probe::send(&url, CHECK_TIMEOUT),
        Err(_) => broker::Probe::Failed("broker_url cannot be read"),
    };
    let sql = match config::database_url() {
        Ok(url) => sql::check(&url, CHECK_TIMEOUT),
        Err(_) => Check {
            name: sql::NAME,
            outcome: Outcome::failed("database_url cannot be read"),
        },
    };
    let key_value = key_value::check();
    Readiness(vec![sql, key_value, probe.outcome()])
}

fn json(status: u16, body: String) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(body)
        .build()
}

#[spin_sdk::http_component]
async fn handle(request: IncomingRequest) -> Response {
    let path = request.path_with_query().unwrap_or_default();
    match route(&request.method(), &path) {
        Route::Health => json(200, report::ALIVE.to_owned()),
        Route::Ready => {
            let readiness = readiness();
            json(readiness.status(), readiness.body())
        }
        Route::NotFound => ApiError::NotFound.to_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_health_and_get_ready_are_the_routes() {
        assert_eq!(route(&Method::Get, "/health"), Route::Health);
        assert_eq!(route(&Method::Get, "/health?verbose=1"), Route::Health);
        assert_eq!(route(&Method::Get, "/ready"), Route::Ready);
        assert_eq!(route(&Method::Get, "/ready/"), Route::Ready);
    }

    #[test]
    fn anything_else_is_not_found() {
        for (method, path) in [
            (Method::Post, "/health"),
            (Method::Put, "/ready"),
            (Method::Delete, "/ready"),
            (Method::Head, "/health"),
            (Method::Get, "/"),
            (Method::Get, "/healthz"),
            (Method::Get, "/ready/now"),
            (Method::Get, "/api/health"),
        ] {
            assert_eq!(route(&method, path), Route::NotFound, "{method:?} {path}");
        }
    }
}
