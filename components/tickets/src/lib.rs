//! The tickets service: the tickets for sale (docs/api.md, "Tickets").
//!
//! Reads model → storage → rules → publish / listen → routes: the [`model`] is kept by
//! [`storage`]; the rules of [`tickets`] change it and announce each change with the
//! payloads of [`publish`]; [`listen`] applies the order events that reserve and release
//! tickets; [`routes`] maps HTTP to all of it. This file is only the Spin entry point.

pub mod listen;
pub mod model;
pub mod publish;
pub mod routes;
pub mod storage;
pub mod tickets;

/// The name of this service: its event source and its table prefix.
pub const SERVICE: &str = "tickets";

/// The Spin entry point, in the Wasm build only: natively (the bench's baseline links this
/// crate) there is no component to export from.
#[cfg(target_arch = "wasm32")]
mod component {
    use boxoffice_shared::service::{self, Service};
    use spin_sdk::http::{IncomingRequest, Response};

    use crate::{routes, storage, SERVICE};

    #[spin_sdk::http_component]
    async fn handle(request: IncomingRequest) -> Response {
        let service = Service::new(SERVICE, storage::migrations());
        service::serve(request, service, Ok, service::sync(routes::handle)).await
    }
}
