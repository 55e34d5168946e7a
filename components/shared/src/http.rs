//! Reading requests (with a body size cap), routing on path segments, and JSON responses.
//!
//! A service entry point turns the Spin request into an [`ApiRequest`] with
//! [`ApiRequest::read`], then finds its operation in the component's route table of
//! `boxoffice-api` ([`ApiRequest::route`]); tests build an `ApiRequest` directly.

use std::net::{IpAddr, SocketAddr};

use futures::StreamExt;
use serde::Serialize;
use serde_json::{Map, Value};
use spin_sdk::http::{IncomingRequest, Method, Response, Scheme};

use crate::ApiError;

pub use boxoffice_api::route::Params;

pub use boxoffice_wire::limits::{MAX_JSON_DEPTH, MAX_SERVICE_BODY_BYTES as MAX_BODY_BYTES};

/// An incoming request, fully read: what the routes and rules work on.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// The HTTP method.
    pub method: Method,
    /// The path, without the query string.
    pub path: String,
    /// The query string, without its `?` (empty when there is none).
    pub query: String,
    /// Header names in lower case, with their values (non-UTF-8 values are dropped).
    pub headers: Vec<(String, String)>,
    /// The raw body, at most [`MAX_BODY_BYTES`].
    pub body: Vec<u8>,
    /// Whether the host says the request arrived over HTTPS (the URI scheme).
    pub https_scheme: bool,
}

impl ApiRequest {
    /// A request with no headers and no body, for tests and internal calls.
    pub fn new(method: Method, path: &str) -> Self {
        Self {
            method,
            path: path.to_owned(),
            query: String::new(),
            headers: Vec::new(),
            body: Vec::new(),
            https_scheme: false,
        }
    }

    /// Adds a header (the name is lower-cased).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// Sets a JSON body.
    pub fn with_json(mut self, body: &Value) -> Self {
        self.body = body.to_string().into_bytes();
        self.with_header("content-type", "application/json")
    }

