//! The runtime config file, in Spin's TOML format: which backend serves each key-value
//! store and SQLite database label. Without a file, the `default` labels are SQLite files
//! in the state directory, with Spin's file names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The file that holds the `default` key-value store, inside the state directory.
pub const DEFAULT_KEY_VALUE_FILE: &str = "sqlite_key_value.db";
/// The file that holds the `default` SQLite database, inside the state directory.
pub const DEFAULT_SQLITE_FILE: &str = "sqlite_db.db";

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
        /// The parser's message, on one line.
        message: String,
    },
    /// A store or database names a backend type boxoffice does not have.
    #[error("runtime config {path}: [{section}.{label}] has unsupported type `{kind}` (supported: \"spin\")")]
    UnknownType {
        /// The file.
        path: PathBuf,
        /// `key_value_store` or `sqlite_database`.
        section: &'static str,
        /// The label.
        label: String,
        /// The type given.
        kind: String,
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

/// The backends chosen for each label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Key-value stores by label.
    pub key_value_stores: BTreeMap<String, SqliteLocation>,
    /// SQLite databases by label.
    pub sqlite_databases: BTreeMap<String, SqliteLocation>,
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    key_value_store: BTreeMap<String, RawBackend>,
    #[serde(default)]
    sqlite_database: BTreeMap<String, RawBackend>,
    #[serde(flatten)]
    other: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
struct RawBackend {
    #[serde(rename = "type")]
    kind: String,
    path: Option<PathBuf>,
}

impl RuntimeConfig {
    /// The embedded defaults: the `default` labels as files under `state_dir`.
    pub fn defaults(state_dir: &Path) -> RuntimeConfig {
        RuntimeConfig {
            key_value_stores: BTreeMap::from([(
                "default".to_owned(),
                SqliteLocation::File(state_dir.join(DEFAULT_KEY_VALUE_FILE)),
            )]),
            sqlite_databases: BTreeMap::from([(
                "default".to_owned(),
                SqliteLocation::File(state_dir.join(DEFAULT_SQLITE_FILE)),
            )]),
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
            .map_err(|e| match e {
                ApplyError::Parse(message) => RuntimeConfigError::Parse {
                    path: path.to_owned(),
                    message,
                },
                ApplyError::UnknownType {
                    section,
                    label,
                    kind,
                } => RuntimeConfigError::UnknownType {
                    path: path.to_owned(),
                    section,
                    label,
                    kind,
                },
            })?;
        Ok(config)
    }

    fn apply(&mut self, text: &str, kv_base: &Path, sqlite_base: &Path) -> Result<(), ApplyError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            ApplyError::Parse(
                e.to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        })?;
        for section in raw.other.keys() {
            tracing::warn!("runtime config section `{section}` is not used by boxoffice");
        }
        let resolve = |section: &'static str,
                       base: &Path,
                       label: String,
                       backend: RawBackend|
         -> Result<(String, SqliteLocation), ApplyError> {
            if backend.kind != "spin" {
                return Err(ApplyError::UnknownType {
                    section,
                    label,
                    kind: backend.kind,
                });
            }
            let location = match backend.path {
                Some(p) => SqliteLocation::File(base.join(p)),
                None => SqliteLocation::InMemory,
            };
            Ok((label, location))
        };
        for (label, backend) in raw.key_value_store {
            let (label, location) = resolve("key_value_store", kv_base, label, backend)?;
            self.key_value_stores.insert(label, location);
        }
        for (label, backend) in raw.sqlite_database {
            let (label, location) = resolve("sqlite_database", sqlite_base, label, backend)?;
            self.sqlite_databases.insert(label, location);
        }
        Ok(())
    }
}

enum ApplyError {
    Parse(String),
    UnknownType {
        section: &'static str,
        label: String,
        kind: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_use_spin_file_names_in_the_state_dir() {
        let c = RuntimeConfig::defaults(Path::new("/state"));
        assert_eq!(
            c.key_value_stores["default"],
            SqliteLocation::File("/state/sqlite_key_value.db".into())
        );
        assert_eq!(
            c.sqlite_databases["default"],
            SqliteLocation::File("/state/sqlite_db.db".into())
        );
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
            SqliteLocation::File(dir.path().join("cache.db"))
        );
        assert_eq!(c.key_value_stores["default"], SqliteLocation::InMemory);
        assert_eq!(
            c.sqlite_databases["default"],
            SqliteLocation::File("/abs/db.sqlite".into())
        );
        assert_eq!(
            c.sqlite_databases["local"],
            SqliteLocation::File(std::env::current_dir().unwrap().join("local.db"))
        );
    }

    #[test]
    fn unknown_type_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rc.toml");
        std::fs::write(
            &file,
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://x\"\n",
        )
        .unwrap();
        let err = RuntimeConfig::load(Path::new("/state"), Some(&file)).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("unsupported type `redis`"), "{msg}");
        assert!(msg.contains("key_value_store.default"), "{msg}");
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
}
