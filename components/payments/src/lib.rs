//! The payments service: paying for orders with Stripe (docs/api.md, "Payments").
//!
//! Reads model → storage → rules → publish / listen → routes: the [`model`] is kept by
//! [`storage`]; the rules of [`payments`] say which orders may be paid and record each
//! charge (made through [`stripe`]) with the payload of [`publish`]; [`listen`] keeps the
//! [`replica`] of orders and refunds a charge that lost a race; [`routes`] maps HTTP to all
//! of it. This file is only the Spin entry point.

pub mod listen;
pub mod model;
pub mod payments;
pub mod publish;
pub mod replica;
pub mod routes;
pub mod storage;
pub mod stripe;

use boxoffice_shared::config;
use boxoffice_shared::kv::LazySpinStore;
use boxoffice_shared::service::{self, Context, Service};
use boxoffice_shared::ApiError;
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

use routes::Env;

/// The name of this service: its event source and its table prefix.
pub const SERVICE: &str = "payments";

#[http_component]
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
        kv: Box::new(LazySpinStore::new("default")),
        stripe: stripe::Stripe {
            secret_key: config::variable("stripe_secret_key")?.unwrap_or_default(),
            api_base: config::variable("stripe_api_base")?
                .filter(|base| !base.trim().is_empty())
                .unwrap_or_else(|| stripe::DEFAULT_API_BASE.to_owned()),
            publishable_key: config::variable("stripe_publishable_key")?.unwrap_or_default(),
        },
    })
}
