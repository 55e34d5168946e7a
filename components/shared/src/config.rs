//! The Spin variables the services read (the operator contract: docs/configuration.md).

use crate::ApiError;

/// Reads a Spin variable; `None` when the component does not declare it.
pub fn variable(name: &str) -> Result<Option<String>, ApiError> {
    match spin_sdk::variables::get(name) {
        Ok(value) => Ok(Some(value)),
        Err(spin_sdk::variables::Error::Undefined(_)) => Ok(None),
        Err(e) => Err(ApiError::internal(format!("variable {name}: {e}"))),
    }
}

/// The `database_url` variable: empty (or undeclared) for the embedded SQLite database.
pub fn database_url() -> Result<String, ApiError> {
    Ok(variable("database_url")?.unwrap_or_default())
}

/// Where the broker's ingress is when `broker_url` is not set: the local broker.
pub const DEFAULT_BROKER_URL: &str = "http://127.0.0.1:3001";

/// The `broker_url` variable: where services POST their CloudEvents.
pub fn broker_url() -> Result<String, ApiError> {
    Ok(variable("broker_url")?
        .map(|url| url.trim().to_owned())
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| DEFAULT_BROKER_URL.to_owned()))
}

/// A variable holding a whole number, or `default` when it is unset or unreadable
/// (logged, so that a typo is seen).
pub fn number(name: &str, default: u64) -> Result<u64, ApiError> {
    Ok(match variable(name)? {
        None => default,
        Some(text) if text.trim().is_empty() => default,
        Some(text) => text.trim().parse().unwrap_or_else(|_| {
            eprintln!("{name}={text:?} is not a whole number; using {default}");
            default
        }),
    })
}
