//! Outbound networking policy (`allowed_outbound_hosts`, in Spin's syntax) and the
//! `wasi:http/outgoing-handler` hook that applies it: requests to allowed hosts go out,
//! requests to `<component>.spin.internal` or `self` are served in-process (service
//! chaining), and everything else fails with `HttpRequestDenied`. Plain-HTTP requests to the
//! network go through one pooled client per app, so repeated calls to a host (the broker,
//! above all) reuse their connections; HTTPS goes through `wasi:http`'s own client.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use boxoffice_broker::dispatch::HttpClient;
use boxoffice_telemetry::metrics;
use boxoffice_telemetry::traces::{self, Attribute, Kind};
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// Why an `allowed_outbound_hosts` entry could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid allowed outbound host `{entry}`: {reason}")]
pub struct AllowedHostError {
    entry: String,
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// `*.example.com`: any subdomain of `example.com`.
    Subdomain(String),
    Exact(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    Range(u16, u16),
}

/// One parsed `scheme://host:port` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

/// The origin of `url` (`scheme://host[:port]`, without user, path or query): the form an
/// allowed-hosts entry takes, on Spin and on wasmCloud alike.
pub fn origin(url: &str) -> String {
    let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
    let authority = boxoffice_wire::url::authority(url).unwrap_or_default();
    if scheme.is_empty() {
        authority.to_owned()
    } else {
        format!("{scheme}://{authority}")
    }
}

/// The well-known port for a scheme, used when a pattern or URL leaves it out.
pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
        _ => None,
    }
}

impl AllowedHost {
    /// Parses one entry such as `https://*.example.com`, `postgres://*:*` or
    /// `http://localhost:3000..3010`.
    pub fn parse(entry: &str) -> Result<AllowedHost, AllowedHostError> {
        let err = |reason| AllowedHostError {
            entry: entry.to_owned(),
            reason,
        };
        let (scheme, rest) = entry
            .split_once("://")
            .ok_or_else(|| err("expected `scheme://host[:port]`"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') {
            return Err(err("paths are not allowed"));
        }
        let scheme = match scheme {
            "*" => None,
            s if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '+') => {
                Some(s.to_ascii_lowercase())
            }
            _ => return Err(err("invalid scheme")),
        };
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !rest.ends_with(']') => (h, Some(p)),
            _ => (rest, None),
        };
        if host.is_empty() {
            return Err(err("missing host"));
        }
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(domain) = host.strip_prefix("*.") {
            HostPattern::Subdomain(domain.to_ascii_lowercase())
        } else if host.contains('*') {
            return Err(err("`*` may only be the whole host or its first label"));
        } else {
            HostPattern::Exact(host.to_ascii_lowercase())
        };
        let port = match port {
            Some("*") => PortPattern::Any,
            Some(p) => match p.split_once("..") {
                Some((lo, hi)) => PortPattern::Range(
                    lo.parse().map_err(|_| err("invalid port range"))?,
                    hi.parse::<u16>()
                        .map_err(|_| err("invalid port range"))?
                        .saturating_sub(1),
                ),
                None => {
                    let p = p.parse().map_err(|_| err("invalid port"))?;
                    PortPattern::Range(p, p)
                }
            },
            None => match (&host, scheme.as_deref()) {
                (HostPattern::Exact(h), Some("http" | "https")) if h == "self" => PortPattern::Any,
                (_, Some(s)) => {
                    let p = default_port(s).ok_or_else(|| err("no default port for scheme"))?;
                    PortPattern::Range(p, p)
                }
                (_, None) => return Err(err("a port is required when the scheme is `*`")),
            },
        };
        Ok(AllowedHost { scheme, host, port })
    }

    fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let scheme_ok = self.scheme.as_deref().is_none_or(|s| s == scheme);
        let host_ok = match &self.host {
            HostPattern::Any => true,
            HostPattern::Subdomain(domain) => host
                .strip_suffix(domain.as_str())
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
            HostPattern::Exact(h) => h == host,
        };
        let port_ok = match self.port {
            PortPattern::Any => true,
            PortPattern::Range(lo, hi) => (lo..=hi).contains(&port),
        };
        scheme_ok && host_ok && port_ok
    }
}

/// A component's outbound policy: the union of its parsed `allowed_outbound_hosts`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    patterns: Vec<AllowedHost>,
}

impl AllowedHosts {
    /// Parses already-expanded entries. Entries that expanded to an empty string (a
    /// variable left empty) allow nothing and are skipped.
    pub fn parse<'a>(
        entries: impl IntoIterator<Item = &'a str>,
    ) -> Result<AllowedHosts, AllowedHostError> {
        let patterns = entries
            .into_iter()
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(AllowedHost::parse)
            .collect::<Result<_, _>>()?;
        Ok(AllowedHosts { patterns })
    }

    /// Whether `scheme://host:port` may be reached; `port` defaults per scheme.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let scheme = scheme.to_ascii_lowercase();
        let host = host.to_ascii_lowercase();
        let Some(port) = port.or_else(|| default_port(&scheme)) else {
            return false;
        };
        self.patterns.iter().any(|p| p.allows(&scheme, &host, port))
    }
}

