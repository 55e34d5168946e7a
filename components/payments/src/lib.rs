//! The payments service: paying for orders with Stripe (docs/api.md, "Payments").
//!
//! Reads model → storage → rules → publish / listen / webhook → routes: the [`model`] is
//! kept by [`storage`]; the rules of [`payments`] say which orders may be paid and record
//! each payment with the payload of [`publish`]; [`intents`] pays an order through its one
//! PaymentIntent at Stripe ([`stripe`]); [`webhook`] hears what Stripe tells of payments,
//! refunds and disputes; [`listen`] keeps the [`replica`] of orders and refunds a payment
//! that lost a race; [`routes`] maps HTTP to all of it. This file is only the Spin entry
//! point.

pub mod intents;
pub mod listen;
pub mod model;
pub mod payments;
pub mod publish;
pub mod replica;
pub mod routes;
pub mod storage;
pub mod stripe;
pub mod webhook;

use boxoffice_shared::config;
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
        stripe: stripe::Stripe {
            secret_key: config::variable("stripe_secret_key")?.unwrap_or_default(),
            api_base: config::variable("stripe_api_base")?
                .filter(|base| !base.trim().is_empty())
                .unwrap_or_else(|| stripe::DEFAULT_API_BASE.to_owned()),
            publishable_key: config::variable("stripe_publishable_key")?.unwrap_or_default(),
            webhook_secret: config::variable("stripe_webhook_secret")?.unwrap_or_default(),
        },
    })
}
