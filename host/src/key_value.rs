//! `fermyon:spin/key-value@2.0.0`: labelled key-value stores.
//!
//! A store is a [`KeyValueStore`] backend; the embedded one keeps every store in a SQLite
//! file with Spin's schema (`spin_key_value(store, key, value)`), so Spin can read the
//! same state directory. A component may open only the labels in its `key_value_stores`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension};
use wasmtime::component::{HasData, Resource, ResourceTable};

use crate::bindings::fermyon::spin2_0_0::key_value::{self, Error};
use crate::runtime_config::SqliteLocation;

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

/// The embedded backend: one store (by name) inside a SQLite database.
pub struct SqliteKeyValueStore {
    name: String,
    conn: Arc<Mutex<Connection>>,
}

impl SqliteKeyValueStore {
    /// Opens (creating if needed) the store `name` at `location`.
    pub fn open(name: &str, location: &SqliteLocation) -> Result<Self, KeyValueError> {
        let conn = match location {
            SqliteLocation::File(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|source| KeyValueError::CreateDir {
                        path: dir.to_owned(),
                        source,
                    })?;
                }
                let conn = Connection::open(path)?;
                crate::sqlite::configure(&conn)?;
                conn
            }
            SqliteLocation::InMemory => Connection::open_in_memory()?,
        };
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                store TEXT NOT NULL,
                key   TEXT NOT NULL,
                value BLOB NOT NULL,
                PRIMARY KEY (store, key)
            )",
        )?;
        Ok(SqliteKeyValueStore {
            name: name.to_owned(),
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` on the connection in a blocking task.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection, &str) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, KeyValueError> {
        let conn = self.conn.clone();
        let name = self.name.clone();
        let result = tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&conn, &name)
        })
        .await?;
        Ok(result?)
    }
}

#[async_trait]
impl KeyValueStore for SqliteKeyValueStore {
    async fn get(&self, key: String) -> Result<Option<Vec<u8>>, KeyValueError> {
        self.run(move |c, store| {
            c.prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .query_row((store, &key), |row| row.get(0))
                .optional()
        })
        .await
    }

    async fn set(&self, key: String, value: Vec<u8>) -> Result<(), KeyValueError> {
        self.run(move |c, store| {
            c.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            )?
            .execute((store, &key, &value))
            .map(drop)
        })
        .await
    }

    async fn delete(&self, key: String) -> Result<(), KeyValueError> {
        self.run(move |c, store| {
            c.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .execute((store, &key))
                .map(drop)
        })
        .await
    }

    async fn exists(&self, key: String) -> Result<bool, KeyValueError> {
        Ok(self.get(key).await?.is_some())
    }

    async fn get_keys(&self) -> Result<Vec<String>, KeyValueError> {
        self.run(move |c, store| {
            c.prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1 ORDER BY key")?
                .query_map([store], |row| row.get(0))?
                .collect()
        })
        .await
    }
}

/// Every configured store of the app, by label.
#[derive(Default)]
pub struct KeyValueStores {
    stores: BTreeMap<String, Arc<dyn KeyValueStore>>,
}

impl KeyValueStores {
    /// Opens the embedded backend for each configured label.
    pub fn open(config: &BTreeMap<String, SqliteLocation>) -> Result<Self, KeyValueError> {
        let stores = config
            .iter()
            .map(|(label, location)| {
                let store: Arc<dyn KeyValueStore> =
                    Arc::new(SqliteKeyValueStore::open(label, location)?);
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

    fn file(dir: &tempfile::TempDir) -> SqliteLocation {
        SqliteLocation::File(dir.path().join("kv").join("sqlite_key_value.db"))
    }

    #[tokio::test]
    async fn set_get_delete_and_list() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteKeyValueStore::open("default", &file(&dir)).unwrap();
        assert_eq!(store.get("a".into()).await.unwrap(), None);
        store.set("b".into(), b"2".to_vec()).await.unwrap();
        store.set("a".into(), b"1".to_vec()).await.unwrap();
        store.set("a".into(), b"one".to_vec()).await.unwrap();
        assert_eq!(store.get("a".into()).await.unwrap(), Some(b"one".to_vec()));
        assert!(store.exists("b".into()).await.unwrap());
        assert_eq!(store.get_keys().await.unwrap(), vec!["a", "b"]);
        store.delete("b".into()).await.unwrap();
        store.delete("never".into()).await.unwrap();
        assert!(!store.exists("b".into()).await.unwrap());
    }

    #[tokio::test]
    async fn data_persists_and_stores_are_separate() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SqliteKeyValueStore::open("default", &file(&dir)).unwrap();
            store.set("k".into(), b"v".to_vec()).await.unwrap();
        }
        let again = SqliteKeyValueStore::open("default", &file(&dir)).unwrap();
        assert_eq!(again.get("k".into()).await.unwrap(), Some(b"v".to_vec()));
        let other = SqliteKeyValueStore::open("other", &file(&dir)).unwrap();
        assert_eq!(other.get("k".into()).await.unwrap(), None);
    }

    #[tokio::test]
    async fn open_checks_permission_then_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let stores = Arc::new(
            KeyValueStores::open(&BTreeMap::from([("default".to_string(), file(&dir))])).unwrap(),
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
