//! CloudEvents 1.0 over HTTP, as boxoffice speaks it. In binary mode the attributes are
//! `ce-*` headers and the body is the data; in structured mode
//! (`application/cloudevents+json`) the body is a JSON object holding both. Either mode
//! reads into one [`CloudEvent`], which is written back out in binary mode.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value;

/// The CloudEvents version spoken here.
pub const SPEC_VERSION: &str = "1.0";
/// The content type of a structured-mode event.
pub const STRUCTURED_CONTENT_TYPE: &str = "application/cloudevents+json";
/// The prefix of an attribute's header in binary mode.
pub const HEADER_PREFIX: &str = "ce-";
/// The type of the broker's clock: timed work may be due.
pub const TICK_TYPE: &str = "boxoffice:tick";
/// The source of the broker's clock.
pub const TICK_SOURCE: &str = "/boxoffice/broker";
/// The type of the events a Knative `PingSource` sends, the clock in Kubernetes (its type
/// cannot be set).
pub const KNATIVE_PING_TYPE: &str = "dev.knative.sources.ping";

/// Whether an event of `event_type` is a clock's tick: the broker's, or Knative's ping.
pub fn is_tick(event_type: &str) -> bool {
    event_type == TICK_TYPE || event_type == KNATIVE_PING_TYPE
}
/// The extension attribute carrying an event's signature (lowercase letters and digits,
/// so that every broker passes it through).
pub const SIGNATURE_ATTRIBUTE: &str = "boxofficesig";
/// The header of [`SIGNATURE_ATTRIBUTE`] in binary mode.
pub const SIGNATURE_HEADER: &str = "ce-boxofficesig";

/// One CloudEvent: its attributes, keyed by their binary-mode header names (`ce-id`,
/// `ce-type`, ...), the content type of its data, and the data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CloudEvent {
    /// Every attribute, by its header name (lower case, `ce-` prefixed).
    pub attributes: BTreeMap<String, String>,
    /// The content type of [`Self::data`].
    pub content_type: Option<String>,
    /// The data.
    pub data: Vec<u8>,
}

