//! The HTTP front door: accepts connections, routes each request to a component with
//! Spin's request headers, enforces the body limit, turns failures into the API's JSON
//! errors, and logs one line per request.

use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Instant;

use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use wasmtime_wasi_http::WasiBody;

use crate::outbound_http::{Destination, ResponseFuture, ServiceChaining};
use crate::responses::full;
pub use crate::responses::json_error;
use crate::router::RouteMatch;
use crate::runtime::{App, InvokeError};
use boxoffice_telemetry::metrics;
use boxoffice_telemetry::traces::{self, Attribute, Kind};
use boxoffice_wire::cloudevent::TICK_TYPE;
use boxoffice_wire::listener;

pub use boxoffice_wire::limits::{
    MAX_HEADERS, MAX_HEAD_BYTES, MAX_HOST_BODY_BYTES as MAX_BODY_BYTES,
};

/// Serves `app` on `listener` until the process ends, within the listener bounds of
/// [`boxoffice_wire::listener`] (a head within 10 s, at most `max_connections` at once);
/// what a request may carry once its head is read, `handle` holds to the real limits.
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    max_connections: usize,
) -> anyhow::Result<()> {
    let local = listener.local_addr()?;
    let bounds = listener::Bounds {
        max_connections: max_connections.max(1),
        ..listener::Bounds::default()
    };
    listener::serve(listener, bounds, "runtime", move |request, client| {
        let app = app.clone();
        async move { handle(&app, request, client, local).await }
    })
    .await;
    Ok(())
}

/// Handles one request from the network.
pub async fn handle(
    app: &App,
    mut request: Request<Incoming>,
    client: SocketAddr,
    local: SocketAddr,
) -> Response<WasiBody> {
    let start = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let route = app.router().route(&path);
    // The broker's clock would otherwise fill the log with a line per subscriber a second.
    let quiet = request
        .headers()
        .get("ce-type")
        .is_some_and(|t| t.as_bytes() == TICK_TYPE.as_bytes());
    let span = request_span(&method, &path, route.as_ref(), request.headers_mut());
    let response = match routable(&request, &route) {
        Err(refused) => refused,
        Ok(route) => match read_body(request).await {
            Err(response) => response,
            Ok(request) => {
                let request = with_spin_headers(request, route, &client.to_string(), local);
                invoke(app, &route.component, request, 0).await
            }
        },
    };
    record(
        &span,
        &method,
        &path,
        route.as_ref(),
        &response,
        start,
        quiet,
    );
    response
}

/// The route of a request that may go to a component, or the answer to one that may
/// not: a head over the bounds (431), or a path no route matches (404). The error is
/// the answer itself, as with [`read_body`].
#[allow(clippy::result_large_err)]
fn routable<'r, B>(
    request: &Request<B>,
    route: &'r Option<RouteMatch>,
) -> Result<&'r RouteMatch, Response<WasiBody>> {
    if head_too_large(request) {
        return Err(json_error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "Request headers too large",
        ));
    }
    route
        .as_ref()
        .ok_or_else(|| json_error(StatusCode::NOT_FOUND, boxoffice_wire::error::NO_ROUTE))
}

/// Whether the request's head is over [`MAX_HEAD_BYTES`] or [`MAX_HEADERS`].
fn head_too_large<B>(request: &Request<B>) -> bool {
    request.headers().len() > MAX_HEADERS || head_bytes(request) > MAX_HEAD_BYTES
}

/// The bytes of the URI as written and of the headers (`name: value` and CRLF), counted
/// without formatting anything.
fn head_bytes<B>(request: &Request<B>) -> usize {
    let uri = request.uri();
    let uri_bytes = uri.scheme_str().map_or(0, |s| s.len() + "://".len())
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    uri_bytes + header_bytes
}

/// In-process service chaining: a request a component sends to `<id>.spin.internal` or
/// `self` is routed and answered here, without the network. [`App::load`] is given
/// [`InProcessChaining::of`].
pub struct InProcessChaining(Weak<App>);

