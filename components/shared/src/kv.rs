//! Key-value storage behind one small trait: Spin's key-value store in components, an
//! in-memory map in tests.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;

use crate::ApiError;

/// A key-value store failure; always the store's fault, never the client's (503).
#[derive(Debug, Clone, thiserror::Error)]
#[error("key-value store: {0}")]
pub struct KvError(pub String);

impl From<KvError> for ApiError {
    fn from(e: KvError) -> Self {
        ApiError::BackendDown(e.to_string())
    }
}

/// The operations the services need from a key-value store.
pub trait KeyValue {
    /// The value of `key`, if any.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    /// Sets `key` to `value`.
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError>;
    /// Removes `key` (no error if absent).
    fn delete(&self, key: &str) -> Result<(), KvError>;
}

/// A Spin key-value store, opened by label (`default` for every service so far).
pub struct SpinStore(spin_sdk::key_value::Store);

impl SpinStore {
    /// Opens the store labelled `label` (the component must list it in spin.toml).
    pub fn open(label: &str) -> Result<Self, KvError> {
        spin_sdk::key_value::Store::open(label)
            .map(Self)
            .map_err(|e| KvError(format!("open {label}: {e}")))
    }
}

impl KeyValue for SpinStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.0.get(key).map_err(|e| KvError(e.to_string()))
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.0.set(key, value).map_err(|e| KvError(e.to_string()))
    }
    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.0.delete(key).map_err(|e| KvError(e.to_string()))
    }
}

/// A Spin key-value store opened on first use, so that requests that do not need it
/// never open it.
pub struct LazySpinStore {
    label: &'static str,
    store: OnceCell<SpinStore>,
}

impl LazySpinStore {
    /// The store labelled `label`, not opened yet.
    pub fn new(label: &'static str) -> Self {
        Self {
            label,
            store: OnceCell::new(),
        }
    }

    fn store(&self) -> Result<&SpinStore, KvError> {
        if let Some(store) = self.store.get() {
            return Ok(store);
        }
        let store = SpinStore::open(self.label)?;
        Ok(self.store.get_or_init(|| store))
    }
}

impl KeyValue for LazySpinStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.store()?.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.store()?.set(key, value)
    }
    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.store()?.delete(key)
    }
}

/// An in-memory store, for tests.
#[derive(Debug, Default)]
pub struct MemoryKv(RefCell<HashMap<String, Vec<u8>>>);

impl KeyValue for MemoryKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.0.borrow().get(key).cloned())
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.0.borrow_mut().insert(key.to_owned(), value.to_vec());
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.0.borrow_mut().remove(key);
        Ok(())
    }
}