impl CloudEvent {
    /// Reads an event from an HTTP request's headers (lower-case names) and body, in
    /// whichever mode its content type says. The error is a message for the sender.
    pub fn from_http<'a>(
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
        body: &[u8],
    ) -> Result<CloudEvent, String> {
        let headers: Vec<(&str, &str)> = headers.into_iter().collect();
        let content_type = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            .map(|(_, value)| value.trim().to_owned());
        let structured = content_type.as_deref().is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case(STRUCTURED_CONTENT_TYPE))
        });
        if structured {
            return CloudEvent::from_structured(body);
        }
        let mut attributes = BTreeMap::new();
        for (name, value) in headers {
            let name = name.to_ascii_lowercase();
            if name.len() > HEADER_PREFIX.len() && name.starts_with(HEADER_PREFIX) {
                attributes.insert(name, value.trim().to_owned());
            }
        }
        Ok(CloudEvent {
            attributes,
            content_type,
            data: body.to_vec(),
        })
    }

    /// Reads a structured-mode body: a JSON object of attributes with `data` (JSON, or
    /// text for a non-JSON content type) or `data_base64`.
    pub fn from_structured(body: &[u8]) -> Result<CloudEvent, String> {
        let json: Value = serde_json::from_slice(body)
            .map_err(|e| format!("a structured event must be a JSON object: {e}"))?;
        let Value::Object(object) = json else {
            return Err("a structured event must be a JSON object".into());
        };
        let mut event = CloudEvent::default();
        let (mut data, mut data_base64) = (None, None);
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
                        event.content_type = Some(text);
                    } else {
                        let header = format!("{HEADER_PREFIX}{}", name.to_ascii_lowercase());
                        event.attributes.insert(header, text);
                    }
                }
            }
        }
        event.data = match (data, data_base64) {
            (Some(_), Some(_)) => return Err("an event has either data or data_base64".into()),
            (None, Some(Value::String(encoded))) => base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|_| "data_base64 is not valid base64".to_owned())?,
            (None, Some(_)) => return Err("data_base64 must be a string".into()),
            (Some(data), None) => {
                let is_json = event
                    .content_type
                    .as_deref()
                    .is_none_or(|ct| ct.contains("json"));
                match data {
                    Value::String(text) if !is_json => text.into_bytes(),
                    data => data.to_string().into_bytes(),
                }
            }
            (None, None) => Vec::new(),
        };
        if event.content_type.is_none() && !event.data.is_empty() {
            event.content_type = Some("application/json".to_owned());
        }
        Ok(event)
    }

    /// The value of the attribute `name` (without the `ce-` prefix), if present and not
    /// blank.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .get(&format!("{HEADER_PREFIX}{name}"))
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
    }

    /// The attribute `name`, or a message naming it.
    pub fn required(&self, name: &str) -> Result<&str, String> {
        self.attribute(name).ok_or_else(|| {
            format!("missing the CloudEvents attribute {name} (header {HEADER_PREFIX}{name})")
        })
    }

    /// Checks `specversion` and that `type` is present: what every event needs, ticks
    /// included.
    pub fn check(&self) -> Result<(), String> {
        let version = self.required("specversion")?;
        if version != SPEC_VERSION {
            return Err(format!(
                "unsupported CloudEvents specversion `{version}` (expected {SPEC_VERSION})"
            ));
        }
        self.required("type").map(drop)
    }

    /// The binary-mode headers of this event: its attributes, then its content type.
    pub fn binary_headers(&self) -> Vec<(String, String)> {
        let mut headers: Vec<(String, String)> = self
            .attributes
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        if let Some(content_type) = &self.content_type {
            headers.push(("content-type".to_owned(), content_type.clone()));
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BINARY: [(&str, &str); 6] = [
        ("ce-specversion", "1.0"),
        ("ce-id", "e1"),
        ("ce-type", "ticket:created"),
        ("ce-source", "/boxoffice/tickets"),
        ("ce-time", "2025-01-01T00:00:00Z"),
        ("content-type", "application/json"),
    ];

    #[test]
    fn binary_mode_keeps_every_ce_header_and_the_body() {
        let mut headers = BINARY.to_vec();
        headers.push(("CE-TraceParent", "00-abc"));
        headers.push(("x-other", "no"));
        headers.push(("ce-", "nameless"));
        let event = CloudEvent::from_http(headers, b"{\"a\":1}").unwrap();
        assert_eq!(event.attribute("id"), Some("e1"));
        assert_eq!(event.attribute("traceparent"), Some("00-abc"));
        assert_eq!(event.attributes.len(), 6);
        assert_eq!(event.content_type.as_deref(), Some("application/json"));
        assert_eq!(event.data, b"{\"a\":1}");
        assert_eq!(event.check(), Ok(()));
        let round_trip = CloudEvent::from_http(
            event
                .binary_headers()
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
            &event.data,
        )
        .unwrap();
        assert_eq!(round_trip, event);
    }

    #[test]
    fn a_missing_or_other_specversion_or_type_is_refused() {
        for missing in ["ce-specversion", "ce-type"] {
            let headers: Vec<_> = BINARY
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            let err = CloudEvent::from_http(headers, b"")
                .unwrap()
                .check()
                .unwrap_err();
            assert!(err.contains(&missing[3..]), "{err}");
        }
        let mut headers = BINARY.to_vec();
        headers[0] = ("ce-specversion", "0.3");
        let err = CloudEvent::from_http(headers, b"")
            .unwrap()
            .check()
            .unwrap_err();
        assert!(err.contains("specversion"), "{err}");
        let event = CloudEvent::from_http(BINARY, b"").unwrap();
        assert_eq!(
            event.required("subject").unwrap_err(),
            "missing the CloudEvents attribute subject (header ce-subject)"
        );
    }

    #[test]
    fn structured_mode_reads_into_the_same_event() {
        let ct = [(
            "content-type",
            "application/cloudevents+json; charset=utf-8",
        )];
        let body = json!({
            "specversion": "1.0", "id": "e2", "type": "order:created", "source": "/o",
            "subject": "o-1", "boxofficesig": "v1=00", "data": {"orderId": "o-1"}
        });
        let event = CloudEvent::from_http(ct, body.to_string().as_bytes()).unwrap();
        assert_eq!(event.attribute("subject"), Some("o-1"));
        assert_eq!(event.attributes[SIGNATURE_HEADER], "v1=00");
        assert_eq!(event.content_type.as_deref(), Some("application/json"));
        assert_eq!(
            serde_json::from_slice::<Value>(&event.data).unwrap(),
            json!({"orderId": "o-1"})
        );
        let text = json!({"specversion": "1.0", "id": "e3", "type": "t", "source": "/s",
                          "datacontenttype": "text/plain", "data": "hello"});
        let event = CloudEvent::from_structured(text.to_string().as_bytes()).unwrap();
        assert_eq!(
            (event.data.as_slice(), event.content_type.as_deref()),
            (&b"hello"[..], Some("text/plain"))
        );
        let b64 = json!({"specversion": "1.0", "id": "e4", "type": "t", "source": "/s",
                         "datacontenttype": "application/octet-stream", "data_base64": "AAEC"});
        assert_eq!(
            CloudEvent::from_structured(b64.to_string().as_bytes())
                .unwrap()
                .data,
            [0, 1, 2]
        );
        let tick = CloudEvent::from_structured(br#"{"specversion":"1.0","type":"boxoffice:tick"}"#)
            .unwrap();
        assert_eq!((tick.check(), tick.data.is_empty()), (Ok(()), true));
    }

    #[test]
    fn malformed_structured_events_are_refused_with_a_message() {
        let cases = [
            ("not json", "JSON object"),
            ("[1]", "JSON object"),
            (r#"{"specversion":"1.0","source":{}}"#, "must be a string"),
            (
                r#"{"data":1,"data_base64":"AA=="}"#,
                "either data or data_base64",
            ),
            (r#"{"data_base64":"%%%"}"#, "not valid base64"),
            (r#"{"data_base64":5}"#, "must be a string"),
        ];
        for (body, needle) in cases {
            let err = CloudEvent::from_structured(body.as_bytes()).unwrap_err();
            assert!(err.contains(needle), "{body}: {err}");
        }
    }
}
