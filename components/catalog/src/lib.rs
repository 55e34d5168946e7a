//! The catalog service: the goods for sale, their search and their stock (docs/catalog.md).
//!
//! Reads model → input → storage → rules → publish / listen → routes: the [`model`] is
//! checked on the way in by [`input`] and kept by [`storage`] (the only module that knows
//! which SQL engine runs the search); the rules of [`products`] change it and announce
//! each change with the payloads of [`publish`]; [`listen`] takes sold units out of stock;
//! [`routes`] maps HTTP to all of it. This file is only the Spin entry point.

pub mod input;
pub mod listen;
pub mod model;
pub mod products;
pub mod publish;
pub mod routes;
pub mod storage;

/// The name of this service: its event source and its table prefix.
pub const SERVICE: &str = "catalog";

/// The Spin entry point, in the Wasm build only.
#[cfg(target_arch = "wasm32")]
mod component {
    use boxoffice_shared::service::{self, Service};
    use boxoffice_shared::{config, sql};
    use spin_sdk::http::{IncomingRequest, Response};

    use crate::{routes, storage, SERVICE};

    #[spin_sdk::http_component]
    async fn handle(request: IncomingRequest) -> Response {
        // The search's index differs between the engines, so the migrations follow the
        // engine `database_url` names (an unreadable variable fails the request in `serve`).
        let dialect = sql::dialect_of(&config::database_url().unwrap_or_default());
        let service = Service::new(SERVICE, storage::migrations(dialect));
        service::serve(request, service, Ok, service::sync(routes::handle)).await
    }
}
