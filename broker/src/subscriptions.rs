//! The subscriptions contract (`events.toml`): the broker's delivery settings and which
//! event types go to which component route. Parsed and checked once at startup.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use boxoffice_wire::cloudevent::TICK_TYPE;

/// Why `events.toml` could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionsError {
    /// The file could not be read.
    #[error("cannot read subscriptions {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not have the expected shape.
    #[error("invalid subscriptions {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, on one line.
        message: String,
    },
}

/// How the broker delivers (`[broker]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerSettings {
    /// Deliveries of one event to one subscription before it is dead-lettered.
    pub max_attempts: u32,
    /// The wait before the first retry; it doubles with every further failure.
    pub backoff_initial_ms: u64,
    /// The longest wait between two attempts.
    pub backoff_max_ms: u64,
    /// The period of `boxoffice:tick`.
    pub tick_interval_ms: u64,
}

impl Default for BrokerSettings {
    fn default() -> Self {
        BrokerSettings {
            max_attempts: 10,
            backoff_initial_ms: 100,
            backoff_max_ms: 10_000,
            tick_interval_ms: 1000,
        }
    }
}

impl BrokerSettings {
    /// The period of `boxoffice:tick`.
    pub fn tick_interval(&self) -> Duration {
        Duration::from_millis(self.tick_interval_ms)
    }
}

/// One `[[subscription]]`: the event types a component receives on one route.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    /// Unique name; deliveries and the dead-letter queue refer to it.
    pub name: String,
    /// The component that serves `route`.
    pub component: String,
    /// The path events are POSTed to, on the app's base URL.
    pub route: String,
    /// The event types (`ce-type`) delivered.
    pub types: Vec<String>,
}

impl Subscription {
    /// Whether this subscription receives events of type `ty`.
    pub fn wants(&self, ty: &str) -> bool {
        self.types.iter().any(|t| t == ty)
    }
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscriptions {
    /// Delivery settings.
    #[serde(default)]
    pub broker: BrokerSettings,
    /// The subscriptions, in file order.
    #[serde(default, rename = "subscription")]
    pub subscriptions: Vec<Subscription>,
}

impl Subscriptions {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Subscriptions, SubscriptionsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SubscriptionsError::Read {
            path: path.to_owned(),
            source,
        })?;
        Subscriptions::parse(&text).map_err(|message| SubscriptionsError::Invalid {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses and checks the text of an `events.toml`; the error is one line.
    pub fn parse(text: &str) -> Result<Subscriptions, String> {
        let parsed: Subscriptions =
            toml::from_str(text).map_err(|e| e.message().replace('\n', " "))?;
        parsed.check()?;
        Ok(parsed)
    }

    fn check(&self) -> Result<(), String> {
        let b = &self.broker;
        if b.max_attempts == 0 {
            return Err("[broker] max_attempts must be at least 1".into());
        }
        if b.backoff_initial_ms == 0 || b.backoff_initial_ms > b.backoff_max_ms {
            return Err(
                "[broker] backoff_initial_ms must be positive and at most backoff_max_ms".into(),
            );
        }
        if b.tick_interval_ms == 0 {
            return Err("[broker] tick_interval_ms must be positive".into());
        }
        let mut names = HashSet::new();
        for s in &self.subscriptions {
            let at = || format!("subscription `{}`", s.name);
            if s.name.is_empty() {
                return Err("a subscription has an empty name".into());
            }
            if !names.insert(s.name.as_str()) {
                return Err(format!("{} is declared twice", at()));
            }
            if s.component.is_empty() {
                return Err(format!("{}: component is empty", at()));
            }
            if !s.route.starts_with('/') {
                return Err(format!("{}: route `{}` must start with /", at(), s.route));
            }
            if s.types.is_empty() || s.types.iter().any(String::is_empty) {
                return Err(format!("{}: types must list non-empty event types", at()));
            }
        }
        Ok(())
    }

    /// The names of the subscriptions that receive events of type `ty`.
    pub fn matching<'a>(&'a self, ty: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.subscriptions
            .iter()
            .filter(move |s| s.wants(ty))
            .map(|s| s.name.as_str())
    }

    /// The subscription called `name`.
    pub fn get(&self, name: &str) -> Option<&Subscription> {
        self.subscriptions.iter().find(|s| s.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_repository_contract() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events.toml");
        let subs = Subscriptions::load(&path).unwrap();
        assert_eq!(subs.broker.max_attempts, 10);
        assert_eq!(subs.broker.tick_interval(), Duration::from_secs(1));
        let tickets = subs.get("tickets").unwrap();
        assert_eq!(tickets.route, "/internal/events/tickets");
        assert!(tickets.wants(TICK_TYPE));
        let order_created: Vec<_> = subs.matching("order:created").collect();
        assert_eq!(order_created, ["tickets", "expiration", "payments"]);
    }

    #[test]
    fn everything_is_optional_but_a_subscription_is_complete() {
        let subs = Subscriptions::parse("").unwrap();
        assert_eq!(subs.broker, BrokerSettings::default());
        assert!(subs.subscriptions.is_empty());
        let subs = Subscriptions::parse("[broker]\nmax_attempts = 3\n").unwrap();
        assert_eq!(subs.broker.max_attempts, 3);
        assert_eq!(subs.broker.backoff_max_ms, 10_000);
        let err =
            Subscriptions::parse("[[subscription]]\nname = \"a\"\nroute = \"/a\"\n").unwrap_err();
        assert!(err.contains("component"), "{err}");
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        let sub = |name: &str, route: &str, types: &str| {
            format!(
                "[[subscription]]\nname = \"{name}\"\ncomponent = \"c\"\nroute = \"{route}\"\ntypes = {types}\n"
            )
        };
        let cases = [
            (
                sub("a", "/a", "[\"x\"]") + sub("a", "/b", "[\"y\"]").as_str(),
                "declared twice",
            ),
            (sub("a", "a", "[\"x\"]"), "must start with /"),
            (sub("a", "/a", "[]"), "types"),
            (sub("", "/a", "[\"x\"]"), "empty name"),
            ("[broker]\nmax_attempts = 0\n".into(), "max_attempts"),
            (
                "[broker]\nbackoff_initial_ms = 20000\n".into(),
                "backoff_initial_ms",
            ),
            (
                "[broker]\ntick_interval_ms = 0\n".into(),
                "tick_interval_ms",
            ),
            ("[broker]\nretries = 3\n".into(), "retries"),
            ("[[subscription]\n".into(), ""),
        ];
        for (text, needle) in cases {
            let err = Subscriptions::parse(&text).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn load_names_the_file() {
        let err = Subscriptions::load(Path::new("/nonexistent/events.toml")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/events.toml"));
    }
}
