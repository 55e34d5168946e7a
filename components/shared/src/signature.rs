//! Signed events: every entity event carries an HMAC-SHA256 of the attributes that matter
//! and its data, made by the publishing service with the `events_key` secret, so that a
//! consumer applies only what a service of this shop published, whatever carried it
//! (the local broker, NATS JetStream, Knative).
//!
//! The signature travels as the CloudEvents extension attribute `boxofficesig` (the header
//! `ce-boxofficesig` in binary mode): extension names are lowercase letters and digits, so
//! every broker passes it through untouched. It covers `id`, `type`, `source`, `subject`,
//! `time` and the data, the last two in a canonical form, so that a broker that moves an
//! event between binary and structured mode, or parses it and writes it again, does not
//! break it:
//!
//! - the data as canonical JSON (keys sorted, no whitespace);
//! - the time as the instant it names, written one way (UTC, nine fraction digits, `Z`):
//!   Knative's broker re-encodes every event with the CloudEvents Go SDK, which writes
//!   `2026-01-01T00:00:00.120Z` as `...00.12Z` and `...00.000Z` as `...00Z`; the Python
//!   SDK writes `+00:00` for `Z`. A time that is not RFC 3339 is signed as it is written
//!   (no faithful broker passes such an event on, and its bytes are still bound).
//!
//! Replays are harmless: the id is signed, and consumers apply an id once.
//!
//! Signatures are versioned: `v2=` is the scheme above; `v1=` (the time signed as
//! written) is still accepted, so that events signed before an upgrade and still queued
//! are applied; no service signs with it any more.
//!
//! Keys rotate: `events_key` is a comma-separated list; the first key signs, every key
//! verifies. Add the new key second everywhere, then move it first, then drop the old one.

use std::fmt;

use serde_json::Value;

use crate::config::variable;
use crate::ApiError;

pub use boxoffice_wire::cloudevent::{
    SIGNATURE_ATTRIBUTE as ATTRIBUTE, SIGNATURE_HEADER as HEADER,
};
/// The Spin variable holding the keys.
pub const VARIABLE: &str = "events_key";
/// The shortest key accepted: 128 bits.
pub const MIN_KEY_BYTES: usize = 16;
/// The version prefix of a signature, so that the scheme can change without ambiguity.
const SCHEME: &str = "v2=";
/// Separates the MAC input of this scheme from any other use of the key.
const CONTEXT: &[u8] = b"boxoffice.event.v2\n";
/// The scheme before the time was canonical: verified, never made.
const SCHEME_V1: &str = "v1=";
const CONTEXT_V1: &[u8] = b"boxoffice.event.v1\n";

/// The attributes of an event that its signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Attributes<'a> {
    /// `id`.
    pub id: &'a str,
    /// `type`.
    pub event_type: &'a str,
    /// `source`: `/boxoffice/<service>`.
    pub source: &'a str,
    /// `subject`, the id of the entity the event is about; empty when absent.
    pub subject: &'a str,
    /// `time`, RFC 3339; empty when absent.
    pub time: &'a str,
}

impl Attributes<'_> {
    /// The MAC input of the current scheme: a context string, each attribute
    /// length-prefixed (so that no two different events read the same), the time in
    /// canonical form, then the canonical `data`.
    fn message(&self, data: &[u8]) -> Vec<u8> {
        self.message_with(CONTEXT, &canonical_time(self.time), data)
    }

    /// The MAC input of `v1=`: the time as written.
    fn message_v1(&self, data: &[u8]) -> Vec<u8> {
        self.message_with(CONTEXT_V1, self.time, data)
    }

    fn message_with(&self, context: &[u8], time: &str, data: &[u8]) -> Vec<u8> {
        let mut message = context.to_vec();
        for value in [self.id, self.event_type, self.source, self.subject, time] {
            message.extend_from_slice(format!("{}:", value.len()).as_bytes());
            message.extend_from_slice(value.as_bytes());
            message.push(b'\n');
        }
        message.extend_from_slice(&canonical_data(data));
        message
    }
}

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The event carries no signature.
    #[error("the event is not signed (no {ATTRIBUTE} attribute)")]
    Missing,
    /// The signature is not of the form `v2=<64 hex digits>` (or `v1=`).
    #[error("the event's {ATTRIBUTE} attribute is malformed")]
    Malformed,
    /// No accepted key produced this signature.
    #[error("the event's signature does not verify with any accepted key")]
    Mismatch,
}

