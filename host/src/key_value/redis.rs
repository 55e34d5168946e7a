//! The Redis key-value backend (Spin's `type = "redis"`): keys are stored as they are,
//! values as strings of bytes, as Spin's own Redis store does.
//!
//! One multiplexed connection per store, made on first use and remade by the connection
//! manager after a failure, so a Redis restart costs the operations in flight, not the
//! runtime. Every operation is bounded by the backend timeout.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands as _;
use tokio::sync::OnceCell;

use super::{KeyValueError, KeyValueStore};

/// A store on a Redis server.
pub struct RedisKeyValueStore {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    timeout: Duration,
}

impl RedisKeyValueStore {
    /// A store on the server at `url` (`redis://host:port[/db]`); nothing is connected yet.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, KeyValueError> {
        let client = redis::Client::open(url).map_err(|e| KeyValueError::Redis(e.to_string()))?;
        Ok(RedisKeyValueStore {
            client,
            connection: OnceCell::new(),
            timeout,
        })
    }

    /// Runs `op` on the connection, within the timeout.
    async fn run<T, F, Fut>(&self, op: F) -> Result<T, KeyValueError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let work = async {
            let connection = self
                .connection
                .get_or_try_init(|| async {
                    // Reconnection is retried a few times per failure, quickly: a request
                    // that cannot be served should fail fast and the next one reconnect.
                    let config = ConnectionManagerConfig::new()
                        .set_connection_timeout(Some(self.timeout))
                        .set_response_timeout(Some(self.timeout))
                        .set_number_of_retries(2)
                        .set_min_delay(Duration::from_millis(50))
                        .set_max_delay(Duration::from_millis(500));
                    self.client.get_connection_manager_lazy(config)
                })
                .await
                .map_err(|e| KeyValueError::Redis(e.to_string()))?;
            op(connection.clone())
                .await
                .map_err(|e| KeyValueError::Redis(e.to_string()))
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(KeyValueError::Timeout(self.timeout)),
        }
    }
}

#[async_trait]
impl KeyValueStore for RedisKeyValueStore {
    async fn get(&self, key: String) -> Result<Option<Vec<u8>>, KeyValueError> {
        self.run(|mut c| async move { c.get(key).await }).await
    }

    async fn set(&self, key: String, value: Vec<u8>) -> Result<(), KeyValueError> {
        self.run(|mut c| async move { c.set(key, value).await })
            .await
    }

    async fn delete(&self, key: String) -> Result<(), KeyValueError> {
        self.run(|mut c| async move { c.del(key).await }).await
    }

    async fn exists(&self, key: String) -> Result<bool, KeyValueError> {
        self.run(|mut c| async move { c.exists(key).await }).await
    }

    async fn get_keys(&self) -> Result<Vec<String>, KeyValueError> {
        let mut keys: Vec<String> = self.run(|mut c| async move { c.keys("*").await }).await?;
        keys.sort();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_server_that_never_answers_is_a_timeout_not_a_hang() {
        // Accepts connections and never writes a byte.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _held = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let store = RedisKeyValueStore::new(&format!("redis://{addr}"), Duration::from_millis(300))
            .unwrap();
        let started = std::time::Instant::now();
        let err = store.get("k".into()).await.unwrap_err();
        assert!(
            matches!(err, KeyValueError::Timeout(_) | KeyValueError::Redis(_)),
            "{err}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_error_and_a_bad_url_is_refused_up_front() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let store =
            RedisKeyValueStore::new(&format!("redis://127.0.0.1:{port}"), Duration::from_secs(1))
                .unwrap();
        assert!(store.set("k".into(), b"v".to_vec()).await.is_err());
        assert!(RedisKeyValueStore::new("not a url", Duration::from_secs(1)).is_err());
    }
}
