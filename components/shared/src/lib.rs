//! What every boxoffice service shares, written once: the API error type and its JSON
//! writer, request reading and routing, field validation, money, sessions (JWT in a
//! cookie), the CloudEvents envelope and the event payloads, event signatures, the portable SQL layer,
//! the key-value layer, ids, the transactional outbox with its relay, and idempotent
//! event consumption.
//!
//! Everything here compiles and is tested natively; only the Spin backends (`sql::open`,
//! `kv::SpinStore`, `config`, `ApiRequest::read`) need a Spin host at run time.

#![warn(missing_docs)]

pub mod chain;
pub mod config;
pub mod consume;
pub mod error;
pub mod events;
pub mod holds;
pub mod http;
pub mod ids;
pub mod kv;
pub mod money;
pub mod outbox;
pub mod service;
pub mod session;
pub mod signature;
pub mod sql;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod time;
pub mod validate;

pub use error::{ApiError, FieldError};
pub use http::ApiRequest;