/// The accepted event keys; the first one signs.
#[derive(Clone)]
pub struct EventKeys {
    keys: Vec<Vec<u8>>,
}

impl fmt::Debug for EventKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventKeys({} key(s))", self.keys.len())
    }
}

impl EventKeys {
    /// Reads a comma-separated list of keys (spaces around each are ignored); every key
    /// must be at least [`MIN_KEY_BYTES`] long.
    pub fn parse(list: &str) -> Result<Self, String> {
        let keys: Vec<Vec<u8>> = list
            .split(',')
            .map(str::trim)
            .filter(|key| !key.is_empty())
            .map(|key| key.as_bytes().to_vec())
            .collect();
        if keys.is_empty() {
            return Err(format!("the {VARIABLE} variable holds no key"));
        }
        if let Some(position) = keys.iter().position(|k| k.len() < MIN_KEY_BYTES) {
            return Err(format!(
                "key {} of {VARIABLE} is shorter than {MIN_KEY_BYTES} bytes",
                position + 1
            ));
        }
        Ok(Self { keys })
    }

    /// The keys of the `events_key` Spin variable. Unset or invalid is a misconfiguration
    /// of this component: a 503 (logged), so that the broker keeps the event for later.
    pub fn from_variables() -> Result<Self, ApiError> {
        let list = variable(VARIABLE)?.unwrap_or_default();
        Self::parse(&list).map_err(ApiError::BackendDown)
    }

    /// The signature of the event with `attributes` and `data`, with the first key.
    pub fn sign(&self, attributes: &Attributes<'_>, data: &[u8]) -> String {
        let mac = hmac_sha256::HMAC::mac(attributes.message(data), &self.keys[0]);
        let mut signature = String::with_capacity(SCHEME.len() + 64);
        signature.push_str(SCHEME);
        for byte in mac {
            signature.push_str(&format!("{byte:02x}"));
        }
        signature
    }