impl InProcessChaining {
    /// The chaining of the app behind `app`.
    pub fn of(app: Weak<App>) -> Arc<dyn ServiceChaining> {
        Arc::new(Self(app))
    }
}

impl ServiceChaining for InProcessChaining {
    fn dispatch(
        &self,
        target: Destination,
        request: Request<WasiBody>,
        depth: usize,
    ) -> ResponseFuture {
        let app = self.0.upgrade();
        Box::pin(async move {
            let app = app.ok_or(wasmtime_wasi_http::Error::ConnectionRefused)?;
            handle_chained(&app, target, request, depth).await
        })
    }
}

/// Handles a request a component sent to `<id>.spin.internal` or `self`, at chain `depth`.
pub async fn handle_chained(
    app: &App,
    target: Destination,
    mut request: Request<WasiBody>,
    depth: usize,
) -> Result<Response<WasiBody>, wasmtime_wasi_http::Error> {
    let start = Instant::now();
    let path = request.uri().path().to_owned();
    let by_path = app.router().route(&path);
    let route = match target {
        Destination::SelfApp => by_path,
        Destination::Component(id) => {
            if !app.has_component(&id) {
                return Err(wasmtime_wasi_http::Error::DestinationNotFound);
            }
            by_path
                .filter(|m| m.component == id)
                .or_else(|| app.router().route_of(&id))
                .or(Some(RouteMatch {
                    component: id,
                    raw_route: String::new(),
                    component_route: String::new(),
                    path_info: path.clone(),
                }))
        }
        Destination::External => return Err(wasmtime_wasi_http::Error::HttpRequestDenied),
    };
    let method = request.method().clone();
    let span = request_span(&method, &path, route.as_ref(), request.headers_mut());
    let response = match routable(&request, &route) {
        Err(refused) => refused,
        Ok(route) => {
            let local = SocketAddr::from(([127, 0, 0, 1], 0));
            let request = with_spin_headers(request, route, "127.0.0.1:0", local);
            invoke(app, &route.component, request, depth).await
        }
    };
    record(
        &span,
        &method,
        &path,
        route.as_ref(),
        &response,
        start,
        false,
    );
    Ok(response)
}

async fn invoke(
    app: &App,
    component: &str,
    request: Request<WasiBody>,
    depth: usize,
) -> Response<WasiBody> {
    match app.invoke(component, request, depth).await {
        Ok(response) => response,
        Err(e @ InvokeError::TooDeep { .. }) => {
            tracing::warn!("{e}");
            json_error(
                StatusCode::LOOP_DETECTED,
                "Too deep a chain of calls between the shop's services",
            )
        }
        Err(e @ InvokeError::Timeout { .. }) => {
            tracing::warn!("{e}");
            json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "The service did not answer in time; try again shortly",
            )
        }
        Err(e @ InvokeError::Busy { .. }) => {
            tracing::warn!("{e}");
            json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "The shop is too busy to answer; try again shortly",
            )
        }
        Err(InvokeError::Failed(e)) => {
            tracing::error!("{e}: {}", e.root_cause());
            tracing::debug!("{e:?}");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
        }
    }
}

/// Buffers the body up to [`MAX_BODY_BYTES`]; a larger one is answered with 413 before
/// any component runs.
async fn read_body(request: Request<Incoming>) -> Result<Request<WasiBody>, Response<WasiBody>> {
    let too_large = || json_error(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large");
    let declared = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let (parts, body) = request.into_parts();
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(Request::from_parts(parts, full(collected.to_bytes()))),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) => {
            tracing::debug!("reading request body: {e}");
            Err(json_error(StatusCode::BAD_REQUEST, "Invalid request body"))
        }
    }
}

