//! The auth service: users, sign-up, sign-in and sessions (docs/api.md, "Users").
//!
//! Reads routes → rules → storage: [`routes`] maps HTTP to the rules of [`users`]
//! (with [`password`] hashing and the sign-in [`throttle`]), which keep users through
//! [`storage`]. This file is only the Spin entry point.

pub mod password;
pub mod routes;
pub mod storage;
pub mod throttle;
pub mod users;

use boxoffice_shared::kv::LazySpinStore;
use boxoffice_shared::session::SessionConfig;
use boxoffice_shared::sql::{self, LazyDb};
use boxoffice_shared::{config, time, ApiError, ApiRequest};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

use routes::Env;

/// The service's name: its Postgres schema.
pub const SERVICE: &str = "auth";

#[http_component]
async fn handle(request: IncomingRequest) -> Response {
    serve(request).await.unwrap_or_else(|e| e.to_response())
}

async fn serve(request: IncomingRequest) -> Result<Response, ApiError> {
    let request = ApiRequest::read(request).await?;
    let database_url = config::database_url()?;
    let env = Env {
        db: LazyDb::new(
            SERVICE,
            move || sql::open(&database_url, SERVICE),
            storage::migrations(),
        ),
        kv: Box::new(LazySpinStore::new("default")),
        sessions: SessionConfig::from_variables()?,
        now_ms: time::now_ms(),
    };
    Ok(routes::handle(&request, &env))
}
