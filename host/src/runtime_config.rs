//! The runtime config file, in Spin's TOML format: which backend serves each key-value
//! store and SQLite database label, plus boxoffice's own `[boxoffice.*]` tables for what
//! Spin configures elsewhere (the SQL connection, the broker, timeouts). Without a file,
//! the `default` labels are SQLite files in the state directory, with Spin's file names,
//! and the broker is embedded.
//!
//! ```toml
//! [key_value_store.default]
//! type = "redis"                     # or "spin" (SQLite; `path` optional)
//! url = "redis://127.0.0.1:6379"
//!
//! [boxoffice.sql]
//! database_url = "postgres://boxoffice:boxoffice@127.0.0.1:5432/boxoffice"
//!
//! [boxoffice.broker]
//! type = "nats"                      # or "embedded"
//! url = "nats://127.0.0.1:4222"
//! stream = "BOXOFFICE"
//!
//! [boxoffice.timeouts]
//! backend_ms = 2000                  # one key-value, SQL or broker operation
//! request_ms = 15000                 # one whole request
//! ```
//!
//! Real Spin rejects tables it does not know, so a file with `[boxoffice.*]` is for
//! `boxoffice` only (see `runtime-config/`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The file that holds the `default` key-value store, inside the state directory.
pub const DEFAULT_KEY_VALUE_FILE: &str = "sqlite_key_value.db";
/// The file that holds the `default` SQLite database, inside the state directory.
pub const DEFAULT_SQLITE_FILE: &str = "sqlite_db.db";

/// The file under the state dir of the SQLite database `label` when no runtime config
/// names it: `sqlite_orders.db` for `orders`.
pub fn sqlite_file(label: &str) -> String {
    if label == "default" {
        DEFAULT_SQLITE_FILE.to_owned()
    } else {
        format!("sqlite_{label}.db")
    }
}
/// The JetStream stream of the events when `[boxoffice.broker]` names none.
pub const DEFAULT_STREAM: &str = "BOXOFFICE";
/// The default of `backend_ms`.
pub const DEFAULT_BACKEND_TIMEOUT: Duration = Duration::from_secs(2);
/// The default of `request_ms`.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a runtime config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeConfigError {
    /// The file could not be read.
    #[error("cannot read runtime config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("invalid runtime config {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, on one line.
        message: String,
    },
}

/// Where a SQLite-backed store or database keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqliteLocation {
    /// A file.
    File(PathBuf),
    /// Process memory: gone when the runtime stops.
    InMemory,
}

/// The backend of one key-value store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyValueBackend {
    /// Spin's `type = "spin"`: a SQLite file (or memory).
    Sqlite(SqliteLocation),
    /// Spin's `type = "redis"`: a Redis server.
    Redis {
        /// `redis://host:port[/db]`.
        url: String,
    },
}

/// Where the broker keeps events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerBackend {
    /// `<state>/broker.db`, in-process.
    Embedded,
    /// NATS JetStream.
    Nats {
        /// `nats://host:port`.
        url: String,
        /// The stream of the events; the dead letters go to `<stream>_DLQ`.
        stream: String,
    },
}

/// How long the runtime waits on a backend before answering 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// One key-value, SQL or broker operation (connecting included).
    pub backend: Duration,
    /// One whole request to a component.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            backend: DEFAULT_BACKEND_TIMEOUT,
            request: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

