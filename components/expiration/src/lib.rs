//! The expiration service: cancels orders whose reservation window has passed, by
//! publishing `expiration:complete` (docs/events.md: timed work runs off the broker's tick).
//!
//! Reads storage → rules → listen → routes: [`routes`] answers the broker, [`listen`]
//! schedules a job per `order:created` and runs the due ones on every tick with the
//! rules of [`jobs`], kept in SQL by [`storage`] so that they survive restarts. This file
//! is only the Spin entry point, which relays the outbox after every delivery.

pub mod jobs;
pub mod listen;
pub mod routes;
pub mod storage;

use boxoffice_shared::service::{self, Service};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

/// The name of this service: its event source and its table prefix.
pub const SERVICE: &str = "expiration";

#[http_component]
async fn handle(request: IncomingRequest) -> Response {
    let service = Service::new(SERVICE, storage::migrations());
    service::serve(request, service, Ok, service::sync(routes::handle)).await
}
