//! `fermyon:spin/variables@2.0.0` on `wasi:config/store@0.2.0-rc.1`.
//!
//! A Spin variable is the config key of the same name: on wasmCloud the workload's
//! host-interface config and the component's `localResources.config` supply them. Spin's
//! name rule (lower-case letters, digits and `_`, starting with a letter) is kept, so a
//! name Spin refuses is refused here too.

use crate::bindings::exports::fermyon::spin::variables::{Error, Guest};
use crate::bindings::wasi::config::store as config;
use crate::Adapter;

impl Guest for Adapter {
    fn get(name: String) -> Result<String, Error> {
        if !valid_name(&name) {
            return Err(Error::InvalidName(format!(
                "{name:?}: a variable name is lower-case letters, digits and '_', \
                 starting with a letter"
            )));
        }
        match config::get(&name) {
            Ok(Some(value)) => Ok(value),
            Ok(None) => Err(Error::Undefined(format!(
                "no config value {name:?} for this component"
            ))),
            Err(config::Error::Upstream(message) | config::Error::Io(message)) => {
                Err(Error::Provider(message))
            }
        }
    }
}

/// Spin's rule for variable names.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::valid_name;

    #[test]
    fn names_follow_spins_rule() {
        for ok in ["jwt_key", "database_url", "a1"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "JWT_KEY", "1a", "_a", "a-b", "a.b"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
