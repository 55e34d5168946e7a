//! The accept loop every listener of boxoffice runs (the runtime's front door, the
//! broker's ingress), with the bounds that keep slow or greedy clients from knocking it
//! over:
//! - a request head must arrive within [`Bounds::head_read`] of the connection becoming
//!   ready for one (at its start, and between requests of a kept-alive connection), or the
//!   connection is closed: a slowloris client holds a socket for seconds, not forever;
//! - at most [`Bounds::max_connections`] connections at once; beyond, a new connection is
//!   closed at once (shed, never queued behind the rest), and counted.
//!
//! What a request may carry once its head is read (its size, how long its body and its
//! answer may take) is each server's own business.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::sync::Semaphore;

/// How long a client may take to send a request head.
pub const HEAD_READ: Duration = Duration::from_secs(10);
/// How many connections a listener serves at once.
pub const MAX_CONNECTIONS: usize = 1024;

/// The bounds of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// How long a request head may take to arrive.
    pub head_read: Duration,
    /// How many connections are served at once.
    pub max_connections: usize,
    /// What the connection reads of a head at most (bytes), and how many headers.
    pub head_bytes: usize,
    /// How many headers a head may have.
    pub headers: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            head_read: HEAD_READ,
            max_connections: MAX_CONNECTIONS,
            head_bytes: 4 * crate::limits::MAX_HEAD_BYTES,
            headers: 4 * crate::limits::MAX_HEADERS,
        }
    }
}

/// Serves `listener` with `bounds` until the future is dropped: each request of each
/// connection is answered by `answer` with the client's address. `label` names the
/// listener in the logs.
pub async fn serve<F, Fut, B>(
    listener: tokio::net::TcpListener,
    bounds: Bounds,
    label: &'static str,
    answer: F,
) where
    F: Fn(Request<Incoming>, SocketAddr) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<B>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let open = Arc::new(Semaphore::new(bounds.max_connections));
    let shed = AtomicU64::new(0);
    loop {
        let (stream, client) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!("{label}: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            let n = shed.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(
                    "{label}: {} connections open, the most it serves; closed {n} new ones so far",
                    bounds.max_connections
                );
            }
            drop(stream);
            continue;
        };
        let answer = answer.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let answer = answer.clone();
                async move { Ok::<_, Infallible>(answer(request, client).await) }
            });
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(bounds.head_read)
                .max_buf_size(bounds.head_bytes)
                .max_headers(bounds.headers);
            builder
                .http2()
                .timer(TokioTimer::new())
                .max_header_list_size(u32::try_from(bounds.head_bytes).unwrap_or(u32::MAX));
            if let Err(e) = builder
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!("{label}: connection from {client}: {e}");
            }
            drop(permit);
        });
    }
}