    /// Checks `signature` (the attribute's value, if any) of the event with `attributes`
    /// and `data` against every accepted key.
    pub fn verify(
        &self,
        attributes: &Attributes<'_>,
        data: &[u8],
        signature: Option<&str>,
    ) -> Result<(), SignatureError> {
        let signature = signature
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(SignatureError::Missing)?;
        let (message, claimed) = if let Some(hex) = signature.strip_prefix(SCHEME) {
            (attributes.message(data), hex)
        } else if let Some(hex) = signature.strip_prefix(SCHEME_V1) {
            (attributes.message_v1(data), hex)
        } else {
            return Err(SignatureError::Malformed);
        };
        let claimed = decode_hex(claimed).ok_or(SignatureError::Malformed)?;
        // `HMAC::verify` compares in constant time.
        let matches = self
            .keys
            .iter()
            .any(|key| hmac_sha256::HMAC::verify(&message, key, &claimed));
        if matches {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

/// The 32 bytes written as `text` in hex (64 digits), if it is that.
pub fn decode_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// The time as signed: the instant an RFC 3339 `time` names, in UTC with nine fraction
/// digits (`2026-01-01T00:00:00.120000000Z`), whatever offset and precision it was
/// written with; any other text as it is.
pub fn canonical_time(time: &str) -> std::borrow::Cow<'_, str> {
    match chrono::DateTime::parse_from_rfc3339(time) {
        Ok(instant) => instant
            .with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
            .into(),
        Err(_) => time.into(),
    }
}

/// The data as signed: JSON in canonical form (object keys sorted, no whitespace), or the
/// bytes as they are when they are not JSON.
pub fn canonical_data(data: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<Value>(data) {
        Ok(value) => {
            let mut out = String::with_capacity(data.len());
            write_canonical(&value, &mut out);
            out.into_bytes()
        }
        Err(_) => data.to_vec(),
    }
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";
    const OLD: &str = "old-key-old-key-old-key!";

    const EVENT: Attributes<'static> = Attributes {
        id: "e1",
        event_type: "payment:created",
        source: "/boxoffice/payments",
        subject: "p1",
        time: "2026-01-01T00:00:00.000Z",
    };

    #[test]
    fn a_signature_verifies_with_its_key_and_no_other() {
        let keys = EventKeys::parse(KEY).unwrap();
        let data = br#"{"id":"p1","orderId":"o1","stripeId":"ch_1"}"#;
        let signature = keys.sign(&EVENT, data);
        assert!(signature.starts_with("v2=") && signature.len() == 67);
        assert_eq!(keys.verify(&EVENT, data, Some(&signature)), Ok(()));
        let other = EventKeys::parse("another-key-another-key").unwrap();
        assert_eq!(
            other.verify(&EVENT, data, Some(&signature)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn every_signed_part_matters() {
        let keys = EventKeys::parse(KEY).unwrap();
        let data = br#"{"orderId":"o1"}"#;
        let signature = keys.sign(&EVENT, data);
        let changed = [
            Attributes { id: "e2", ..EVENT },
            Attributes {
                event_type: "expiration:complete",
                ..EVENT
            },
            Attributes {
                source: "/boxoffice/orders",
                ..EVENT
            },
            Attributes {
                subject: "p2",
                ..EVENT
            },
            Attributes {
                time: "2026-01-02T00:00:00.000Z",
                ..EVENT
            },
        ];
        for forged in changed {
            assert_eq!(
                keys.verify(&forged, data, Some(&signature)),
                Err(SignatureError::Mismatch),
                "{forged:?}"
            );
        }
        assert_eq!(
            keys.verify(&EVENT, br#"{"orderId":"o2"}"#, Some(&signature)),
            Err(SignatureError::Mismatch)
        );
        // Length prefixes: moving a character between attributes changes the input.
        let shifted = Attributes {
            id: "e1p",
            subject: "1",
            ..EVENT
        };
        let original = Attributes {
            id: "e1",
            subject: "p1",
            ..EVENT
        };
        assert_ne!(keys.sign(&shifted, data), keys.sign(&original, data));
    }

    #[test]
    fn json_data_is_signed_in_canonical_form() {
        let keys = EventKeys::parse(KEY).unwrap();
        let compact = br#"{"orderId":"o1","id":"p1","n":[1,2.5,{"b":true,"a":null}]}"#;
        let spaced = br#"{ "id" : "p1", "n": [1, 2.5, {"a": null, "b": true}], "orderId": "o1" }"#;
        let signature = keys.sign(&EVENT, compact);
        assert_eq!(keys.verify(&EVENT, spaced, Some(&signature)), Ok(()));
        assert_eq!(
            canonical_data(compact),
            br#"{"id":"p1","n":[1,2.5,{"a":null,"b":true}],"orderId":"o1"}"#
        );
        assert_eq!(canonical_data(b"not json"), b"not json");
    }

    #[test]
    fn the_same_instant_written_another_way_verifies() {
        let keys = EventKeys::parse(KEY).unwrap();
        let data = br#"{"orderId":"o1"}"#;
        for (written, rewritten) in [
            // The CloudEvents Go SDK (Knative): RFC3339Nano drops trailing zeros.
            ("2026-01-01T00:00:00.120Z", "2026-01-01T00:00:00.12Z"),
            ("2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00Z"),
            ("2026-01-01T00:00:00.100Z", "2026-01-01T00:00:00.1Z"),
            // The Python SDK: microseconds and an offset instead of `Z`.
            (
                "2026-01-01T00:00:00.123Z",
                "2026-01-01T00:00:00.123000+00:00",
            ),
            // Any offset naming the same instant.
            ("2026-01-01T00:00:00.500Z", "2026-01-01T02:00:00.5+02:00"),
            ("2026-01-01T00:00:00.500Z", "2025-12-31T19:00:00.500-05:00"),
        ] {
            let event = Attributes {
                time: written,
                ..EVENT
            };
            let signature = keys.sign(&event, data);
            let carried = Attributes {
                time: rewritten,
                ..EVENT
            };
            assert_eq!(
                keys.verify(&carried, data, Some(&signature)),
                Ok(()),
                "{written} as {rewritten}"
            );
        }
        // Another instant, however written, does not.
        let signature = keys.sign(&EVENT, data);
        for other in ["2026-01-01T00:00:00.001Z", "2026-01-01T00:00:00+01:00", ""] {
            let forged = Attributes {
                time: other,
                ..EVENT
            };
            assert_eq!(
                keys.verify(&forged, data, Some(&signature)),
                Err(SignatureError::Mismatch),
                "{other}"
            );
        }
        assert_eq!(
            canonical_time("2026-01-01T00:00:00.12Z"),
            "2026-01-01T00:00:00.120000000Z"
        );
        assert_eq!(canonical_time("yesterday"), "yesterday");
        assert_eq!(canonical_time(""), "");
    }

    #[test]
    fn a_v1_signature_made_before_the_upgrade_still_verifies() {
        let keys = EventKeys::parse(KEY).unwrap();
        let data = br#"{"orderId":"o1"}"#;
        let mac = hmac_sha256::HMAC::mac(EVENT.message_v1(data), KEY.as_bytes());
        let v1: String = std::iter::once("v1=".to_owned())
            .chain(mac.iter().map(|b| format!("{b:02x}")))
            .collect();
        assert_eq!(keys.verify(&EVENT, data, Some(&v1)), Ok(()));
        // v1 signed the time as written: only that text verifies.
        let rewritten = Attributes {
            time: "2026-01-01T00:00:00Z",
            ..EVENT
        };
        assert_eq!(
            keys.verify(&rewritten, data, Some(&v1)),
            Err(SignatureError::Mismatch)
        );
        // And a v1 label on a v2 MAC is not a v1 signature.
        let relabelled = keys.sign(&EVENT, data).replacen("v2=", "v1=", 1);
        assert_eq!(
            keys.verify(&EVENT, data, Some(&relabelled)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn rotation_signs_with_the_first_key_and_accepts_all() {
        let old = EventKeys::parse(OLD).unwrap();
        let rotated = EventKeys::parse(&format!(" {KEY} , {OLD} ")).unwrap();
        let data = b"{}";
        let by_old = old.sign(&EVENT, data);
        assert_eq!(rotated.verify(&EVENT, data, Some(&by_old)), Ok(()));
        let by_rotated = rotated.sign(&EVENT, data);
        assert_ne!(by_rotated, by_old, "the first key signs");
        assert_eq!(
            old.verify(&EVENT, data, Some(&by_rotated)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn missing_malformed_and_weak_are_refused() {
        let keys = EventKeys::parse(KEY).unwrap();
        let e = b"{}";
        assert_eq!(keys.verify(&EVENT, e, None), Err(SignatureError::Missing));
        assert_eq!(
            keys.verify(&EVENT, e, Some(" ")),
            Err(SignatureError::Missing)
        );
        let good = keys.sign(&EVENT, e);
        for bad in [
            "ch_x",
            "v1=",
            "v2=",
            "v2=00",
            "v3=00",
            &good[..66],
            &format!("{good}0"),
            &good.replace("v2=", "v2=é")[..67],
        ] {
            assert_eq!(
                keys.verify(&EVENT, e, Some(bad)),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
        assert!(EventKeys::parse("").is_err());
        assert!(EventKeys::parse(" , ").is_err());
        assert!(EventKeys::parse(&format!("{KEY},short"))
            .unwrap_err()
            .contains("key 2"));
        assert_eq!(
            format!("{keys:?}"),
            "EventKeys(1 key(s))",
            "keys never print"
        );
    }
}
