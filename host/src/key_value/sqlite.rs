//! The embedded key-value backend: every store in one SQLite file, in Spin's schema.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension};

use super::{KeyValueError, KeyValueStore};
use crate::runtime_config::SqliteLocation;

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
}
