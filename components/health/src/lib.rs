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

use boxoffice_api::health::{route, Operation};
use boxoffice_shared::{config, http};
use spin_sdk::http::{IncomingRequest, Method, Response};

use report::{Check, Outcome, Readiness};

/// How long each check may take. The broker's runs beside the other two, so `/ready`
/// answers within about two of these (docs/health.md, "How long").
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// The documented operation (`boxoffice_api::health`) that answers `method` on
/// `path_with_query`; `None` is the API's JSON 404, as every component answers a route it
/// does not have.
pub fn operation(method: &Method, path_with_query: &str) -> Option<Operation> {
    let path = path_with_query.split('?').next().unwrap_or_default();
    route(&method.to_string(), path).map(|(operation, _)| operation)
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

/// A JSON answer no cache keeps: each probe must reach the backends.
fn answer(status: u16, body: &impl serde::Serialize) -> Response {
    match http::json(status, body) {
        Ok(mut response) => {
            response.set_header("cache-control", "no-store");
            response
        }
        Err(e) => e.to_response(),
    }
}

#[spin_sdk::http_component]
async fn handle(request: IncomingRequest) -> Response {
    let path = request.path_with_query().unwrap_or_default();
    match operation(&request.method(), &path) {
        Some(Operation::Health) => answer(200, &report::alive()),
        Some(Operation::Ready) => {
            let readiness = readiness();
            answer(readiness.status(), &readiness.body())
        }
        None => http::not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_health_and_get_ready_are_the_operations() {
        assert_eq!(operation(&Method::Get, "/health"), Some(Operation::Health));
        assert_eq!(
            operation(&Method::Get, "/health?verbose=1"),
            Some(Operation::Health)
        );
        assert_eq!(operation(&Method::Get, "/ready"), Some(Operation::Ready));
        assert_eq!(operation(&Method::Get, "/ready/"), Some(Operation::Ready));
    }

    #[test]
    fn anything_else_is_no_route() {
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
            assert_eq!(operation(&method, path), None, "{method:?} {path}");
        }
    }
}
