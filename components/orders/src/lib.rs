//! The orders service: reservations of tickets (docs/api.md, "Orders").
//!
//! Reads model → storage → rules → publish / listen → routes: the [`model`] is kept by
//! [`storage`]; the rules of [`orders`] change it and announce each change with the
//! payloads of [`publish`]; [`listen`] applies the events it consumes, keeping the
//! [`replica`] of tickets; [`routes`] maps HTTP to all of it. This file is only the Spin
//! entry point.

pub mod listen;
pub mod model;
pub mod orders;
pub mod publish;
pub mod replica;
pub mod routes;
pub mod storage;

use boxoffice_shared::holds::Terms;
use boxoffice_shared::service::{self, Context, Service};
use boxoffice_shared::ApiError;
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

use routes::Env;

/// The name of this service: its event source and its table prefix.
pub const SERVICE: &str = "orders";

#[http_component]
async fn handle(request: IncomingRequest) -> Response {
    let service = Service::new(SERVICE, storage::migrations());
    service::serve(request, service, env, service::sync(routes::handle)).await
}

/// This service's environment for one request.
fn env(ctx: Context) -> Result<Env, ApiError> {
    Ok(Env {
        ctx,
        terms: Terms::from_variables()?,
    })
}
