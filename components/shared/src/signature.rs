//! Event keys as a service reads them from its Spin variables: the public keys of every
//! publisher, and its own signing key if it publishes (the scheme is
//! [`boxoffice_wire::signature`]).

pub use boxoffice_wire::signature::*;

use crate::config::variable;
use crate::ApiError;

/// The public keys of every publisher (`events_public_keys`). Unset or invalid is a
/// misconfiguration of this component: a 503 (logged), so that the broker keeps the event
/// for later.
pub fn public_keys_from_variables() -> Result<PublicKeys, ApiError> {
    let list = variable(PUBLIC_KEYS_VARIABLE)?.unwrap_or_default();
    PublicKeys::parse(&list).map_err(ApiError::BackendDown)
}

/// `service`'s own signing key (`<service>_events_key`), read only when it publishes: a 503
/// when unset or invalid.
pub fn signing_key_from_variables(service: &str) -> Result<SigningKey, ApiError> {
    let name = signing_variable(service);
    let seed = variable(&name)?
        .filter(|seed| !seed.trim().is_empty())
        .ok_or_else(|| {
            ApiError::BackendDown(format!("{service} cannot publish: {name} is not set"))
        })?;
    SigningKey::parse(&seed).map_err(|e| ApiError::BackendDown(format!("{name}: {e}")))
}
