//! The Spin variables the services read (the operator contract of DESIGN.md §8).

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
