//! The metrics the runtime and the broker keep, in one place: their names, labels and
//! help text (the Grafana dashboard in `k8s/components/grafana` queries these names), the
//! functions that record them, and their rendering in Prometheus' text format.
//!
//! Recording goes through the `metrics` facade, so it costs next to nothing until
//! [`install`] sets up the Prometheus recorder (as `boxoffice up` and `boxoffice broker`
//! do); then every process-wide value shows in [`Metrics::render`].

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Requests answered, by component, route (the manifest's trigger route, so the label
/// set stays small), method and status.
pub const HTTP_REQUESTS: &str = "boxoffice_http_requests_total";
/// How long requests took, from the head read to the response head, by component and route.
pub const HTTP_DURATION: &str = "boxoffice_http_request_duration_seconds";
/// Component instances running now, by component.
pub const INSTANCES_IN_USE: &str = "boxoffice_instances_in_use";
/// How long making a component instance took, by component.
pub const INSTANTIATION: &str = "boxoffice_instantiation_duration_seconds";
/// Requests components sent out, by component, destination host and status (or `error`).
pub const OUTBOUND_REQUESTS: &str = "boxoffice_outbound_requests_total";
/// How long outbound requests took, by component and destination host.
pub const OUTBOUND_DURATION: &str = "boxoffice_outbound_request_duration_seconds";
/// Events the broker accepted, by type, and whether they were new or duplicates.
pub const EVENTS_ACCEPTED: &str = "boxoffice_broker_events_accepted_total";
/// Delivery attempts, by subscription and outcome (`done`, `retry` or `dead`).
pub const DELIVERIES: &str = "boxoffice_broker_deliveries_total";
/// How long one delivery attempt took, by subscription.
pub const DELIVERY_DURATION: &str = "boxoffice_broker_delivery_duration_seconds";
/// Deliveries waiting (due now or later), by subscription, as of the last scrape.
pub const QUEUE_DEPTH: &str = "boxoffice_broker_queue_depth";
/// Deliveries in the dead-letter queue, by subscription, as of the last scrape.
pub const DEAD_LETTERS: &str = "boxoffice_broker_dead_letters";
/// Failures of the backends the components use (not the statement errors their rules
/// expect, such as a unique violation), by backend (`sqlite`, `postgres`, `key_value`)
/// and kind (`connect`, `timeout`, `operation`).
pub const BACKEND_ERRORS: &str = "boxoffice_backend_errors_total";
/// Connections of the backends' pools (Postgres pools, SQLite databases), by backend,
/// pool and state (`in_use`, `idle`).
pub const POOL_CONNECTIONS: &str = "boxoffice_pool_connections";

/// Every metric above.
pub const ALL: [&str; 13] = [
    HTTP_REQUESTS,
    HTTP_DURATION,
    INSTANCES_IN_USE,
    INSTANTIATION,
    OUTBOUND_REQUESTS,
    OUTBOUND_DURATION,
    EVENTS_ACCEPTED,
    DELIVERIES,
    DELIVERY_DURATION,
    QUEUE_DEPTH,
    DEAD_LETTERS,
    BACKEND_ERRORS,
    POOL_CONNECTIONS,
];

/// The latency buckets of every histogram, in seconds: 0.5 ms to 10 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process's metrics, rendered on request.
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
}

static INSTALLED: OnceLock<Metrics> = OnceLock::new();

