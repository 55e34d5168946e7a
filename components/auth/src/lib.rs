//! The auth service: users, sign-up, sign-in and sessions (docs/api.md, "Users").
//!
//! Reads routes → rules → storage: [`routes`] maps HTTP to the rules of [`users`]
//! (with [`password`] hashing and the sign-in [`throttle`]), which keep users through
//! [`storage`]. This file is only the Spin entry point.

pub mod password;
pub mod routes;
pub mod sessions;
pub mod storage;
pub mod throttle;
pub mod users;

/// The service's name: its Postgres schema.
pub const SERVICE: &str = "auth";

/// The Spin entry point, in the Wasm build only: natively (the bench's baseline links this
/// crate) there is no component to export from.
#[cfg(target_arch = "wasm32")]
mod component {
    use boxoffice_shared::http::trusted_proxies;
    use boxoffice_shared::service::{self, Context, Service};
    use boxoffice_shared::ApiError;
    use spin_sdk::http::{IncomingRequest, Response};

    use crate::routes::{self, Env};
    use crate::{storage, SERVICE};

    #[spin_sdk::http_component]
    async fn handle(request: IncomingRequest) -> Response {
        let service = Service::new(SERVICE, storage::migrations()).without_outbox();
        service::serve(request, service, env, service::sync(routes::handle)).await
    }

    /// This service's environment for one request.
    fn env(ctx: Context) -> Result<Env, ApiError> {
        Ok(Env {
            ctx,
            trusted_proxies: trusted_proxies()?,
        })
    }
}
