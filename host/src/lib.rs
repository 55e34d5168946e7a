//! boxoffice: the project's own runtime for Spin HTTP components, on wasmtime.
//!
//! `boxoffice up` reads a Spin manifest (`spin.toml`, version 2), builds stale components,
//! and serves them with the interfaces Spin provides to them; `boxoffice build` only
//! builds. Each capability lives in its own module, in the order a request meets them.

pub mod admin;
/// The event broker, its own crate: re-exported so that the CLI names it in one place.
pub use boxoffice_broker as broker;
pub mod builder;
pub mod compile_cache;
pub mod generated;
pub mod guest_log;
pub mod http_server;
pub mod key_value;
pub mod kubernetes;
pub mod manifest;
pub mod outbound_http;
pub mod postgres;
pub mod responses;
pub use boxoffice_wire::router;
pub mod runtime;
pub mod runtime_config;
pub mod secrets;
pub mod sqlite;
pub mod state;
pub mod variables;
pub mod wasmcloud;

/// Host bindings for the `fermyon:spin@2.0.0` interfaces, generated at build time from the
/// WIT in the `spin-sdk` crate (see `build.rs`).
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    include!(concat!(env!("OUT_DIR"), "/spin_bindings.rs"));
}