/// Sets up the process-wide recorder (once; later calls return the same [`Metrics`]),
/// and the housekeeping that keeps the histograms' memory bounded between scrapes.
/// Must run inside a tokio runtime.
pub fn install() -> anyhow::Result<Metrics> {
    if let Some(metrics) = INSTALLED.get() {
        return Ok(metrics.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)?
        .install_recorder()?;
    describe();
    let metrics = INSTALLED.get_or_init(|| Metrics { handle }).clone();
    let upkeep = metrics.handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(metrics)
}

impl Metrics {
    /// Every metric in Prometheus' text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

/// What sets some gauges from their source when metrics are scraped (the broker's queue,
/// the connection pools), rather than at every change.
pub trait Gauges: Send + Sync {
    /// Reads the source and sets the gauges; failures are logged, not returned, so that
    /// one unreachable backend leaves the rest of the scrape intact.
    fn refresh(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>>;
}

fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "Requests answered, by component, route, method and status."
    );
    describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "Time to the response head, by component and route."
    );
    describe_gauge!(
        INSTANCES_IN_USE,
        "Component instances running now, by component."
    );
    describe_histogram!(
        INSTANTIATION,
        metrics::Unit::Seconds,
        "Time to make a component instance, by component."
    );
    describe_counter!(
        OUTBOUND_REQUESTS,
        "Requests components sent, by component, host and status (or error)."
    );
    describe_histogram!(
        OUTBOUND_DURATION,
        metrics::Unit::Seconds,
        "Time of outbound requests, by component and host."
    );
    describe_counter!(
        EVENTS_ACCEPTED,
        "Events the broker accepted, by type and whether new."
    );
    describe_counter!(
        DELIVERIES,
        "Delivery attempts, by subscription and outcome."
    );
    describe_histogram!(
        DELIVERY_DURATION,
        metrics::Unit::Seconds,
        "Time of one delivery attempt, by subscription."
    );
    describe_gauge!(QUEUE_DEPTH, "Deliveries waiting, by subscription.");
    describe_gauge!(
        DEAD_LETTERS,
        "Deliveries in the dead-letter queue, by subscription."
    );
    describe_counter!(BACKEND_ERRORS, "Backend failures, by backend and kind.");
    describe_gauge!(
        POOL_CONNECTIONS,
        "Pool connections, by backend, pool and state."
    );
}

/// The methods with a series of their own; any other (HTTP allows extension methods,
/// which a client names) counts as `other`, so that the metrics stay bounded.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
];

/// Records one answered request.
pub fn http_request(component: &str, route: &str, method: &str, status: u16, took: Duration) {
    let method = if METHODS.contains(&method) {
        method
    } else {
        "other"
    };
    let labels = [
        ("component", component.to_owned()),
        ("route", route.to_owned()),
    ];
    counter!(
        HTTP_REQUESTS,
        &[
            labels[0].clone(),
            labels[1].clone(),
            ("method", method.to_owned()),
            ("status", status.to_string()),
        ]
    )
    .increment(1);
    histogram!(HTTP_DURATION, &labels).record(took.as_secs_f64());
}

/// Counts an instance of `component` as in use until the guard is dropped.
pub fn instance_in_use(component: &str) -> InstanceInUse {
    let gauge = gauge!(INSTANCES_IN_USE, "component" => component.to_owned());
    gauge.increment(1.0);
    InstanceInUse(gauge)
}

/// What [`instance_in_use`] returns: the instance is counted while this lives.
pub struct InstanceInUse(metrics::Gauge);

impl Drop for InstanceInUse {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// Records how long making an instance of `component` took.
pub fn instantiated(component: &str, took: Duration) {
    histogram!(INSTANTIATION, "component" => component.to_owned()).record(took.as_secs_f64());
}

/// Records one outbound request of `component` to `host`: its status, or `None` when it
/// got no answer.
pub fn outbound(component: &str, host: &str, status: Option<u16>, took: Duration) {
    let status = status.map_or_else(|| "error".to_owned(), |s| s.to_string());
    counter!(
        OUTBOUND_REQUESTS,
        "component" => component.to_owned(),
        "host" => host.to_owned(),
        "status" => status
    )
    .increment(1);
    histogram!(
        OUTBOUND_DURATION,
        "component" => component.to_owned(),
        "host" => host.to_owned()
    )
    .record(took.as_secs_f64());
}

/// Records an event the broker accepted; `new` is false for a duplicate.
pub fn event_accepted(event_type: &str, new: bool) {
    counter!(
        EVENTS_ACCEPTED,
        "type" => event_type.to_owned(),
        "new" => if new { "true" } else { "false" }
    )
    .increment(1);
}

/// What became of one delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The subscriber took it.
    Done,
    /// It failed and will be tried again.
    Retry,
    /// It failed for good and went to the dead-letter queue.
    Dead,
}

impl DeliveryOutcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Done => "done",
            DeliveryOutcome::Retry => "retry",
            DeliveryOutcome::Dead => "dead",
        }
    }
}

