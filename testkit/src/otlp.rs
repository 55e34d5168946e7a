//! A local OpenTelemetry collector for the tests: it takes OTLP/HTTP trace exports in the
//! JSON encoding (`POST /v1/traces`, `application/json`, as the OTLP specification defines
//! it: lowerCamelCase fields, hex trace and span ids) and keeps every span it receives.
//! Anything else (another path, protobuf) is refused as a collector would refuse it.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Response, StatusCode};
use serde_json::Value;

use crate::local_server::LocalServer;

/// One span as received.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedSpan {
    /// The `service.name` of its resource.
    pub service: String,
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    /// OTLP's SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
    pub kind: i64,
    /// Its attributes' string and integer values, by key.
    pub attributes: Vec<(String, String)>,
}

/// A running receiver; stops when dropped.
pub struct OtlpReceiver {
    server: LocalServer,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
}

impl OtlpReceiver {
    pub fn start() -> OtlpReceiver {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let kept = spans.clone();
        let server = LocalServer::start(move |req| {
            let kept = kept.clone();
            async move {
                let json = req
                    .headers()
                    .get(http::header::CONTENT_TYPE)
                    .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
                let traces = req.method() == http::Method::POST && req.uri().path() == "/v1/traces";
                if !traces {
                    return answer(StatusCode::NOT_FOUND, "");
                }
                if !json {
                    return answer(StatusCode::UNSUPPORTED_MEDIA_TYPE, "");
                }
                let body = match req.into_body().collect().await {
                    Ok(body) => body.to_bytes(),
                    Err(_) => return answer(StatusCode::BAD_REQUEST, ""),
                };
                match serde_json::from_slice::<Value>(&body).map(|v| spans_of(&v)) {
                    Ok(Some(received)) => {
                        kept.lock().unwrap().extend(received);
                        answer(StatusCode::OK, "{}")
                    }
                    _ => answer(StatusCode::BAD_REQUEST, ""),
                }
            }
        });
        OtlpReceiver { server, spans }
    }

    /// The endpoint to give as `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        self.server.base_url()
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().unwrap().clone()
    }
}

fn answer(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// The spans of an `ExportTraceServiceRequest`, or `None` when it is not one.
fn spans_of(request: &Value) -> Option<Vec<ReceivedSpan>> {
    let mut out = Vec::new();
    for resource_spans in request.get("resourceSpans")?.as_array()? {
        let service = attributes(resource_spans.pointer("/resource/attributes"))
            .into_iter()
            .find(|(k, _)| k == "service.name")
            .map(|(_, v)| v)?;
        for scope_spans in resource_spans.get("scopeSpans")?.as_array()? {
            for span in scope_spans.get("spans")?.as_array()? {
                let text = |key: &str| span.get(key).and_then(Value::as_str).map(str::to_owned);
                let trace_id = text("traceId")?;
                let span_id = text("spanId")?;
                let hex = |id: &str, len: usize| {
                    id.len() == len && id.bytes().all(|b| b.is_ascii_hexdigit())
                };
                if !hex(&trace_id, 32) || !hex(&span_id, 16) {
                    return None;
                }
                out.push(ReceivedSpan {
                    service: service.clone(),
                    trace_id,
                    span_id,
                    parent_span_id: text("parentSpanId").unwrap_or_default(),
                    name: text("name")?,
                    kind: span.get("kind").and_then(Value::as_i64).unwrap_or(0),
                    attributes: attributes(span.get("attributes")),
                });
            }
        }
    }
    Some(out)
}

/// OTLP `KeyValue`s with string or integer values (integers are JSON strings or numbers).
fn attributes(list: Option<&Value>) -> Vec<(String, String)> {
    let Some(list) = list.and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|kv| {
            let key = kv.get("key")?.as_str()?.to_owned();
            let value = kv.get("value")?;
            let value = value
                .get("stringValue")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| {
                    value
                        .get("intValue")
                        .map(|v| v.to_string().trim_matches('"').to_owned())
                })?;
            Some((key, value))
        })
        .collect()
}
