//! What the event routes `POST /internal/events/<service>` share: the signed CloudEvent
//! they take (docs/events.md) and the answers the broker understands. Each service's
//! route is declared in that service's module.

use serde::Serialize;
use utoipa::{IntoParams, IntoResponses, ToSchema};

use crate::schemas::Errors;

/// The security scheme of a signed event: the publisher's Ed25519 signature `v3=<hex>`, in
/// the CloudEvents extension attribute `boxofficesig`.
pub const SIGNATURE_SCHEME: &str = "eventSignature";

/// The binary-mode CloudEvent attributes, as `ce-*` headers (structured mode carries
/// them in the body instead, so none is required here).
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct CloudEventHeaders {
    /// The CloudEvents version, `1.0` (binary mode).
    #[param(rename = "ce-specversion", example = "1.0", required = false)]
    ce_specversion: String,
    /// The event's id; a redelivery carries the same one and changes nothing.
    #[param(rename = "ce-id", required = false)]
    ce_id: String,
    /// The subject, such as `ticket:created`, or `boxoffice:tick` for the broker's tick.
    #[param(rename = "ce-type", example = "boxoffice:tick", required = false)]
    ce_type: String,
    /// The publishing service, `/boxoffice/<service>`.
    #[param(rename = "ce-source", example = "/boxoffice/tickets", required = false)]
    ce_source: String,
    /// The entity the event is about.
    #[param(rename = "ce-subject", required = false)]
    ce_subject: String,
    /// When the event happened (RFC 3339).
    #[param(rename = "ce-time", required = false)]
    ce_time: String,
}

/// A structured-mode CloudEvent (`application/cloudevents+json`).
#[derive(Serialize, ToSchema)]
pub struct CloudEvent {
    /// `1.0`.
    pub specversion: String,
    /// The event's id.
    pub id: Option<String>,
    /// The subject, such as `order:created`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The publishing service, `/boxoffice/<service>`.
    pub source: Option<String>,
    /// The entity the event is about.
    pub subject: Option<String>,
    /// When the event happened (RFC 3339).
    pub time: Option<String>,
    /// The signature, `v3=<hex>`, the publisher's Ed25519 signature.
    pub boxofficesig: Option<String>,
    /// The payload (docs/events.md).
    pub data: Option<serde_json::Value>,
}

/// What a service answers the broker.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum Answers {
    /// Applied, or applied before (a redelivery), or a tick handled: no body, as Knative's
    /// broker requires of a reply that is not an event.
    #[response(status = 204)]
    Done,
    /// Never applicable (not a CloudEvent, an unknown type, a bad payload): dead-lettered.
    #[response(status = 400)]
    Never(#[to_schema] Errors),
    /// The signature does not verify, or the source is not the type's publisher.
    #[response(status = 403)]
    Refused(#[to_schema] Errors),
    /// Not yet (an earlier version is missing) or a backend is down: retried with backoff.
    #[response(status = 503)]
    NotYet(#[to_schema] Errors),
}

/// Declares the event route of `$service` with the marker `$marker`.
macro_rules! event_route {
    ($marker:ident, $path:literal, $service:literal) => {
        #[doc = concat!("Deliver an event to ", $service)]
        ///
        /// The broker pushes the events this service subscribes to (events.toml), and its
        /// ticks, as CloudEvents over HTTP, binary mode (`ce-*` headers, a JSON body) or
        /// structured (`application/cloudevents+json`). An event must be signed by the
        /// service that publishes its type; ticks (`boxoffice:tick`) carry nothing trusted
        /// and need no signature. Keep this route off the public network.
        #[utoipa::path(
                            post,
                            path = $path,
                            impl_for = $marker,
                            params($crate::events::CloudEventHeaders),
                            request_body(content(
                                (Option<serde_json::Value> = "application/json"),
                                (Option<$crate::events::CloudEvent> = "application/cloudevents+json"),
                            )),
                            responses($crate::events::Answers),
                            security((), ("eventSignature" = [])),
                        )]
        #[allow(dead_code)]
        fn deliver() {}
    };
}

pub(crate) use event_route;
