//! The admin listener (`--admin-listen`, loopback by default): what operators scrape,
//! apart from the shop's own port so that it is never exposed with it.
//!
//! `GET /metrics` answers every metric in Prometheus' text format, after refreshing the
//! gauges read from their source (the broker's queue, the connection pools). Anything
//! else is the API's JSON 404 (or 405 for another method on `/metrics`).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

use boxoffice_telemetry::metrics::{Gauges, Metrics};

/// The content type of the text exposition format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the admin listener serves.
#[derive(Clone)]
pub struct Admin {
    metrics: Metrics,
    gauges: Vec<Arc<dyn Gauges>>,
}

impl Admin {
    /// Serves `metrics`, refreshing `gauges` at each scrape.
    pub fn new(metrics: Metrics, gauges: Vec<Arc<dyn Gauges>>) -> Admin {
        Admin { metrics, gauges }
    }

    /// Serves on `listener` until the future is dropped.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
        let admin = Arc::new(self);
        loop {
            let (stream, client) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!("admin: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let admin = admin.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let admin = admin.clone();
                    async move { Ok::<_, Infallible>(admin.handle(req).await) }
                });
                if let Err(e) = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!("admin: connection from {client}: {e}");
                }
            });
        }
    }

    async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        match (request.method(), request.uri().path()) {
            (&Method::GET | &Method::HEAD, "/metrics") => {
                for gauges in &self.gauges {
                    gauges.refresh().await;
                }
                let mut response = Response::new(Full::from(self.metrics.render()));
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static(PROMETHEUS_TEXT),
                );
                response
            }
            (_, "/metrics") => {
                let mut response = error(StatusCode::METHOD_NOT_ALLOWED, "Use GET");
                response
                    .headers_mut()
                    .insert(http::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
                response
            }
            _ => error(
                StatusCode::NOT_FOUND,
                "Not found: the admin listener serves /metrics",
            ),
        }
    }
}

fn error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    boxoffice_wire::error::response(status, message).map(Full::from)
}
