//! What boxoffice tells its operators, the same way from the runtime and the broker:
//! [`metrics`] in Prometheus' text format, [`traces`] over OpenTelemetry with the trace
//! context carried across HTTP and CloudEvents, and [`logs`], one line per request and
//! per delivery, text or JSON, scrubbed of secrets.

pub mod logs;
pub mod metrics;
pub mod traces;
