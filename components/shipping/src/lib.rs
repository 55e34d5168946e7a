//! The shipping service: the cities the shop ships to from its warehouse in Chicago,
//! what shipping there costs, and the dispatch of paid purchases (docs/shipping.md).
//!
//! Reads model → storage → rules → publish / listen → routes: the [`model`] is kept by
//! [`storage`] (which seeds the cities); [`quotes`] prices a city, [`shipments`]
//! dispatches a purchase once and announces it with the payload of [`publish`]; [`listen`]
//! takes `purchase:completed`; [`routes`] maps HTTP to all of it. This file is only the
//! Spin entry point, which relays the outbox after every change.

pub mod listen;
pub mod model;
pub mod publish;
pub mod quotes;
pub mod routes;
pub mod shipments;
pub mod storage;

/// The name of this service: its event source and its table prefix.
pub const SERVICE: &str = "shipping";

/// The Spin entry point, in the Wasm build only: natively there is no component to
/// export from.
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
