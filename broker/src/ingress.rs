//! The broker's front door: CloudEvents POSTed over HTTP, in binary mode (`ce-*` headers,
//! the body is the data) or structured mode (`application/cloudevents+json`), on any path
//! (Knative-style URLs work). An event is acknowledged with 202 only once it and its
//! deliveries are committed; a duplicate (same source and id) is acknowledged and ignored.
//! `GET /health` answers 200, so that a probe can tell the broker is up.
//!
//! Given the publishers' public keys (what `boxoffice up` and `boxoffice broker` always
//! give it), the ingress is authenticated: an event is accepted only from a source
//! `/boxoffice/<service>` whose public key verifies its signature, so that no one who can
//! reach the port fills the queue, the dead-letter list or the services' clocks (a tick
//! is no service's to publish: the broker's own clock sends them). The refusal is a 403
//! with the reason, and nothing is stored. The broker holds no secret for this.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use tokio::sync::Notify;

use boxoffice_telemetry::metrics;

use crate::store::{now_ms, Accepted, EventQueue};
use crate::subscriptions::Subscriptions;
use crate::QueuedEvent;
use boxoffice_wire::cloudevent::{CloudEvent, HEADER_PREFIX};
use boxoffice_wire::limits::MAX_HOST_BODY_BYTES as MAX_BODY_BYTES;
use boxoffice_wire::signature::{self, PublicKeys};

/// The body of the ingress's answers.
type Body = Full<Bytes>;

/// An answer with the API's error shape: `{"errors":[{"message": ...}]}`.
fn json_error(status: StatusCode, message: &str) -> Response<Body> {
    boxoffice_wire::error::response(status, message).map(Body::from)
}

/// The ingress: where it stores events, for whom, and whose signatures it requires.
pub struct Ingress {
    /// The queue.
    pub store: Arc<dyn EventQueue>,
    /// Which subscriptions each type goes to.
    pub subscriptions: Arc<Subscriptions>,
    /// The publishers' public keys; `None` accepts any CloudEvent.
    pub publishers: Option<Arc<PublicKeys>>,
    /// Notified after every newly stored event.
    pub wake: Arc<Notify>,
}

impl Ingress {
    /// Serves the ingress on `listener` until the future is dropped, within the listener
    /// bounds of [`boxoffice_wire::listener`].
    pub async fn serve(self, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
        let bounds = boxoffice_wire::listener::Bounds::default();
        let ingress = Arc::new(self);
        boxoffice_wire::listener::serve(listener, bounds, "broker", move |req, _client| {
            let ingress = ingress.clone();
            async move { ingress.handle(req).await }
        })
        .await;
        Ok(())
    }
}

/// The path a `GET` asks whether the broker is up (the shop's `/ready` asks it).
pub const HEALTH_PATH: &str = "/health";

