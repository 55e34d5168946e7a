//! The expiration service: cancels orders whose reservation window has passed, by
//! publishing `expiration:complete` (docs/events.md: timed work runs off the broker's tick).
//!
//! Reads routes → rules → storage → events: [`routes`] answers the broker, [`events`]
//! schedules a job per `order:created` and runs the due ones on every tick with the
//! rules of [`jobs`], kept in SQL by [`storage`] so that they survive restarts. This file
//! is only the Spin entry point, which relays the outbox after every delivery.

pub mod events;
pub mod jobs;
pub mod routes;
pub mod storage;

use boxoffice_shared::signature::EventKeys;
use boxoffice_shared::sql::{self, LazyDb};
use boxoffice_shared::{config, outbox, time, ApiError, ApiRequest};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

use routes::Env;

/// The name of this service: its event source and its table prefix.
pub const SERVICE: &str = "expiration";

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
        now_ms: time::now_ms(),
    };
    let response = routes::handle(&request, &env);
    outbox::relay_after(&request, &response, &env.db, SERVICE).await;
    Ok(response)
}
