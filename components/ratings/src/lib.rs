//! The ratings service: stars from 1 to 5 that the buyers of a product give it
//! (docs/ratings.md).
//!
//! Reads storage → rules → listen → routes: [`storage`] keeps who bought what and the
//! votes; the rules of [`ratings`] say who may vote and what a product's rating is;
//! [`listen`] learns the buyers from `purchase:completed`; [`routes`] maps HTTP to all of
//! it. This file is only the Spin entry point. Ratings publishes nothing.

pub mod listen;
pub mod ratings;
pub mod routes;
pub mod storage;

/// The name of this service: its event source and its table prefix.
pub const SERVICE: &str = "ratings";

/// The Spin entry point, in the Wasm build only: natively there is no component to
/// export from.
#[cfg(target_arch = "wasm32")]
mod component {
    use boxoffice_shared::service::{self, Service};
    use spin_sdk::http::{IncomingRequest, Response};

    use crate::{routes, storage, SERVICE};

    #[spin_sdk::http_component]
    async fn handle(request: IncomingRequest) -> Response {
        let service = Service::new(SERVICE, storage::migrations()).without_outbox();
        service::serve(request, service, Ok, service::sync(routes::handle)).await
    }
}