/// `200 {"status":"ok"}`: the ingress answers; nothing behind it is asked.
fn health() -> Response<Body> {
    let mut response = Response::new(Body::from(r#"{"status":"ok"}"#));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

impl Ingress {
    async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        let (store, subscriptions, wake) = (&*self.store, &*self.subscriptions, &*self.wake);
        if request.method() == Method::GET && request.uri().path() == HEALTH_PATH {
            return health();
        }
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
        if let Some(keys) = &self.publishers {
            if let Err(why) = authenticate(&event, keys) {
                tracing::warn!(
                    "broker: refused event {:?} ({}) from {:?}: {why}",
                    event.id,
                    event.ty,
                    event.source
                );
                return json_error(StatusCode::FORBIDDEN, &format!("Event refused: {why}"));
            }
        }
        let targets: Vec<String> = subscriptions
            .matching(&event.ty)
            .map(str::to_owned)
            .collect();
        let (id, ty) = (event.id.clone(), event.ty.clone());
        // Anyone who reaches the ingress names the type: only subscribed types get their own
        // series, so that the metrics stay bounded.
        let label = if targets.is_empty() {
            "(unsubscribed)"
        } else {
            ty.as_str()
        };
        match store.accept(event, targets, now_ms()).await {
            Ok(Accepted::New(n)) => {
                metrics::event_accepted(label, true);
                tracing::debug!("broker: accepted event {id} ({ty}) for {n} subscription(s)");
                wake.notify_one();
            }
            Ok(Accepted::Duplicate) => {
                metrics::event_accepted(label, false);
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
        let mut response = Response::new(Body::default());
        *response.status_mut() = StatusCode::ACCEPTED;
        response
    }
}

/// Checks that `event` is signed by the publisher its source names, with one of `keys`.
pub fn authenticate(event: &QueuedEvent, keys: &PublicKeys) -> Result<(), String> {
    let publisher = signature::service_of(&event.source)
        .ok_or_else(|| format!("{:?} is not a service of this shop", event.source))?;
    let attribute = |name: &str| {
        event
            .attributes
            .get(&format!("{HEADER_PREFIX}{name}"))
            .map_or("", String::as_str)
    };
    let attributes = signature::Attributes {
        id: &event.id,
        event_type: &event.ty,
        source: &event.source,
        subject: attribute("subject"),
        time: attribute("time"),
    };
    keys.verify(
        publisher,
        &attributes,
        &event.data,
        Some(attribute(signature::ATTRIBUTE)),
    )
    .map_err(|e| e.to_string())
}

/// Reads one event from a request's headers and body; the error is the client's message.
pub fn parse(headers: &HeaderMap, body: Bytes) -> Result<QueuedEvent, String> {
    let mut pairs = Vec::new();
    for (name, value) in headers {
        let name = name.as_str();
        if name.starts_with(HEADER_PREFIX) || name == "content-type" {
            let value = value
                .to_str()
                .map_err(|_| format!("header {name} is not valid text"))?;
            pairs.push((name, value));
        }
    }
    let event = CloudEvent::from_http(pairs, &body)?;
    event.check()?;
    let (id, source, ty) = (
        event.required("id")?.to_owned(),
        event.required("source")?.to_owned(),
        event.required("type")?.to_owned(),
    );
    Ok(QueuedEvent {
        id,
        source,
        ty,
        attributes: event.attributes,
        content_type: event.content_type,
        data: event.data.into(),
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
    fn an_event_keeps_every_attribute_to_forward_them() {
        let mut h = headers(&BINARY);
        h.insert("ce-traceparent", HeaderValue::from_static("00-abc"));
        h.insert("x-other", HeaderValue::from_bytes(b"\xff").unwrap());
        let event = parse(&h, Bytes::from_static(b"{\"a\":1}")).unwrap();
        assert_eq!(
            (event.id.as_str(), event.source.as_str(), event.ty.as_str()),
            ("e1", "/tickets", "ticket:created")
        );
        assert_eq!(event.attributes["ce-traceparent"], "00-abc");
        assert_eq!(event.attributes.len(), 6);
        assert_eq!(&event.data[..], b"{\"a\":1}");

        let structured = headers(&[("content-type", "application/cloudevents+json")]);
        let body = serde_json::json!({"specversion": "1.0", "id": "e2", "type": "t",
                                      "source": "/s", "data": {"x": 1}});
        let event = parse(&structured, body.to_string().into()).unwrap();
        assert_eq!(event.attributes["ce-id"], "e2");
        assert_eq!(event.content_type.as_deref(), Some("application/json"));
    }

    #[test]
    fn an_event_needs_its_core_attributes_and_text_headers() {
        for missing in ["ce-specversion", "ce-id", "ce-type", "ce-source"] {
            let pairs: Vec<_> = BINARY
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            let err = parse(&headers(&pairs), Bytes::new()).unwrap_err();
            assert!(err.contains(&missing[3..]), "{err}");
        }
        let mut h = headers(&BINARY);
        h.insert("ce-id", HeaderValue::from_bytes(b"\xff").unwrap());
        assert!(parse(&h, Bytes::new()).unwrap_err().contains("ce-id"));
    }
}
