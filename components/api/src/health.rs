//! The health component: liveness and readiness for orchestrators and operators.

use serde::Serialize;
use utoipa::ToSchema;

use crate::route::operations;

operations!("health":
    /// `GET /health`
    Health in "operations",
    /// `GET /ready`
    Ready in "operations",
);

/// `{"status":"ok"}`: the app runs.
#[derive(Serialize, ToSchema)]
pub struct Alive {
    /// `ok`.
    #[schema(example = "ok")]
    pub status: String,
}

/// What one backend check found.
#[derive(Serialize, ToSchema)]
pub struct Check {
    /// The backend: `sql`, `key_value`, `broker`.
    pub name: String,
    /// `ok` or `failed`.
    pub status: String,
    /// Why it failed: short fixed text, never a URL, a password or a host's message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Whether every backend answered, and what each check found.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: String,
    /// One per backend.
    pub checks: Vec<Check>,
}

/// Liveness
///
/// The app runs; no backend is asked.
#[utoipa::path(
    get,
    path = "/health",
    impl_for = Health,
    responses((status = 200, description = "Alive.", body = Alive)),
)]
#[allow(dead_code)]
fn health() {}

/// Readiness
///
/// Asks each backend (the SQL database, the key-value store, the broker) within a short
/// timeout.
#[utoipa::path(
    get,
    path = "/ready",
    impl_for = Ready,
    responses(
        (status = 200, description = "Every backend answered.", body = Readiness),
        (status = 503, description = "A backend did not; the checks say which.", body = Readiness),
    ),
)]
#[allow(dead_code)]
fn ready() {}
