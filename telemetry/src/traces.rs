//! Traces with OpenTelemetry: a span per request, per outbound call and per event
//! delivery, exported over OTLP/HTTP to a collector, and the W3C trace context
//! (`traceparent`) that links them across HTTP hops and, in the CloudEvents distributed
//! tracing extension (`ce-traceparent`), across the broker.
//!
//! Off unless configured, with the standard variables: `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) turns export on; `OTEL_EXPORTER_OTLP_PROTOCOL`
//! picks `http/protobuf` (the default) or `http/json`; `OTEL_SDK_DISABLED=true` or
//! `OTEL_TRACES_EXPORTER=none` keeps it off. Each service (component, or the broker)
//! reports as its own `service.name` in the namespace `boxoffice`, so a trace reads
//! orders → broker → tickets → ... in any trace viewer. Off, spans cost nothing and a
//! caller's `traceparent` is passed on unchanged.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{
    SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::KeyValue;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;

pub use opentelemetry::trace::SpanKind as Kind;
pub use opentelemetry::Context;
pub use opentelemetry::KeyValue as Attribute;

/// The header (and, with the `ce-` prefix, the CloudEvents attribute) of the trace context.
pub const TRACEPARENT: &str = "traceparent";
/// The CloudEvents distributed tracing extension's attribute, as a binary-mode header.
pub const CE_TRACEPARENT: &str = "ce-traceparent";

/// The exporting state: one tracer provider per service, made on first use.
struct Exporting {
    providers: Mutex<HashMap<String, SdkTracerProvider>>,
}

static EXPORTING: OnceLock<Option<Exporting>> = OnceLock::new();

/// Whether the environment asks for traces to be exported.
pub fn configured() -> bool {
    configured_in(|name| std::env::var(name).ok())
}

fn configured_in(env: impl Fn(&str) -> Option<String>) -> bool {
    let set = |name: &str| env(name).is_some_and(|v| !v.trim().is_empty());
    let disabled = env("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        || env("OTEL_TRACES_EXPORTER").is_some_and(|v| v.trim().eq_ignore_ascii_case("none"));
    !disabled && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

/// Turns export on when the environment configures it (see the module docs); returns
/// whether it did. Must run inside a tokio runtime; once per process.
pub fn install() -> anyhow::Result<bool> {
    let on = configured();
    if on {
        // Fail now, with the cause, rather than at the first span.
        opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
            .map_err(|e| anyhow::anyhow!("cannot export traces over OTLP: {e}"))?;
    }
    EXPORTING.get_or_init(|| {
        on.then(|| Exporting {
            providers: Mutex::new(HashMap::new()),
        })
    });
    Ok(on)
}

/// Sends the spans not yet exported; for a clean exit.
pub fn shutdown() {
    if let Some(Some(exporting)) = EXPORTING.get() {
        let providers: Vec<SdkTracerProvider> = exporting
            .providers
            .lock()
            .map(|mut p| p.drain().map(|(_, provider)| provider).collect())
            .unwrap_or_default();
        for provider in providers {
            if let Err(e) = provider.shutdown() {
                tracing::debug!("traces: {e}");
            }
        }
    }
}

fn provider(service: &str) -> Option<SdkTracerProvider> {
    let exporting = EXPORTING.get()?.as_ref()?;
    let mut providers = exporting.providers.lock().ok()?;
    if let Some(provider) = providers.get(service) {
        return Some(provider.clone());
    }
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
    {
        Ok(exporter) => exporter,
        Err(e) => {
            tracing::warn!("traces: cannot export the spans of {service}: {e}");
            return None;
        }
    };
    let resource = Resource::builder()
        .with_service_name(service.to_owned())
        .with_attributes([KeyValue::new("service.namespace", "boxoffice")])
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(
            BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).build(),
        )
        .with_resource(resource)
        .build();
    providers.insert(service.to_owned(), provider.clone());
    Some(provider)
}

/// The trace context a request or event carries (`traceparent`, `tracestate`), or an
/// empty one.
pub fn parent(headers: &http::HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&HeaderExtractor(headers))
}

/// The trace context of a `traceparent` value, such as a CloudEvent's.
pub fn parent_of(traceparent: Option<&str>) -> Context {
    let mut headers = http::HeaderMap::new();
    if let Some(value) = traceparent.and_then(|v| http::HeaderValue::from_str(v).ok()) {
        headers.insert(TRACEPARENT, value);
    }
    parent(&headers)
}

/// One operation: a real span when export is on, otherwise only the context it was
/// given, so that a caller's trace passes through. Ends when dropped.
pub struct Span {
    cx: Context,
}

/// Starts the span `name` of `service`, under `parent`.
pub fn start(
    service: &str,
    kind: SpanKind,
    name: String,
    parent: &Context,
    attributes: Vec<KeyValue>,
) -> Span {
    let Some(provider) = provider(service) else {
        return Span { cx: parent.clone() };
    };
    let span = provider
        .tracer("boxoffice")
        .span_builder(name)
        .with_kind(kind)
        .with_attributes(attributes)
        .start_with_context(&provider.tracer("boxoffice"), parent);
    Span {
        cx: parent.with_span(span),
    }
}

impl Span {
    /// The `traceparent` of this span (or of the context passed through), if any.
    pub fn traceparent(&self) -> Option<String> {
        let mut headers = http::HeaderMap::new();
        self.inject(&mut headers);
        headers
            .get(TRACEPARENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The id of the span's trace (32 hex digits), if it has one.
    pub fn trace_id(&self) -> Option<String> {
        let context = self.cx.span().span_context().clone();
        context.is_valid().then(|| context.trace_id().to_string())
    }

    /// Sets `traceparent` (and `tracestate`) in `headers` to this span's.
    pub fn inject(&self, headers: &mut http::HeaderMap) {
        TraceContextPropagator::new().inject_context(&self.cx, &mut HeaderInjector(headers));
    }

    /// Records an attribute.
    pub fn set(&self, attribute: KeyValue) {
        self.cx.span().set_attribute(attribute);
    }

    /// Records the HTTP status of the answer; a 5xx marks the span as failed.
    pub fn set_http_status(&self, status: u16) {
        self.set(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        if status >= 500 {
            self.cx
                .span()
                .set_status(Status::error(format!("HTTP {status}")));
        }
    }

    /// Marks the span as failed, with why.
    pub fn fail(&self, why: String) {
        self.cx.span().set_status(Status::error(why));
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        self.cx.span().end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn export_is_on_only_when_an_endpoint_is_set_and_nothing_turns_it_off() {
        let env = |pairs: &'static [(&str, &str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert!(!configured_in(env(&[])));
        assert!(!configured_in(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")])));
        assert!(configured_in(env(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://127.0.0.1:4318"
        )])));
        assert!(configured_in(env(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://c/v1/traces"
        )])));
        assert!(!configured_in(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_SDK_DISABLED", "TRUE"),
        ])));
        assert!(!configured_in(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ])));
    }

    #[test]
    fn with_export_off_a_callers_trace_passes_through_unchanged() {
        let span = start(
            "tickets",
            SpanKind::Server,
            "GET /".into(),
            &parent_of(Some(PARENT)),
            vec![],
        );
        assert_eq!(span.traceparent().as_deref(), Some(PARENT));
        let none = start(
            "tickets",
            SpanKind::Server,
            "GET /".into(),
            &parent_of(None),
            vec![],
        );
        assert_eq!(none.traceparent(), None);
        // Not a trace context: ignored, as the W3C spec says.
        assert!(!parent_of(Some("00-zz")).span().span_context().is_valid());
    }
}
