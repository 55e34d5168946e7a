//! `fermyon:spin/key-value@2.0.0`: labelled key-value stores.
//!
//! A store is a [`KeyValueStore`] backend, chosen per label by the runtime config:
//! - [`sqlite`]: the embedded one, every store in a SQLite file with Spin's schema
//!   (`spin_key_value(store, key, value)`), so Spin can read the same state directory;
//! - [`redis`]: a Redis server, keys stored as-is as Spin's Redis store does.
//!
//! A component may open only the labels in its `key_value_stores`. A backend that fails or
//! does not answer within the backend timeout gives the guest `error::other`, which the
//! services answer with 503.

pub mod redis;
pub mod sqlite;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use wasmtime::component::{HasData, Resource, ResourceTable};

use crate::bindings::fermyon::spin::key_value::{self, Error};
use crate::runtime_config::KeyValueBackend;

pub use self::redis::RedisKeyValueStore;
pub use self::sqlite::SqliteKeyValueStore;

/// A backend failure.
#[derive(Debug, thiserror::Error)]
pub enum KeyValueError {
    /// SQLite reported an error.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The store's directory could not be created.
    #[error("cannot create {path}: {source}")]
    CreateDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The blocking task running the operation failed.
    #[error("key-value task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// Redis reported an error or the connection failed.
    #[error("redis: {0}")]
    Redis(String),
    /// The backend did not answer in time.
    #[error("the key-value backend did not answer within {} ms", .0.as_millis())]
    Timeout(Duration),
}

/// One key-value store.
#[async_trait]
pub trait KeyValueStore: Send + Sync {
    /// The value under `key`, if any.
    async fn get(&self, key: String) -> Result<Option<Vec<u8>>, KeyValueError>;
    /// Stores `value` under `key`, replacing any previous value.
    async fn set(&self, key: String, value: Vec<u8>) -> Result<(), KeyValueError>;
    /// Removes `key`; removing a missing key is not an error.
    async fn delete(&self, key: String) -> Result<(), KeyValueError>;
    /// Whether `key` has a value.
    async fn exists(&self, key: String) -> Result<bool, KeyValueError>;
    /// All keys.
    async fn get_keys(&self) -> Result<Vec<String>, KeyValueError>;
}

/// Every configured store of the app, by label.
#[derive(Default)]
pub struct KeyValueStores {
    stores: BTreeMap<String, Arc<dyn KeyValueStore>>,
}

impl KeyValueStores {
    /// Opens the configured backend of each label; a Redis store connects on first use,
    /// so the runtime starts while Redis is down. Operations time out after `timeout`.
    pub fn open(
        config: &BTreeMap<String, KeyValueBackend>,
        timeout: Duration,
    ) -> Result<Self, KeyValueError> {
        let stores = config
            .iter()
            .map(|(label, backend)| {
                let store: Arc<dyn KeyValueStore> = match backend {
                    KeyValueBackend::Sqlite(location) => {
                        Arc::new(SqliteKeyValueStore::open(label, location)?)
                    }
                    KeyValueBackend::Redis { url } => {
                        Arc::new(RedisKeyValueStore::new(url, timeout)?)
                    }
                };
                Ok((label.clone(), store))
            })
            .collect::<Result<_, KeyValueError>>()?;
        Ok(KeyValueStores { stores })
    }

    /// Whether `label` is configured.
    pub fn is_defined(&self, label: &str) -> bool {
        self.stores.contains_key(label)
    }
}

/// What one component may open.
pub struct KeyValueCtx {
    /// The labels in the component's `key_value_stores`.
    pub allowed: Vec<String>,
    /// The app's stores.
    pub stores: Arc<KeyValueStores>,
}

impl KeyValueCtx {
    /// Spin's `open` rules: not listed is `access-denied`, listed but not configured is
    /// `no-such-store`.
    pub fn open(&self, label: &str) -> Result<StoreHandle, Error> {
        if !self.allowed.iter().any(|l| l == label) {
            return Err(Error::AccessDenied);
        }
        self.stores
            .stores
            .get(label)
            .map(|store| StoreHandle(store.clone()))
            .ok_or(Error::NoSuchStore)
    }
}

/// The host value behind a `store` resource.
pub struct StoreHandle(Arc<dyn KeyValueStore>);

/// The borrowed state the `fermyon:spin/key-value` implementation works on.
pub struct KeyValueView<'a> {
    /// The component's permissions and the app's stores.
    pub ctx: &'a KeyValueCtx,
    /// The instance's resource table.
    pub table: &'a mut ResourceTable,
}

/// [`HasData`] marker for the `fermyon:spin/key-value` host implementation.
pub struct KeyValue;

impl HasData for KeyValue {
    type Data<'a> = KeyValueView<'a>;
}

fn other(e: KeyValueError) -> Error {
    boxoffice_telemetry::metrics::backend_error("key_value", "operation");
    Error::Other(e.to_string())
}

impl KeyValueView<'_> {
    fn store(&self, handle: &Resource<StoreHandle>) -> wasmtime::Result<Arc<dyn KeyValueStore>> {
        Ok(self.table.get(handle)?.0.clone())
    }
}

impl key_value::Host for KeyValueView<'_> {}

impl key_value::HostStore for KeyValueView<'_> {
    async fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<StoreHandle>, Error>> {
        Ok(match self.ctx.open(&label) {
            Ok(handle) => Ok(self.table.push(handle)?),
            Err(e) => Err(e),
        })
    }

    async fn get(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        Ok(self.store(&store)?.get(key).await.map_err(other))
    }

    async fn set(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(self.store(&store)?.set(key, value).await.map_err(other))
    }

    async fn delete(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(self.store(&store)?.delete(key).await.map_err(other))
    }

    async fn exists(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        Ok(self.store(&store)?.exists(key).await.map_err(other))
    }

    async fn get_keys(
        &mut self,
        store: Resource<StoreHandle>,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        Ok(self.store(&store)?.get_keys().await.map_err(other))
    }

    async fn drop(&mut self, store: Resource<StoreHandle>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime_config::SqliteLocation;

    #[tokio::test]
    async fn open_checks_permission_then_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let location = SqliteLocation::File(dir.path().join("kv.db"));
        let stores = Arc::new(
            KeyValueStores::open(
                &BTreeMap::from([("default".to_string(), KeyValueBackend::Sqlite(location))]),
                Duration::from_secs(1),
            )
            .unwrap(),
        );
        let ctx = KeyValueCtx {
            allowed: vec!["default".into(), "cache".into()],
            stores,
        };
        assert!(ctx.open("default").is_ok());
        assert!(matches!(ctx.open("cache"), Err(Error::NoSuchStore)));
        assert!(matches!(ctx.open("secret"), Err(Error::AccessDenied)));
    }
}
