//! The broker's front door: CloudEvents POSTed over HTTP, in binary mode (`ce-*` headers,
//! the body is the data) or structured mode (`application/cloudevents+json`), on any path
//! (Knative-style URLs work). An event is acknowledged with 202 only once it and its
//! deliveries are committed; a duplicate (same source and id) is acknowledged and ignored.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::Value;
use tokio::sync::Notify;
use wasmtime_wasi_http::WasiBody;

use super::store::{now_ms, Accepted, EventQueue};
use super::subscriptions::Subscriptions;
use super::{Event, SPEC_VERSION};
use crate::http_server::{json_error, MAX_BODY_BYTES};

/// The content type of a structured-mode event.
pub const STRUCTURED_CONTENT_TYPE: &str = "application/cloudevents+json";

/// Serves the ingress on `listener` until the future is dropped; `wake` is notified after
/// every newly stored event.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Arc<dyn EventQueue>,
    subscriptions: Arc<Subscriptions>,
    wake: Arc<Notify>,
) -> anyhow::Result<()> {
    loop {
        let (stream, client) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!("broker: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let (store, subscriptions, wake) = (store.clone(), subscriptions.clone(), wake.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let (store, subscriptions, wake) =
                    (store.clone(), subscriptions.clone(), wake.clone());
                async move { Ok::<_, Infallible>(handle(req, &*store, &subscriptions, &wake).await) }
            });
            if let Err(e) = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!("broker: connection from {client}: {e}");
            }
        });
    }
}

async fn handle(
    request: Request<Incoming>,
    store: &dyn EventQueue,
    subscriptions: &Subscriptions,
    wake: &Notify,
) -> Response<WasiBody> {
    if request.method() != Method::POST {
        let mut response = json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "The broker accepts CloudEvents with POST",
        );
        response
            .headers_mut()
            .insert(http::header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return json_error(StatusCode::PAYLOAD_TOO_LARGE, "Event too large");
        }
        Err(e) => {
            tracing::debug!("broker: reading an event: {e}");
            return json_error(StatusCode::BAD_REQUEST, "Invalid request body");
        }
    };
    let event = match parse(&parts.headers, body) {
        Ok(event) => event,
        Err(message) => {
            tracing::debug!("broker: refused an event: {message}");
            return json_error(StatusCode::BAD_REQUEST, &message);
        }
    };
    let targets: Vec<String> = subscriptions
        .matching(&event.ty)
        .map(str::to_owned)
        .collect();
    let (id, ty) = (event.id.clone(), event.ty.clone());
    match store.accept(event, targets, now_ms()).await {
        Ok(Accepted::New(n)) => {
            tracing::debug!("broker: accepted event {id} ({ty}) for {n} subscription(s)");
            wake.notify_one();
        }
        Ok(Accepted::Duplicate) => {
            tracing::debug!("broker: event {id} ({ty}) is a duplicate; acknowledged");
        }
        Err(e) => {
            tracing::error!("broker: cannot store event {id} ({ty}): {e}");
            return json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "The event could not be stored",
            );
        }
    }
    let mut response = Response::new(Empty::new().map_err(|never| match never {}).boxed_unsync());
    *response.status_mut() = StatusCode::ACCEPTED;
    response
}

/// Reads one event from a request's headers and body; the error is the client's message.
pub fn parse(headers: &HeaderMap, body: Bytes) -> Result<Event, String> {
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .map(|v| {
            v.to_str()
                .map(str::to_owned)
                .map_err(|_| "content-type is not valid text".to_owned())
        })
        .transpose()?;
    let structured = content_type.as_deref().is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case(STRUCTURED_CONTENT_TYPE))
    });
    if structured {
        parse_structured(&body)
    } else {
        parse_binary(headers, content_type, body)
    }
}

fn parse_binary(
    headers: &HeaderMap,
    content_type: Option<String>,
    body: Bytes,
) -> Result<Event, String> {
    let mut attributes = BTreeMap::new();
    for (name, value) in headers {
        if let Some(attribute) = name.as_str().strip_prefix("ce-") {
            let value = value
                .to_str()
                .map_err(|_| format!("header {name} is not valid text"))?;
            if !attribute.is_empty() {
                attributes.insert(name.as_str().to_owned(), value.to_owned());
            }
        }
    }
    finish(attributes, content_type, body, "header ce-")
}

fn parse_structured(body: &[u8]) -> Result<Event, String> {
    let json: Value = serde_json::from_slice(body)
        .map_err(|e| format!("a structured event must be a JSON object: {e}"))?;
    let Value::Object(object) = json else {
        return Err("a structured event must be a JSON object".into());
    };
    let mut attributes = BTreeMap::new();
    let mut content_type = None;
    let mut data = None;
    let mut data_base64 = None;
    for (name, value) in object {
        match name.as_str() {
            "data" => data = Some(value),
            "data_base64" => data_base64 = Some(value),
            _ => {
                let text = match value {
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    Value::Null => continue,
                    _ => return Err(format!("attribute `{name}` must be a string")),
                };
                if name == "datacontenttype" {
                    content_type = Some(text);
                } else {
                    attributes.insert(format!("ce-{}", name.to_ascii_lowercase()), text);
                }
            }
        }
    }
    let data = match (data, data_base64) {
        (Some(_), Some(_)) => return Err("an event has either data or data_base64".into()),
        (None, Some(Value::String(encoded))) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| "data_base64 is not valid base64".to_owned())?,
        (None, Some(_)) => return Err("data_base64 must be a string".into()),
        (Some(data), None) => {
            let is_json = content_type.as_deref().is_none_or(|ct| ct.contains("json"));
            match data {
                Value::String(text) if !is_json => text.into_bytes(),
                data => serde_json::to_vec(&data).expect("a JSON value serializes"),
            }
        }
        (None, None) => Vec::new(),
    };
    if content_type.is_none() && !data.is_empty() {
        content_type = Some("application/json".to_owned());
    }
    finish(attributes, content_type, data.into(), "attribute ")
}

