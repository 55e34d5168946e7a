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

use boxoffice_shared::session::SessionConfig;
use boxoffice_shared::signature::EventKeys;
use boxoffice_shared::sql::{self, LazyDb};
use boxoffice_shared::{config, outbox, time, ApiError, ApiRequest};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

use routes::Env;

/// The name of this service: its event source and its table prefix.
pub const SERVICE: &str = "tickets";

#[http_component]
async fn handle(request: IncomingRequest) -> Response {
    serve(request).await.unwrap_or_else(|e| e.to_response())
}

async fn serve(request: IncomingRequest) -> Result<Response, ApiError> {
    let request = ApiRequest::read(request).await?;
    let database_url = config::database_url()?;
    let env = Env {
        event_keys: EventKeys::from_variables(),
        db: LazyDb::new(
            SERVICE,
            move || sql::open(&database_url, SERVICE),
            storage::migrations(),
        ),
        sessions: SessionConfig::from_variables()?,
        now_ms: time::now_ms(),
    };
    let response = routes::handle(&request, &env);
    outbox::relay_after(&request, &response, &env.db, SERVICE).await;
    Ok(response)
}
