//! The cart service: shopping carts (in key-value), the checkout that turns a cart into a
//! purchase holding its units, and the purchases, paid through the payments service like
//! ticket orders (docs/cart.md).
//!
//! Reads model → storage → rules → publish / listen → routes: the [`model`] is kept by
//! [`storage`] (SQL) and [`carts`] (key-value); the rules of [`carts`], [`pricing`] and
//! [`purchases`] change it and announce each change with the payloads of [`publish`];
//! [`listen`] applies the events it consumes, keeping the [`replica`] of products;
//! [`quotes`] asks the shipping service what shipping costs; [`routes`] maps HTTP to all
//! of it. This file is only the Spin entry point.

pub mod carts;
pub mod listen;
pub mod model;
pub mod pricing;
pub mod publish;
pub mod purchases;
pub mod quotes;
pub mod replica;
pub mod routes;
pub mod storage;

/// The name of this service: its event source and its table prefix.
pub const SERVICE: &str = "cart";

#[cfg(target_arch = "wasm32")]
mod component {
    use std::rc::Rc;

    use boxoffice_shared::config;
    use boxoffice_shared::holds::Terms;
    use boxoffice_shared::kv::LazySpinStore;
    use boxoffice_shared::service::{self, Context, Service};
    use boxoffice_shared::ApiError;
    use spin_sdk::http::{IncomingRequest, Response};

    use crate::routes::{self, Env};
    use crate::{pricing, quotes, storage, SERVICE};

    #[spin_sdk::http_component]
    async fn handle(request: IncomingRequest) -> Response {
        let service = Service::new(SERVICE, storage::migrations());
        service::serve(request, service, env, async |request, env| {
            routes::handle(request, env).await
        })
        .await
    }

    /// This service's environment for one request.
    fn env(ctx: Context) -> Result<Env, ApiError> {
        Ok(Env {
            ctx,
            kv: Rc::new(LazySpinStore::new(SERVICE)),
            quotes: Box::new(quotes::ShippingService),
            terms: Terms::from_variables()?,
            tax_basis_points: pricing::tax_basis_points(
                config::variable("sales_tax_percent")?.as_deref(),
            ),
        })
    }
}
