//! The tickets service: the tickets for sale (docs/api.md, "Tickets").
//!
//! Reads routes → rules → storage → events: [`routes`] maps HTTP to the rules of
//! [`tickets`], which keep tickets through [`storage`] and announce every change through
//! the outbox with the payloads of [`events`]; orders reserve and release tickets through
//! the events [`events::receive`] applies. This file is only the Spin entry point, which
//! relays the outbox after every change.

pub mod events;
pub mod routes;
pub mod storage;
pub mod tickets;

use boxoffice_shared::service::{self, Base, Service};
use boxoffice_shared::session::SessionConfig;
use boxoffice_shared::signature::EventKeys;
use boxoffice_shared::ApiError;
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

use routes::Env;

/// The name of this service: its event source and its table prefix.
pub const SERVICE: &str = "tickets";

#[http_component]
async fn handle(request: IncomingRequest) -> Response {
    let service = Service::new(SERVICE, storage::migrations());
    service::serve(request, service, env, service::sync(routes::handle)).await
}

/// This service's environment for one request.
fn env(base: Base) -> Result<Env, ApiError> {
    Ok(Env {
        event_keys: EventKeys::from_variables(),
        db: base.db,
        sessions: SessionConfig::from_variables()?,
        now_ms: base.now_ms,
    })
}
