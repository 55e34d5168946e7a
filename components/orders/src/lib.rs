//! The orders service: reservations of tickets (docs/api.md, "Orders").
//!
//! Reads routes → rules → storage → events: [`routes`] maps HTTP to the rules of
//! [`orders`], which keep orders through [`storage`] and announce every change through
//! the outbox with the payloads of [`events`]; [`events::receive`] applies the events it
//! consumes, keeping the [`replica`] of tickets. This file is only the Spin entry point,
//! which relays the outbox after every change.

pub mod events;
pub mod orders;
pub mod replica;
pub mod routes;
pub mod storage;

use boxoffice_shared::config;
use boxoffice_shared::service::{self, Base, Service};
use boxoffice_shared::session::SessionConfig;
use boxoffice_shared::signature::EventKeys;
use boxoffice_shared::ApiError;
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

use routes::Env;

/// The name of this service: its event source and its table prefix.
pub const SERVICE: &str = "orders";

/// How long an order holds its ticket when `reservation_window_seconds` is unset.
pub const DEFAULT_RESERVATION_WINDOW_SECONDS: u64 = 900;

#[http_component]
async fn handle(request: IncomingRequest) -> Response {
    let service = Service::new(SERVICE, storage::migrations());
    service::serve(request, service, env, service::sync(routes::handle)).await
}

/// This service's environment for one request.
fn env(base: Base) -> Result<Env, ApiError> {
    let window_seconds = config::number(
        "reservation_window_seconds",
        DEFAULT_RESERVATION_WINDOW_SECONDS,
    )?;
    Ok(Env {
        event_keys: EventKeys::from_variables(),
        db: base.db,
        sessions: SessionConfig::from_variables()?,
        reservation_window_ms: i64::try_from(window_seconds.saturating_mul(1000))
            .unwrap_or(i64::MAX / 2),
        now_ms: base.now_ms,
    })
}