/// Where an outbound request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A component of this app, by id (`http://<id>.spin.internal`).
    Component(String),
    /// This app, routed like an incoming request (`http://self`).
    SelfApp,
    /// The network.
    External,
}

/// Classifies a request authority's host.
pub fn destination(host: &str) -> Destination {
    let host = host.to_ascii_lowercase();
    if host == "self" {
        Destination::SelfApp
    } else if let Some(id) = host.strip_suffix(".spin.internal") {
        Destination::Component(id.to_owned())
    } else {
        Destination::External
    }
}

/// A boxed response future, as the `wasi:http` hooks return them.
pub type ResponseFuture = Pin<
    Box<dyn Future<Output = Result<http::Response<WasiBody>, wasmtime_wasi_http::Error>> + Send>,
>;

/// Serves chained requests in-process; implemented by the runtime.
pub trait ServiceChaining: Send + Sync {
    /// Runs `request` against this app, at chain `depth`: a named component, or the router
    /// for `self`.
    fn dispatch(
        &self,
        target: Destination,
        request: http::Request<WasiBody>,
        depth: usize,
    ) -> ResponseFuture;
}

/// The per-instance `wasi:http` hooks: policy check, chaining, or the network.
pub struct OutboundHttp {
    /// The component making the requests (for logs).
    pub component: Arc<str>,
    /// Its policy.
    pub allowed: Arc<AllowedHosts>,
    /// The app, for chained requests.
    pub chaining: Arc<dyn ServiceChaining>,
    /// The app's pooled client for plain HTTP.
    pub client: HttpClient,
    /// The trace of the request the instance answers: outbound calls are its children.
    pub trace: boxoffice_telemetry::traces::Context,
    /// The chain depth of the request the instance answers (0 from the network); its
    /// chained calls run one deeper.
    pub depth: usize,
}

/// How long a plain-HTTP request may wait for its answer's head unless the component
/// says otherwise (`wasi:http`'s own default).
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(600);

/// Sends `request` (plain HTTP) through the pooled `client`. The body is read first: the
/// requests components send (events, API calls) are small.
async fn send_pooled(
    client: HttpClient,
    request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<http::Response<WasiBody>, HttpError> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let request = http::Request::from_parts(parts, Full::new(body));
    let first_byte = options
        .and_then(|o| o.first_byte_timeout)
        .unwrap_or(FIRST_BYTE_TIMEOUT);
    let response = tokio::time::timeout(first_byte, client.request(request))
        .await
        .map_err(|_| HttpError::HttpResponseTimeout)?
        .map_err(|e| {
            if e.is_connect() {
                HttpError::ConnectionRefused
            } else {
                HttpError::InternalError(Some(e.to_string()))
            }
        })?;
    Ok(response.map(|body| body.map_err(HttpError::from).boxed_unsync()))
}

type SendFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for OutboundHttp {
    /// Sends `request` (see [`Self::send`]) in a span of the instance's trace, with the
    /// span's `traceparent`, and counts it by destination host and status.
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> SendFuture {
        let host = request
            .uri()
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default();
        let span = traces::start(
            &self.component,
            Kind::Client,
            format!("{} {host}", request.method()),
            &self.trace,
            vec![
                Attribute::new("http.request.method", request.method().to_string()),
                Attribute::new("server.address", host.clone()),
                Attribute::new("url.path", request.uri().path().to_owned()),
            ],
        );
        span.inject(request.headers_mut());
        let allowed = self.allows(request.uri());
        // A denied destination is the component's choice, not a grant: one series for all.
        let host = if allowed { host } else { "(denied)".to_owned() };
        let component = self.component.clone();
        let start = Instant::now();
        let sent = Box::into_pin(self.send(request, options, allowed));
        Box::new(async move {
            let result = sent.await;
            match &result {
                Ok((response, _)) => {
                    let status = response.status().as_u16();
                    span.set_http_status(status);
                    metrics::outbound(&component, &host, Some(status), start.elapsed());
                }
                Err(e) => {
                    span.fail(format!("{e:?}"));
                    metrics::outbound(&component, &host, None, start.elapsed());
                }
            }
            result
        })
    }
}

impl OutboundHttp {
    /// Whether `allowed_outbound_hosts` lets the component reach `uri`.
    fn allows(&self, uri: &http::Uri) -> bool {
        self.allowed.allows(
            uri.scheme_str().unwrap_or("http"),
            uri.host().unwrap_or_default(),
            uri.port_u16(),
        )
    }