/// The backends chosen for each label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Key-value stores by label.
    pub key_value_stores: BTreeMap<String, KeyValueBackend>,
    /// SQLite databases by label.
    pub sqlite_databases: BTreeMap<String, SqliteLocation>,
    /// `[boxoffice.sql] database_url`: the value of the `database_url` variable unless
    /// `SPIN_VARIABLE_DATABASE_URL` is set.
    pub database_url: Option<String>,
    /// `[boxoffice.broker]`.
    pub broker: BrokerBackend,
    /// `[boxoffice.timeouts]`.
    pub timeouts: Timeouts,
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    key_value_store: BTreeMap<String, RawBackend>,
    #[serde(default)]
    sqlite_database: BTreeMap<String, RawBackend>,
    #[serde(default)]
    boxoffice: RawBoxoffice,
    #[serde(flatten)]
    other: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackend {
    #[serde(rename = "type")]
    kind: String,
    path: Option<PathBuf>,
    url: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBoxoffice {
    sql: Option<RawSql>,
    broker: Option<RawBroker>,
    timeouts: Option<RawTimeouts>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSql {
    database_url: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBroker {
    #[serde(rename = "type")]
    kind: String,
    url: Option<String>,
    stream: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimeouts {
    backend_ms: Option<u64>,
    request_ms: Option<u64>,
}

impl RuntimeConfig {
    /// The embedded defaults: the `default` labels as files under `state_dir`.
    pub fn defaults(state_dir: &Path) -> RuntimeConfig {
        RuntimeConfig {
            key_value_stores: BTreeMap::from([(
                "default".to_owned(),
                KeyValueBackend::Sqlite(SqliteLocation::File(
                    state_dir.join(DEFAULT_KEY_VALUE_FILE),
                )),
            )]),
            sqlite_databases: BTreeMap::from([(
                "default".to_owned(),
                SqliteLocation::File(state_dir.join(DEFAULT_SQLITE_FILE)),
            )]),
            database_url: None,
            broker: BrokerBackend::Embedded,
            timeouts: Timeouts::default(),
        }
    }

    /// The defaults, overridden and extended by the file at `path` if given. As in Spin, a
    /// relative key-value store `path` is resolved against the file's directory and a
    /// relative SQLite database `path` against the current directory.
    pub fn load(
        state_dir: &Path,
        path: Option<&Path>,
    ) -> Result<RuntimeConfig, RuntimeConfigError> {
        let mut config = RuntimeConfig::defaults(state_dir);
        let Some(path) = path else {
            return Ok(config);
        };
        let text = std::fs::read_to_string(path).map_err(|source| RuntimeConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let config_dir = std::path::absolute(path)
            .ok()
            .and_then(|p| p.parent().map(Path::to_owned))
            .unwrap_or_default();
        let cwd = std::env::current_dir().unwrap_or_default();
        config
            .apply(&text, &config_dir, &cwd)
            .map_err(|message| RuntimeConfigError::Parse {
                path: path.to_owned(),
                message,
            })?;
        Ok(config)
    }

    /// Defines the labels the app's components are granted and this config does not name,
    /// so that each service's own database and store work with no runtime config: a SQLite
    /// database `<state_dir>/sqlite_<label>.db` each, and a key-value store in the same
    /// place as the embedded `default` one (its table keeps each store's keys apart). A
    /// key-value label beside a `default` on Redis must be configured: an error names it.
    pub fn define_granted<'a>(
        &mut self,
        sqlite: impl IntoIterator<Item = &'a str>,
        key_value: impl IntoIterator<Item = &'a str>,
        state_dir: &Path,
    ) -> Result<(), String> {
        for label in sqlite {
            self.sqlite_databases
                .entry(label.to_owned())
                .or_insert_with(|| SqliteLocation::File(state_dir.join(sqlite_file(label))));
        }
        for label in key_value {
            if self.key_value_stores.contains_key(label) {
                continue;
            }
            let backend = match self.key_value_stores.get("default") {
                Some(KeyValueBackend::Sqlite(location)) => KeyValueBackend::Sqlite(location.clone()),
                _ => {
                    return Err(format!(
                        "the key-value store `{label}` is granted in the manifest but not defined in the runtime config: add a [key_value_store.{label}] table"
                    ))
                }
            };
            self.key_value_stores.insert(label.to_owned(), backend);
        }
        Ok(())
    }

    fn apply(&mut self, text: &str, kv_base: &Path, sqlite_base: &Path) -> Result<(), String> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            e.to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })?;
        for section in raw.other.keys() {
            tracing::warn!("runtime config section `{section}` is not used by boxoffice");
        }
        let sqlite = |base: &Path, path: Option<PathBuf>| match path {
            Some(p) => SqliteLocation::File(base.join(p)),
            None => SqliteLocation::InMemory,
        };
        for (label, backend) in raw.key_value_store {
            let section = format!("[key_value_store.{label}]");
            let backend = match (backend.kind.as_str(), backend.url) {
                ("spin", None) => KeyValueBackend::Sqlite(sqlite(kv_base, backend.path)),
                ("redis", Some(url)) if backend.path.is_none() => {
                    check_url(&url, &["redis", "rediss"])
                        .map_err(|e| format!("{section} url: {e}"))?;
                    KeyValueBackend::Redis { url }
                }
                ("spin", Some(_)) => return Err(format!("{section}: `url` is for type \"redis\"")),
                ("redis", _) => {
                    return Err(format!(
                        "{section}: type \"redis\" takes a `url` and no `path`"
                    ))
                }
                (other, _) => return Err(unsupported(&section, other, "\"spin\", \"redis\"")),
            };
            self.key_value_stores.insert(label, backend);
        }
        for (label, backend) in raw.sqlite_database {
            let section = format!("[sqlite_database.{label}]");
            if backend.kind != "spin" || backend.url.is_some() {
                return Err(unsupported(
                    &section,
                    &backend.kind,
                    "\"spin\" with an optional `path`",
                ));
            }
            self.sqlite_databases
                .insert(label, sqlite(sqlite_base, backend.path));
        }
        if let Some(sql) = raw.boxoffice.sql {
            let url = sql.database_url.trim().to_owned();
            if !url.is_empty() {
                check_url(&url, &["postgres", "postgresql"])
                    .map_err(|e| format!("[boxoffice.sql] database_url: {e}"))?;
            }
            self.database_url = Some(url);
        }
        if let Some(broker) = raw.boxoffice.broker {
            let section = "[boxoffice.broker]";
            self.broker = match (broker.kind.as_str(), broker.url) {
                ("embedded", None) if broker.stream.is_none() => BrokerBackend::Embedded,
                ("embedded", _) => {
                    return Err(format!(
                        "{section}: type \"embedded\" takes no `url` or `stream`"
                    ))
                }
                ("nats", None) => return Err(format!("{section}: type \"nats\" needs a `url`")),
                ("nats", Some(url)) => {
                    check_url(&url, &["nats"]).map_err(|e| format!("{section} url: {e}"))?;
                    let stream = broker.stream.unwrap_or_else(|| DEFAULT_STREAM.to_owned());
                    if stream.is_empty()
                        || !stream
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                    {
                        return Err(format!(
                            "{section} stream `{stream}` must be letters, digits, `_` or `-`"
                        ));
                    }
                    BrokerBackend::Nats { url, stream }
                }
                (other, _) => return Err(unsupported(section, other, "\"embedded\", \"nats\"")),
            };
        }
        if let Some(timeouts) = raw.boxoffice.timeouts {
            let positive = |name: &str, ms: Option<u64>, default: Duration| match ms {
                None => Ok(default),
                Some(0) => Err(format!("[boxoffice.timeouts] {name} must be positive")),
                Some(ms) => Ok(Duration::from_millis(ms)),
            };
            self.timeouts = Timeouts {
                backend: positive("backend_ms", timeouts.backend_ms, self.timeouts.backend)?,
                request: positive("request_ms", timeouts.request_ms, self.timeouts.request)?,
            };
        }
        Ok(())
    }
}

fn unsupported(section: &str, kind: &str, supported: &str) -> String {
    format!("{section} has unsupported type `{kind}` (supported: {supported})")
}

/// Checks that `url` is `<scheme>://...` with one of `schemes`.
fn check_url(url: &str, schemes: &[&str]) -> Result<(), String> {
    let scheme = url.split_once("://").map(|(s, _)| s);
    match scheme {
        Some(s) if schemes.contains(&s) => Ok(()),
        _ => Err(format!(
            "`{url}` is not a {} URL",
            schemes
                .iter()
                .map(|s| format!("{s}://"))
                .collect::<Vec<_>>()
                .join(" or ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_use_spin_file_names_in_the_state_dir() {
        let c = RuntimeConfig::defaults(Path::new("/state"));
        assert_eq!(
            c.key_value_stores["default"],
            KeyValueBackend::Sqlite(SqliteLocation::File("/state/sqlite_key_value.db".into()))
        );
        assert_eq!(
            c.sqlite_databases["default"],
            SqliteLocation::File("/state/sqlite_db.db".into())
        );
        assert_eq!(c.broker, BrokerBackend::Embedded);
        assert_eq!(c.database_url, None);
        assert_eq!(c.timeouts, Timeouts::default());
    }

    #[test]
    fn file_adds_and_overrides_labels() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rc.toml");
        std::fs::write(
            &file,
            r#"
[key_value_store.cache]
type = "spin"
path = "cache.db"
[key_value_store.default]
type = "spin"
[sqlite_database.default]
type = "spin"
path = "/abs/db.sqlite"
[sqlite_database.local]
type = "spin"
path = "local.db"
"#,
        )
        .unwrap();
        let c = RuntimeConfig::load(Path::new("/state"), Some(&file)).unwrap();
        assert_eq!(
            c.key_value_stores["cache"],
            KeyValueBackend::Sqlite(SqliteLocation::File(dir.path().join("cache.db")))
        );
        assert_eq!(
            c.key_value_stores["default"],
            KeyValueBackend::Sqlite(SqliteLocation::InMemory)
        );
        assert_eq!(
            c.sqlite_databases["default"],
            SqliteLocation::File("/abs/db.sqlite".into())
        );
        assert_eq!(
            c.sqlite_databases["local"],
            SqliteLocation::File(std::env::current_dir().unwrap().join("local.db"))
        );
    }

    fn load_text(text: &str) -> Result<RuntimeConfig, RuntimeConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rc.toml");
        std::fs::write(&file, text).unwrap();
        RuntimeConfig::load(Path::new("/state"), Some(&file))
    }

    #[test]
    fn production_backends_are_read_from_spin_and_boxoffice_tables() {
        let c = load_text(
            r#"
[key_value_store.default]
type = "redis"
url = "redis://127.0.0.1:6379/2"
[boxoffice.sql]
database_url = "postgres://u:p@127.0.0.1:5432/shop"
[boxoffice.broker]
type = "nats"
url = "nats://127.0.0.1:4222"
[boxoffice.timeouts]
backend_ms = 500
"#,
        )
        .unwrap();
        assert_eq!(
            c.key_value_stores["default"],
            KeyValueBackend::Redis {
                url: "redis://127.0.0.1:6379/2".into()
            }
        );
        assert_eq!(
            c.database_url.as_deref(),
            Some("postgres://u:p@127.0.0.1:5432/shop")
        );
        assert_eq!(
            c.broker,
            BrokerBackend::Nats {
                url: "nats://127.0.0.1:4222".into(),
                stream: DEFAULT_STREAM.into()
            }
        );
        assert_eq!(c.timeouts.backend, Duration::from_millis(500));
        assert_eq!(c.timeouts.request, DEFAULT_REQUEST_TIMEOUT);
    }

    #[test]
    fn wrong_types_urls_and_values_are_clear_errors() {
        for (text, expected) in [
            (
                "[key_value_store.default]\ntype = \"azure_cosmos\"\n",
                "[key_value_store.default] has unsupported type `azure_cosmos`",
            ),
            (
                "[key_value_store.default]\ntype = \"redis\"\nurl = \"http://x\"\n",
                "[key_value_store.default] url: `http://x` is not a redis:// or rediss:// URL",
            ),
            (
                "[sqlite_database.default]\ntype = \"redis\"\nurl = \"redis://x\"\n",
                "unsupported type `redis`",
            ),
            (
                "[boxoffice.sql]\ndatabase_url = \"mysql://x\"\n",
                "is not a postgres:// or postgresql:// URL",
            ),
            (
                "[boxoffice.broker]\ntype = \"kafka\"\n",
                "[boxoffice.broker] has unsupported type `kafka`",
            ),
            (
                "[key_value_store.default]\ntype = \"redis\"\n",
                "type \"redis\" takes a `url`",
            ),
            (
                "[boxoffice.broker]\ntype = \"nats\"\n",
                "type \"nats\" needs a `url`",
            ),
            (
                "[boxoffice.broker]\ntype = \"nats\"\nurl = \"nats://x:4222\"\nstream = \"a.b\"\n",
                "stream `a.b` must be",
            ),
            (
                "[boxoffice.timeouts]\nrequest_ms = 0\n",
                "request_ms must be positive",
            ),
            ("[boxoffice.cache]\nsize = 1\n", "unknown field `cache`"),
        ] {
            let err = load_text(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn missing_file_and_bad_toml_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.toml");
        assert!(matches!(
            RuntimeConfig::load(Path::new("/s"), Some(&missing)),
            Err(RuntimeConfigError::Read { .. })
        ));
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "[key_value_store.x\n").unwrap();
        assert!(matches!(
            RuntimeConfig::load(Path::new("/s"), Some(&bad)),
            Err(RuntimeConfigError::Parse { .. })
        ));
    }

    #[test]
    fn each_granted_label_gets_its_own_database_and_store() {
        let mut embedded = RuntimeConfig::defaults(Path::new("/state"));
        embedded
            .define_granted(
                ["orders", "default"],
                ["default", "cart"],
                Path::new("/state"),
            )
            .unwrap();
        assert_eq!(
            embedded.sqlite_databases["orders"],
            SqliteLocation::File("/state/sqlite_orders.db".into())
        );
        assert_eq!(
            embedded.sqlite_databases["default"],
            SqliteLocation::File("/state/sqlite_db.db".into()),
            "a defined label is left as it is"
        );
        assert_eq!(
            embedded.key_value_stores["cart"], embedded.key_value_stores["default"],
            "beside the default store, in its own rows"
        );
        let mut redis = RuntimeConfig::defaults(Path::new("/state"));
        redis.key_value_stores.insert(
            "default".into(),
            KeyValueBackend::Redis {
                url: "redis://127.0.0.1:6379".into(),
            },
        );
        let err = redis
            .define_granted([], ["cart"], Path::new("/state"))
            .unwrap_err();
        assert!(err.contains("[key_value_store.cart]"), "{err}");
    }

    /// Real Spin serves only the `default` labels by itself and refuses an app that is
    /// granted any other it has no table for: the runtime config the README gives
    /// `spin up` (and SpinKube's Secret) must define every label spin.toml grants.
    #[test]
    fn the_spin_runtime_config_defines_every_label_the_manifest_grants() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let manifest = crate::manifest::Manifest::load(&root.join("spin.toml")).unwrap();
        let file = root.join("runtime-config/spin.toml");
        let config = RuntimeConfig::load(Path::new("/state"), Some(&file)).unwrap();
        for (id, component) in &manifest.components {
            for label in &component.sqlite_databases {
                assert!(
                    config.sqlite_databases.contains_key(label),
                    "{id}: sqlite {label}"
                );
            }
            for label in &component.key_value_stores {
                assert!(
                    config.key_value_stores.contains_key(label),
                    "{id}: key-value {label}"
                );
            }
        }
        // And each service's database is its own.
        let mut labels: Vec<&String> = manifest
            .components
            .values()
            .flat_map(|c| &c.sqlite_databases)
            .collect();
        let granted = labels.len();
        labels.sort();
        labels.dedup();
        assert_eq!(labels.len(), granted, "no database is granted twice");
    }
}

/// Property tests: whatever a runtime config file holds, reading it answers with a
/// configuration or a message, never a panic. `PROPTEST_CASES` sets how many cases run.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    const EXAMPLE: &str = include_str!("../../runtime-config/redis-postgres-nats.toml");

    fn reads_or_explains(text: &str) -> Result<(), TestCaseError> {
        let mut config = RuntimeConfig::defaults(Path::new("/state"));
        if let Err(message) = config.apply(text, Path::new("/config"), Path::new("/cwd")) {
            prop_assert!(!message.trim().is_empty());
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn any_text_is_a_config_or_a_message(text in "(?s).{0,300}") {
            reads_or_explains(&text)?;
        }

        #[test]
        fn the_example_with_any_line_replaced_is_a_config_or_a_message(
            index in any::<prop::sample::Index>(),
            line in r#"([a-z_]{1,12} = ("[ -~]{0,30}"|-?[0-9]{1,20}|true|\[\]|\{\})|\[[a-z_.]{1,30}\]|[ -~]{0,40})"#,
        ) {
            let mut lines: Vec<&str> = EXAMPLE.lines().collect();
            let at = index.index(lines.len());
            lines[at] = &line;
            reads_or_explains(&lines.join("\n"))?;
        }
    }
}
