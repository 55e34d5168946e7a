//! The wire contract of boxoffice: what travels between shoppers, services, the runtime
//! and the broker, written once. It builds for `wasm32-wasip2` (the services) and for the
//! host (the `boxoffice` runtime and broker), and depends on nothing of either.
//!
//! - [`cloudevent`]: CloudEvents 1.0 over HTTP, binary and structured mode, and the
//!   attribute and type names of this shop (the broker's tick, the signature).
//! - [`error`]: the JSON error body every 4xx and 5xx carries.
//! - [`limits`]: the bounds on what a request may carry.
//! - [`listener`] (feature `server`): the accept loop of the native servers, bounded.
//! - [`router`]: Spin's route matching, for the runtime and for the wasmCloud gateway.
//! - [`signature`]: events signed by their publisher (Ed25519), verified by public key.
//! - [`url`]: the authority of a URL.

#![warn(missing_docs)]

pub mod cloudevent;
pub mod error;
pub mod limits;
#[cfg(feature = "server")]
pub mod listener;
pub mod router;
pub mod signature;
pub mod url;