/// Checks the required attributes common to both modes.
fn finish(
    attributes: BTreeMap<String, String>,
    content_type: Option<String>,
    data: Bytes,
    prefix: &str,
) -> Result<Event, String> {
    let required = |name: &str| -> Result<String, String> {
        match attributes.get(&format!("ce-{name}")) {
            Some(value) if !value.is_empty() => Ok(value.clone()),
            _ => Err(format!("missing required {prefix}{name}")),
        }
    };
    let version = required("specversion")?;
    if version != SPEC_VERSION {
        return Err(format!(
            "unsupported CloudEvents specversion `{version}` (expected {SPEC_VERSION})"
        ));
    }
    let (id, source, ty) = (required("id")?, required("source")?, required("type")?);
    Ok(Event {
        id,
        source,
        ty,
        attributes,
        content_type,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    const BINARY: [(&str, &str); 6] = [
        ("ce-specversion", "1.0"),
        ("ce-id", "e1"),
        ("ce-type", "ticket:created"),
        ("ce-source", "/tickets"),
        ("ce-time", "2025-01-01T00:00:00Z"),
        ("content-type", "application/json"),
    ];

    #[test]
    fn binary_mode_keeps_every_ce_header_and_the_body() {
        let mut h = headers(&BINARY);
        h.insert("ce-traceparent", HeaderValue::from_static("00-abc"));
        h.insert("x-other", HeaderValue::from_static("no"));
        let event = parse(&h, Bytes::from_static(b"{\"a\":1}")).unwrap();
        assert_eq!(
            (event.id.as_str(), event.source.as_str()),
            ("e1", "/tickets")
        );
        assert_eq!(event.ty, "ticket:created");
        assert_eq!(event.content_type.as_deref(), Some("application/json"));
        assert_eq!(&event.data[..], b"{\"a\":1}");
        assert_eq!(event.attributes["ce-time"], "2025-01-01T00:00:00Z");
        assert_eq!(event.attributes["ce-traceparent"], "00-abc");
        assert_eq!(event.attributes.len(), 6);
    }

    #[test]
    fn binary_mode_requires_the_core_attributes() {
        for missing in ["ce-specversion", "ce-id", "ce-type", "ce-source"] {
            let pairs: Vec<_> = BINARY
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            let err = parse(&headers(&pairs), Bytes::new()).unwrap_err();
            assert!(err.contains(&format!("header {missing}")), "{err}");
        }
        let mut h = headers(&BINARY);
        h.insert("ce-specversion", HeaderValue::from_static("0.3"));
        assert!(parse(&h, Bytes::new()).unwrap_err().contains("specversion"));
    }

    #[test]
    fn structured_mode_becomes_a_binary_event() {
        let h = headers(&[(
            "content-type",
            "application/cloudevents+json; charset=utf-8",
        )]);
        let body = serde_json::json!({
            "specversion": "1.0", "id": "e2", "type": "order:created", "source": "/orders",
            "subject": "o-1", "data": {"orderId": "o-1"}
        });
        let event = parse(&h, body.to_string().into()).unwrap();
        assert_eq!(event.id, "e2");
        assert_eq!(event.attributes["ce-subject"], "o-1");
        assert_eq!(event.content_type.as_deref(), Some("application/json"));
        assert_eq!(
            serde_json::from_slice::<Value>(&event.data).unwrap(),
            serde_json::json!({"orderId": "o-1"})
        );

        let text = serde_json::json!({
            "specversion": "1.0", "id": "e3", "type": "t", "source": "/s",
            "datacontenttype": "text/plain", "data": "hello"
        });
        let event = parse(&h, text.to_string().into()).unwrap();
        assert_eq!(&event.data[..], b"hello");
        assert_eq!(event.content_type.as_deref(), Some("text/plain"));

        let b64 = serde_json::json!({
            "specversion": "1.0", "id": "e4", "type": "t", "source": "/s",
            "datacontenttype": "application/octet-stream", "data_base64": "AAEC"
        });
        assert_eq!(
            &parse(&h, b64.to_string().into()).unwrap().data[..],
            [0, 1, 2]
        );
    }

    #[test]
    fn structured_mode_refuses_malformed_events() {
        let h = headers(&[("content-type", STRUCTURED_CONTENT_TYPE)]);
        let cases = [
            ("not json", "JSON object"),
            ("[1]", "JSON object"),
            (
                r#"{"specversion":"1.0","id":"e","type":"t"}"#,
                "attribute source",
            ),
            (
                r#"{"specversion":"1.0","id":"e","type":"t","source":{}}"#,
                "must be a string",
            ),
        ];
        for (body, needle) in cases {
            let err = parse(&h, Bytes::from(body)).unwrap_err();
            assert!(err.contains(needle), "{body}: {err}");
        }
    }
}