/// Records one delivery attempt to `subscription`.
pub fn delivery(subscription: &str, outcome: DeliveryOutcome, took: Duration) {
    counter!(
        DELIVERIES,
        "subscription" => subscription.to_owned(),
        "outcome" => outcome.as_str()
    )
    .increment(1);
    histogram!(DELIVERY_DURATION, "subscription" => subscription.to_owned())
        .record(took.as_secs_f64());
}

/// Sets the queue's depth and dead letters of `subscription`, as just counted.
pub fn queue(subscription: &str, waiting: u64, dead: u64) {
    gauge!(QUEUE_DEPTH, "subscription" => subscription.to_owned()).set(waiting as f64);
    gauge!(DEAD_LETTERS, "subscription" => subscription.to_owned()).set(dead as f64);
}

/// Counts a failure of `backend`, of `kind`.
pub fn backend_error(backend: &'static str, kind: &'static str) {
    counter!(BACKEND_ERRORS, "backend" => backend, "kind" => kind).increment(1);
}

/// Sets the connections of one pool of `backend`, as just counted.
pub fn pool(backend: &'static str, pool: &str, in_use: usize, idle: usize) {
    let labels = |state: &'static str| {
        [
            ("backend", backend.to_owned()),
            ("pool", pool.to_owned()),
            ("state", state.to_owned()),
        ]
    };
    gauge!(POOL_CONNECTIONS, &labels("in_use")).set(in_use as f64);
    gauge!(POOL_CONNECTIONS, &labels("idle")).set(idle as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Grafana dashboard shipped with the Kubernetes manifests.
    const DASHBOARD: &str = include_str!("../../k8s/components/grafana/dashboard.json");

    #[test]
    fn the_dashboard_queries_only_metrics_that_exist_and_shows_every_one() {
        let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD).unwrap();
        let exprs: Vec<&str> = dashboard["panels"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["targets"].as_array().unwrap())
            .map(|t| t["expr"].as_str().unwrap())
            .collect();
        let names = regex::Regex::new(r"boxoffice_[a-z_]+").unwrap();
        let mut queried = std::collections::BTreeSet::new();
        for expr in &exprs {
            for name in names.find_iter(expr) {
                let name = name.as_str();
                let metric = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|suffix| name.strip_suffix(suffix).filter(|m| ALL.contains(m)))
                    .unwrap_or(name);
                assert!(
                    ALL.contains(&metric),
                    "the dashboard queries {name}, which no one records"
                );
                queried.insert(metric);
            }
        }
        for metric in ALL {
            assert!(
                queried.contains(metric),
                "the dashboard does not show {metric}"
            );
        }
    }

    #[tokio::test]
    async fn recorded_values_render_in_the_text_format() {
        let metrics = install().unwrap();
        http_request(
            "tickets",
            "/api/tickets/...",
            "GET",
            200,
            Duration::from_millis(3),
        );
        http_request(
            "tickets",
            "/api/tickets/...",
            "GET",
            200,
            Duration::from_millis(30),
        );
        delivery(
            "tickets-orders",
            DeliveryOutcome::Retry,
            Duration::from_millis(1),
        );
        let guard = instance_in_use("web");
        let text = metrics.render();
        assert!(
            text.contains(r#"boxoffice_http_requests_total{component="tickets",route="/api/tickets/...",method="GET",status="200"} 2"#),
            "{text}"
        );
        assert!(text.contains("# TYPE boxoffice_http_request_duration_seconds histogram"));
        assert!(text.contains(
            r#"boxoffice_http_request_duration_seconds_bucket{component="tickets",route="/api/tickets/...",le="0.005"} 1"#
        ));
        assert!(text.contains(
            r#"boxoffice_broker_deliveries_total{subscription="tickets-orders",outcome="retry"} 1"#
        ));
        assert!(text.contains(r#"boxoffice_instances_in_use{component="web"} 1"#));
        http_request("web", "/...", "BREW", 404, Duration::from_millis(1));
        assert!(
            metrics.render().contains(
                r#"boxoffice_http_requests_total{component="web",route="/...",method="other",status="404"} 1"#
            ),
            "an extension method is counted as other"
        );
        drop(guard);
        assert!(metrics
            .render()
            .contains(r#"boxoffice_instances_in_use{component="web"} 0"#));
    }
}
