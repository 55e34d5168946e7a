//! The `key_value` check: the store `default` that the services use (SQLite or Redis, as
//! the runtime config says), opened and asked for a key nobody writes.

use spin_sdk::key_value::{Error, Store};

use crate::report::{Check, Outcome};

/// The check's name in the body.
pub const NAME: &str = "key_value";

/// The store every service opens.
pub const STORE: &str = "default";

/// The key read: a round trip to the store, which never holds it.
const PROBE_KEY: &str = "health-probe";

/// The short reason for a failure: the error's kind, never the host's text.
pub fn reason(e: &Error) -> &'static str {
    match e {
        Error::NoSuchStore => "the store `default` is not configured",
        Error::AccessDenied => "the store `default` is not granted to the health component",
        Error::StoreTableFull => "too many stores are open",
        Error::Other(_) => "the key-value store cannot be reached",
    }
}

/// Opens the store and reads [`PROBE_KEY`].
pub fn check() -> Check {
    let outcome = match Store::open(STORE).and_then(|store| store.get(PROBE_KEY)) {
        Ok(_) => Outcome::Ok,
        Err(e) => {
            eprintln!("ready: the key_value check failed: {e}");
            Outcome::failed(reason(&e))
        }
    };
    Check {
        name: NAME,
        outcome,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_names_the_kind_and_never_the_hosts_text() {
        let from_host = Error::Other("redis://:hunter2@cache:6379: connection refused".into());
        assert_eq!(reason(&from_host), "the key-value store cannot be reached");
        assert!(reason(&Error::NoSuchStore).contains("not configured"));
        assert!(reason(&Error::AccessDenied).contains("not granted"));
        assert_ne!(reason(&Error::StoreTableFull), reason(&from_host));
    }
}
