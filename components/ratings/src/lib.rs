//! The ratings service (issue 14): under construction; it answers every route with the JSON
//! 404 "Route not found" until its routes land.

/// The name of this service: its event source and its table prefix.
pub const SERVICE: &str = "ratings";

#[cfg(target_arch = "wasm32")]
mod component {
    use spin_sdk::http::{IncomingRequest, Response};

    #[spin_sdk::http_component]
    async fn handle(_request: IncomingRequest) -> Response {
        boxoffice_shared::http::not_found()
    }
}