    /// Reads a Spin request, body included; a body over [`MAX_BODY_BYTES`] is a 413
    /// (refused from `content-length` when it says so, otherwise while streaming).
    pub async fn read(request: IncomingRequest) -> Result<Self, ApiError> {
        let method = request.method();
        let path_and_query = request.path_with_query().unwrap_or_else(|| "/".to_owned());
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path.to_owned(), query.to_owned()),
            None => (path_and_query, String::new()),
        };
        let https_scheme = matches!(request.scheme(), Some(Scheme::Https));
        let headers: Vec<(String, String)> = request
            .headers()
            .entries()
            .into_iter()
            .filter_map(|(name, value)| {
                String::from_utf8(value)
                    .ok()
                    .map(|value| (name.to_ascii_lowercase(), value))
            })
            .collect();
        let declared = headers
            .iter()
            .find(|(name, _)| name == "content-length")
            .and_then(|(_, value)| value.trim().parse::<u64>().ok());
        if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
            return Err(ApiError::PayloadTooLarge);
        }
        let mut body = Vec::new();
        let mut stream = request.into_body_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::bad_request(format!("Could not read the request body: {e:?}"))
            })?;
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(ApiError::PayloadTooLarge);
            }
            body.extend(chunk);
        }
        Ok(Self {
            method,
            path,
            query,
            headers,
            body,
            https_scheme,
        })
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The non-empty path segments: `/api/tickets/abc/` is `["api", "tickets", "abc"]`.
    pub fn segments(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }

    /// The documented operation of a component's route table (`boxoffice_api::<component>::route`)
    /// that answers this request, with its path parameters; `None` is [`not_found`].
    pub fn route<O>(&self, table: fn(&str, &str) -> Option<(O, Params)>) -> Option<(O, Params)> {
        table(&self.method.to_string(), &self.path)
    }

    /// Where the request came from: the peer the host saw (`spin-client-addr`), or, when
    /// that is the host itself (a chained call from the pages or GraphQL), the peer they
    /// say they act for ([`CLIENT_HEADER`]); and the `x-forwarded-for` hops.
    pub fn origin(&self) -> Origin {
        let seen = self.header("spin-client-addr").and_then(parse_address);
        let relayed = seen
            .filter(IpAddr::is_loopback)
            .and_then(|_| self.header(CLIENT_HEADER).and_then(parse_address));
        Origin {
            peer: relayed.or(seen),
            forwarded_for: self
                .headers
                .iter()
                .filter(|(name, _)| name.eq_ignore_ascii_case("x-forwarded-for"))
                .flat_map(|(_, value)| value.split(','))
                .filter_map(parse_address)
                .collect(),
        }
    }

    /// The address of the client this request acts for, for throttling
    /// ([`Origin::client`]).
    pub fn client_address(&self, trusted: &[IpAddr]) -> Option<IpAddr> {
        self.origin().client(trusted)
    }

    /// Whether the request arrived over HTTPS: the scheme, Spin's `spin-full-url`, or a
    /// proxy's `x-forwarded-proto`.
    pub fn is_https(&self) -> bool {
        let full_url_https = self.header("spin-full-url").is_some_and(|url| {
            url.get(..8)
                .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
        });
        let forwarded_https = self.header("x-forwarded-proto").is_some_and(|proto| {
            proto
                .split(',')
                .next()
                .is_some_and(|first| first.trim().eq_ignore_ascii_case("https"))
        });
        self.https_scheme || full_url_https || forwarded_https
    }

    /// The value of the cookie `name`, from every `cookie` header.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "cookie")
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.trim())
    }

    /// The body as a JSON object; an empty body is an empty object, so that missing
    /// fields are reported as field errors. Malformed JSON, a non-object or nesting deeper
    /// than [`MAX_JSON_DEPTH`] is a 400.
    pub fn json_object(&self) -> Result<JsonObject, ApiError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonObject(Map::new()));
        }
        if json_depth(&self.body) > MAX_JSON_DEPTH {
            return Err(ApiError::bad_request(format!(
                "The request body is nested more than {MAX_JSON_DEPTH} levels deep"
            )));
        }
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(map)) => Ok(JsonObject(map)),
            Ok(_) => Err(ApiError::bad_request(
                "The request body must be a JSON object",
            )),
            Err(_) => Err(ApiError::bad_request("The request body is not valid JSON")),
        }
    }
}

/// The deepest nesting of `[` and `{` in JSON text, strings skipped (without parsing, so
/// that it is safe on any input).
pub fn json_depth(text: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &byte in text {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// A JSON object request body; fields are read with [`JsonObject::get`] and checked by
/// the helpers of [`crate::validate`].
#[derive(Debug, Clone, Default)]
pub struct JsonObject(pub Map<String, Value>);

impl JsonObject {
    /// The value of a field, if present.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.0.get(field)
    }
}

/// A JSON response with the given status.
pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response, ApiError> {
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body)?)
        .build())
}

/// The header in which the pages and GraphQL tell a service, on a chained call, the
/// address of the client they act for ([`ApiRequest::client_address`]).
pub const CLIENT_HEADER: &str = "boxoffice-client-addr";

/// Where a request came from, as the host and the proxies before it told.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The peer the host saw, or the one the pages or GraphQL acted for.
    pub peer: Option<IpAddr>,
    /// The hops of `x-forwarded-for`, nearest last.
    pub forwarded_for: Vec<IpAddr>,
}

impl Origin {
    /// The client's address: the peer; when the peer is one of the `trusted` proxies, the
    /// nearest hop of `x-forwarded-for` that is not one of them. A header no trusted hop
    /// set is never believed.
    pub fn client(&self, trusted: &[IpAddr]) -> Option<IpAddr> {
        let peer = self.peer?;
        if !trusted.contains(&peer) {
            return Some(peer);
        }
        Some(
            self.forwarded_for
                .iter()
                .rev()
                .find(|hop| !trusted.contains(hop))
                .copied()
                .unwrap_or(peer),
        )
    }