/// Gives the request an absolute URI (the component sees the original path and query) and
/// the `spin-*` headers that Spin sets.
fn with_spin_headers(
    mut request: Request<WasiBody>,
    route: &RouteMatch,
    client: &str,
    local: SocketAddr,
) -> Request<WasiBody> {
    let host = request
        .uri()
        .authority()
        .map(|a| a.to_string())
        .or_else(|| {
            request
                .headers()
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| local.to_string());
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    let full_url = format!("http://{host}{path_and_query}");
    if let Ok(uri) = full_url.parse() {
        *request.uri_mut() = uri;
    }
    let headers = request.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set("spin-full-url", &full_url);
    set("spin-path-info", &route.path_info);
    set("spin-matched-route", &route.raw_route);
    set("spin-component-route", &route.component_route);
    set("spin-raw-component-route", &route.raw_route);
    set("spin-base-path", "/");
    set("spin-client-addr", client);
    request
}

/// Starts the span of a request to `route` (`None`: no route matched), under the trace
/// context the caller sent, and puts the span's own context in `headers`, so that the
/// component, and through it its events, carry it on.
fn request_span(
    method: &http::Method,
    path: &str,
    route: Option<&RouteMatch>,
    headers: &mut http::HeaderMap,
) -> traces::Span {
    let (service, raw_route) = match route {
        Some(route) => (route.component.as_str(), route.raw_route.as_str()),
        None => ("boxoffice", ""),
    };
    let span = traces::start(
        service,
        Kind::Server,
        format!("{method} {raw_route}").trim_end().to_owned(),
        &traces::parent(headers),
        vec![
            Attribute::new("http.request.method", method.to_string()),
            Attribute::new("url.path", path.to_owned()),
            Attribute::new("http.route", raw_route.to_owned()),
        ],
    );
    span.inject(headers);
    span
}

/// Ends a request: its span's status, its metrics, and its one log line (at debug for
/// the broker's ticks).
fn record(
    span: &traces::Span,
    method: &http::Method,
    path: &str,
    route: Option<&RouteMatch>,
    response: &Response<WasiBody>,
    start: Instant,
    quiet: bool,
) {
    let took = start.elapsed();
    // Milliseconds to the microsecond: a field for a log shipper, not a float's noise.
    let ms = (took.as_secs_f64() * 1_000_000.0).round() / 1000.0;
    let status = response.status().as_u16();
    span.set_http_status(status);
    let (component, raw_route) = match route {
        Some(route) => (route.component.as_str(), route.raw_route.as_str()),
        None => ("(no route)", ""),
    };
    metrics::http_request(component, raw_route, method.as_str(), status, took);
    let trace_id = span.trace_id();
    macro_rules! line {
        ($level:ident) => {
            tracing::$level!(
                method = method.as_str(),
                path,
                component,
                route = raw_route,
                status,
                duration_ms = ms,
                trace_id = trace_id.as_deref(),
                "{method} {path} -> {component} {status} ({ms:.1} ms)"
            )
        };
    }
    if quiet {
        line!(debug);
    } else {
        line!(info);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: usize, value_len: usize) -> Request<()> {
        let mut builder = Request::get("/api/tickets");
        for i in 0..headers {
            builder = builder.header(format!("x-h{i}"), "v".repeat(value_len));
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn heads_are_bounded_in_count_and_size() {
        assert!(!head_too_large(&request(MAX_HEADERS, 10)));
        assert!(head_too_large(&request(MAX_HEADERS + 1, 10)));
        assert!(!head_too_large(&request(1, MAX_HEAD_BYTES / 2)));
        assert!(head_too_large(&request(1, MAX_HEAD_BYTES)));
        // The URI counts as written, in origin or absolute form.
        for uri in [
            "/abc?x=1",
            "http://h:1/abc",
            "https://example.com:8443/a/b?c",
        ] {
            let request = Request::get(uri).body(()).unwrap();
            assert_eq!(head_bytes(&request), uri.len(), "{uri}");
        }
    }
}