    /// The `wasi:http` hook itself: refused unless `allowed` (see [`Self::allows`]), then
    /// in-process chaining, the pooled client (plain HTTP) or a fresh TLS connection.
    fn send(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        allowed: bool,
    ) -> SendFuture {
        let uri = request.uri().clone();
        let scheme = uri.scheme_str().unwrap_or("http");
        let host = uri.host().unwrap_or_default();
        if !allowed {
            tracing::warn!(
                component = %self.component,
                "{}: outbound request to {uri} denied: not in allowed_outbound_hosts",
                self.component
            );
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        let done = || Box::new(async { Ok(()) }) as Box<dyn Future<Output = _> + Send>;
        match destination(host) {
            Destination::External if scheme == "http" => {
                let client = self.client.clone();
                Box::new(async move { Ok((send_pooled(client, request, options).await?, done())) })
            }
            Destination::External => Box::new(async move {
                let (response, io) =
                    wasmtime_wasi_http::default_send_request(request, options).await?;
                Ok((
                    response.map(BodyExt::boxed_unsync),
                    Box::new(io) as Box<dyn Future<Output = _> + Send>,
                ))
            }),
            target => {
                let response = self.chaining.dispatch(target, request, self.depth + 1);
                Box::new(async move { Ok((response.await?, done())) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_is_scheme_host_and_port_only() {
        assert_eq!(origin("http://127.0.0.1:3001"), "http://127.0.0.1:3001");
        assert_eq!(
            origin("http://broker-ingress.knative-eventing.svc/boxoffice/default"),
            "http://broker-ingress.knative-eventing.svc"
        );
        assert_eq!(
            origin("https://u:p@api.stripe.com/v1?x"),
            "https://api.stripe.com"
        );
        assert_eq!(origin("example.com:8443"), "example.com:8443");
    }

    fn hosts(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(entries.iter().copied()).unwrap()
    }

    #[test]
    fn exact_host_with_default_port() {
        let h = hosts(&["https://api.stripe.com"]);
        assert!(h.allows("https", "api.stripe.com", None));
        assert!(h.allows("https", "api.stripe.com", Some(443)));
        assert!(!h.allows("https", "api.stripe.com", Some(8443)));
        assert!(!h.allows("http", "api.stripe.com", None));
        assert!(!h.allows("https", "evil.com", None));
    }

    #[test]
    fn explicit_port_and_port_wildcards() {
        let h = hosts(&["http://127.0.0.1:3001", "postgres://*:*"]);
        assert!(h.allows("http", "127.0.0.1", Some(3001)));
        assert!(!h.allows("http", "127.0.0.1", Some(3002)));
        assert!(!h.allows("http", "127.0.0.1", None));
        assert!(h.allows("postgres", "db.internal", Some(6543)));
        assert!(h.allows("postgres", "db.internal", None));
        assert!(!h.allows("http", "db.internal", Some(5432)));
    }

    #[test]
    fn subdomain_and_scheme_wildcards() {
        let h = hosts(&["*://*.example.com:443"]);
        assert!(h.allows("https", "api.example.com", None));
        assert!(h.allows("wss", "a.b.example.com", Some(443)));
        assert!(!h.allows("https", "example.com", None));
        assert!(!h.allows("https", "badexample.com", None));
    }

    #[test]
    fn port_ranges_exclude_the_end() {
        let h = hosts(&["http://localhost:3000..3002"]);
        assert!(h.allows("http", "localhost", Some(3000)));
        assert!(h.allows("http", "localhost", Some(3001)));
        assert!(!h.allows("http", "localhost", Some(3002)));
    }

    #[test]
    fn service_chaining_hosts() {
        let h = hosts(&["http://auth.spin.internal", "http://self"]);
        assert!(h.allows("http", "auth.spin.internal", None));
        assert!(!h.allows("http", "orders.spin.internal", None));
        assert!(h.allows("http", "self", None));
        assert_eq!(
            destination("auth.spin.internal"),
            Destination::Component("auth".into())
        );
        assert_eq!(destination("self"), Destination::SelfApp);
        assert_eq!(destination("example.com"), Destination::External);
        let h = hosts(&["http://*.spin.internal"]);
        assert!(h.allows("http", "orders.spin.internal", None));
    }

    #[test]
    fn nothing_allowed_by_default_and_empty_entries_skipped() {
        assert!(!hosts(&[]).allows("https", "example.com", None));
        assert!(!hosts(&[""]).allows("https", "example.com", None));
    }

    #[test]
    fn invalid_entries_are_errors() {
        for bad in [
            "example.com",
            "https://example.com/path",
            "https://ex*ample.com",
            "*://example.com",
            "https://example.com:notaport",
            "foo://example.com",
        ] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