    /// The headers that carry this origin on a chained call, for the called service to
    /// judge with its own trusted proxies.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = Vec::new();
        if let Some(peer) = self.peer {
            headers.push((CLIENT_HEADER, peer.to_string()));
        }
        if !self.forwarded_for.is_empty() {
            let hops: Vec<String> = self.forwarded_for.iter().map(IpAddr::to_string).collect();
            headers.push(("x-forwarded-for", hops.join(", ")));
        }
        headers
    }
}

/// An address as `1.2.3.4`, `1.2.3.4:5678`, `::1` or `[::1]:5678`.
pub fn parse_address(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

/// The proxies whose `x-forwarded-for` is believed: the variable `trusted_proxies`, IP
/// addresses separated by commas or spaces (none by default).
pub fn trusted_proxies() -> Result<Vec<IpAddr>, ApiError> {
    Ok(crate::config::variable("trusted_proxies")?
        .unwrap_or_default()
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter_map(parse_address)
        .collect())
}

/// What an outbound request got back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutboundResponse {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
    /// The headers, names in lower case.
    pub headers: Vec<(String, String)>,
}

impl OutboundResponse {
    /// The value of header `name` (lower case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// POSTs `body` with `headers` to `url` through the host's outgoing HTTP (allowed hosts
/// only); `Err` says why no answer came.
pub async fn post(
    url: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Result<OutboundResponse, String> {
    send(Method::Post, url, headers, body).await
}

/// Sends a request with `method`, `headers` and `body` to `url` through the host's
/// outgoing HTTP (allowed hosts only); `Err` says why no answer came.
pub async fn send(
    method: Method,
    url: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Result<OutboundResponse, String> {
    let mut builder = spin_sdk::http::Request::builder();
    builder.method(method.clone()).uri(url);
    for (name, value) in headers {
        builder.header(name.as_str(), value.as_str());
    }
    let request = builder.body(body).build();
    let response: Response = spin_sdk::http::send(request)
        .await
        .map_err(|e| format!("{method:?} {url}: {e}"))?;
    let headers = response
        .headers()
        .map(|(name, value)| {
            let value = value.as_str().map(str::to_owned).unwrap_or_default();
            (name.to_ascii_lowercase(), value)
        })
        .collect();
    Ok(OutboundResponse {
        status: *response.status(),
        headers,
        body: response.into_body(),
    })
}

/// The answer to an unknown route, whatever the method.
pub fn not_found() -> Response {
    ApiError::NoRoute.to_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_ignore_empty_parts() {
        let r = ApiRequest::new(Method::Get, "/api/tickets/abc/");
        assert_eq!(r.segments(), ["api", "tickets", "abc"]);
        assert!(ApiRequest::new(Method::Get, "/").segments().is_empty());
    }

    #[test]
    fn requests_find_their_documented_operation() {
        use boxoffice_api::tickets::{route, Operation};
        let (operation, params) = ApiRequest::new(Method::Put, "/api/tickets/abc/")
            .route(route)
            .unwrap();
        assert_eq!((operation, params.get("id")), (Operation::Edit, "abc"));
        assert!(ApiRequest::new(Method::Patch, "/api/tickets/abc")
            .route(route)
            .is_none());
        let body: serde_json::Value = serde_json::from_slice(not_found().body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"errors": [{"message": "Route not found"}]})
        );
    }

    #[test]
    fn https_is_detected_from_headers() {
        let plain = ApiRequest::new(Method::Get, "/");
        assert!(!plain.is_https());
        assert!(plain
            .clone()
            .with_header("spin-full-url", "https://example.com/x")
            .is_https());
        assert!(plain
            .clone()
            .with_header("X-Forwarded-Proto", "HTTPS")
            .is_https());
        assert!(!plain
            .clone()
            .with_header("spin-full-url", "http://example.com/x")
            .is_https());
    }

    #[test]
    fn cookies_are_found_among_others() {
        let r = ApiRequest::new(Method::Get, "/").with_header("cookie", "a=1; session=abc==; b=2");
        assert_eq!(r.cookie("session"), Some("abc=="));
        assert_eq!(r.cookie("c"), None);
    }

    #[test]
    fn json_depth_counts_nesting_outside_strings() {
        assert_eq!(json_depth(b"{}"), 1);
        assert_eq!(json_depth(br#"{"a":[1,{"b":2}]}"#), 3);
        assert_eq!(json_depth(br#"{"a":"[[[{{{"}"#), 1);
        assert_eq!(json_depth(br#"{"a":"\"[[["}"#), 1);
        assert_eq!(json_depth(b"]]]}}}"), 0);
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(json_depth(deep.as_bytes()), 10_000);
        let mut request = ApiRequest::new(Method::Post, "/");
        request.body = format!("{{\"a\":{deep}}}").into_bytes();
        let refused = request.json_object().unwrap_err();
        assert_eq!(refused.status(), 400);
        assert!(refused.to_string().contains("nested"), "{refused}");
    }

    #[test]
    fn bodies_must_be_json_objects() {
        let empty = ApiRequest::new(Method::Post, "/");
        assert!(empty.json_object().unwrap().0.is_empty());
        let mut bad = ApiRequest::new(Method::Post, "/");
        bad.body = b"{not json".to_vec();
        assert_eq!(bad.json_object().unwrap_err().status(), 400);
        bad.body = b"[1,2]".to_vec();
        assert_eq!(bad.json_object().unwrap_err().status(), 400);
        let ok = ApiRequest::new(Method::Post, "/").with_json(&serde_json::json!({"a": 1}));
        assert_eq!(
            ok.json_object().unwrap().get("a"),
            Some(&serde_json::json!(1))
        );
    }

    #[test]
    fn the_client_address_is_believed_only_from_the_host_or_a_trusted_proxy() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let from =
            |peer: &str| ApiRequest::new(Method::Post, "/").with_header("spin-client-addr", peer);
        assert_eq!(
            from("203.0.113.9:5151").client_address(&[]),
            Some(ip("203.0.113.9"))
        );
        // A client cannot claim another address.
        let spoofed = from("203.0.113.9:5151")
            .with_header(CLIENT_HEADER, "198.51.100.1")
            .with_header("x-forwarded-for", "198.51.100.2");
        assert_eq!(spoofed.client_address(&[]), Some(ip("203.0.113.9")));
        // A chained call from the pages says whom it acts for.
        let chained = from("127.0.0.1:0").with_header(CLIENT_HEADER, "198.51.100.1");
        assert_eq!(chained.client_address(&[]), Some(ip("198.51.100.1")));
        assert_eq!(
            from("127.0.0.1:0").client_address(&[]),
            Some(ip("127.0.0.1"))
        );
        // Behind a trusted proxy: the nearest forwarded hop it did not add itself.
        let proxy = ip("10.0.0.5");
        let proxied = from("10.0.0.5:80")
            .with_header("x-forwarded-for", "198.51.100.7, 203.0.113.4, 10.0.0.5");
        assert_eq!(proxied.client_address(&[proxy]), Some(ip("203.0.113.4")));
        assert_eq!(
            proxied.client_address(&[]),
            Some(proxy),
            "an untrusted proxy is the client"
        );
        assert_eq!(ApiRequest::new(Method::Get, "/").client_address(&[]), None);
        // The pages relay what they saw, and auth judges it with its own proxies.
        let mut relayed = from("127.0.0.1:0");
        for (name, value) in proxied.origin().headers() {
            relayed = relayed.with_header(name, &value);
        }
        assert_eq!(relayed.client_address(&[proxy]), Some(ip("203.0.113.4")));
        assert_eq!(relayed.client_address(&[]), Some(proxy));
        assert_eq!(parse_address(" [::1]:80 "), Some(ip("::1")));
    }
}
