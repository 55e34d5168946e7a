//! The runtime's metrics as the tests read them: its admin listener's `GET /metrics`,
//! checked to be Prometheus text and parsed.

use crate::send;

/// The samples of a Prometheus text exposition, by metric name; every line must parse.
pub fn scrape(admin: &str) -> prometheus_parse::Scrape {
    let resp = send("GET", &format!("{admin}/metrics"), &[], None);
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(
        resp.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    for line in resp
        .text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        // `name{labels} value`, the value a float: what every Prometheus parser reads.
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        assert!(value.parse::<f64>().is_ok(), "not a sample value: {line}");
        let name = series.split('{').next().unwrap();
        assert!(
            name.starts_with("boxoffice_")
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "not a boxoffice metric name: {line}"
        );
    }
    let lines = resp.text.lines().map(|l| Ok(l.to_owned()));
    prometheus_parse::Scrape::parse(lines).expect("Prometheus text")
}

/// The value of the sample `name` whose labels include `labels`.
pub fn sample(
    scrape: &prometheus_parse::Scrape,
    name: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}
