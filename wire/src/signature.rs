//! Signed events: every entity event carries an Ed25519 signature over the attributes
//! that matter and its data, made by the publishing service with its own signing key, so
//! that a consumer applies only what the service that publishes the type published,
//! whatever carried it (the local broker, NATS JetStream, Knative). Consumers and brokers
//! hold public keys only: no service can sign for another, and a broker can authenticate
//! what it accepts without holding any secret.
//!
//! Keys are named after the service: `<service>_events_key` holds the publisher's secret
//! (a 32-byte Ed25519 seed, 64 hex digits), and `events_public_keys` the public keys of
//! every publisher, `service:<64 hex digits>` each, separated by commas. A service may be
//! listed more than once: every listed key of the publisher verifies, so a signing key
//! rotates by listing the new public key beside the old one everywhere, then signing
//! with the new seed, then dropping the old public key once its events are delivered.
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
//! Signatures are versioned (`v3=` and 128 hex digits), so that the scheme can change
//! without ambiguity. `v1=` and `v2=`, the HMAC of a key every service shared, are
//! refused: a key every consumer holds is no proof of who published.

use std::fmt;

use ed25519_compact::{KeyPair, PublicKey, Seed, Signature};
use serde_json::Value;

pub use crate::cloudevent::{SIGNATURE_ATTRIBUTE as ATTRIBUTE, SIGNATURE_HEADER as HEADER};

/// The services that publish events, each with a signing key of its own: the sources
/// `/boxoffice/<service>` that a broker accepts.
pub const PUBLISHERS: [&str; 7] = [
    "tickets",
    "orders",
    "expiration",
    "payments",
    "catalog",
    "cart",
    "shipping",
];
/// The Spin variable holding the public keys of every publisher.
pub const PUBLIC_KEYS_VARIABLE: &str = "events_public_keys";
/// The suffix of the Spin variable holding a publisher's signing key.
const SIGNING_SUFFIX: &str = "_events_key";
/// The version prefix of a signature.
const SCHEME: &str = "v3=";
/// Separates the signed message of this scheme from any other use of the key.
const CONTEXT: &[u8] = b"boxoffice.event.v3\n";

/// The Spin variable holding `service`'s signing key: `orders_events_key`.
pub fn signing_variable(service: &str) -> String {
    format!("{service}{SIGNING_SUFFIX}")
}

/// The service whose signing key the variable `name` holds, if it is one.
pub fn signing_service(name: &str) -> Option<&str> {
    name.strip_suffix(SIGNING_SUFFIX)
        .filter(|service| !service.is_empty())
}

/// The service an event `source` names (`/boxoffice/orders` is `orders`).
pub fn service_of(source: &str) -> Option<&str> {
    source
        .strip_prefix("/boxoffice/")
        .filter(|service| !service.is_empty() && !service.contains('/'))
}

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
    /// The signed message: a context string, each attribute length-prefixed (so that no
    /// two different events read the same), the time in canonical form, then the
    /// canonical `data`.
    fn message(&self, data: &[u8]) -> Vec<u8> {
        let mut message = CONTEXT.to_vec();
        let time = canonical_time(self.time);
        for value in [self.id, self.event_type, self.source, self.subject, &time] {
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
    /// The signature is not of the form `v3=<128 hex digits>`.
    #[error("the event's {ATTRIBUTE} attribute is malformed (or of a retired scheme)")]
    Malformed,
    /// No public key is known for the service that is said to publish it.
    #[error("no public key of {0:?} is known")]
    UnknownPublisher(String),
    /// No public key of the publisher verifies this signature.
    #[error("the event's signature does not verify with any public key of {0:?}")]
    Mismatch(String),
}

/// A publishing service's signing key (an Ed25519 key pair from its 32-byte seed).
#[derive(Clone)]
pub struct SigningKey {
    pair: KeyPair,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(public {})", self.public_hex())
    }
}

impl SigningKey {
    /// The key of this seed, which must not be all zeros (no random seed is; it panics).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self::try_from_seed(seed).expect("an all-zero seed")
    }

    fn try_from_seed(seed: [u8; 32]) -> Result<Self, String> {
        KeyPair::try_from_seed(Seed::new(seed))
            .map(|pair| Self { pair })
            .map_err(|_| "a signing key of all zeros is no key".to_owned())
    }

    /// Reads a seed written as 64 hex digits (spaces around it ignored). The error never
    /// contains the text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let seed = decode_hex::<32>(text).ok_or_else(|| {
            format!(
                "a signing key is 64 hex digits (32 bytes; `openssl rand -hex 32`), not {} characters{}",
                text.len(),
                if text.len() == 64 { " with a non-hex digit" } else { "" }
            )
        })?;
        Self::try_from_seed(seed)
    }

    /// The public key, as 64 hex digits.
    pub fn public_hex(&self) -> String {
        hex(&self.pair.pk[..])
    }

    /// The signature of the event with `attributes` and `data`: `v3=` and 128 hex digits.
    pub fn sign(&self, attributes: &Attributes<'_>, data: &[u8]) -> String {
        // Deterministic (no noise): the same event always has the same signature.
        let signature = self.pair.sk.sign(attributes.message(data), None);
        format!("{SCHEME}{}", hex(&signature[..]))
    }
}

/// The public keys of the publishers: which service each one verifies for.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PublicKeys {
    keys: Vec<(String, [u8; 32])>,
}

impl fmt::Debug for PublicKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string())
    }
}

impl fmt::Display for PublicKeys {
    /// The list as `events_public_keys` holds it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (service, key)) in self.keys.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{service}:{}", hex(key))?;
        }
        Ok(())
    }
}

impl PublicKeys {
    /// Reads `service:<64 hex digits>` entries separated by commas (spaces around each are
    /// ignored). At least one entry.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut keys = Vec::new();
        for (position, entry) in list
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let bad = |why: &str| format!("entry {} of {PUBLIC_KEYS_VARIABLE} {why}", position + 1);
            let (service, key) = entry
                .split_once(':')
                .ok_or_else(|| bad("is not service:<public key>"))?;
            let service = service.trim();
            if service.is_empty()
                || !service
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(bad("names no service"));
            }
            let key = decode_hex::<32>(key.trim())
                .filter(|k| PublicKey::from_slice(k).is_ok())
                .ok_or_else(|| bad("holds no public key (64 hex digits)"))?;
            keys.push((service.to_owned(), key));
        }
        if keys.is_empty() {
            return Err(format!("{PUBLIC_KEYS_VARIABLE} holds no key"));
        }
        Ok(Self { keys })
    }

    /// The public keys of `signers`, each under its service, in the order given.
    pub fn of<'a>(signers: impl IntoIterator<Item = (&'a str, &'a SigningKey)>) -> Self {
        Self {
            keys: signers
                .into_iter()
                .map(|(service, key)| (service.to_owned(), *key.pair.pk))
                .collect(),
        }
    }

    /// Whether `key`'s public key is listed for `service`.
    pub fn lists(&self, service: &str, key: &SigningKey) -> bool {
        self.keys
            .iter()
            .any(|(s, k)| s == service && k[..] == key.pair.pk[..])
    }

    /// Checks `signature` (the attribute's value, if any) of the event with `attributes`
    /// and `data` against every public key of `publisher`.
    pub fn verify(
        &self,
        publisher: &str,
        attributes: &Attributes<'_>,
        data: &[u8],
        signature: Option<&str>,
    ) -> Result<(), SignatureError> {
        let signature = signature
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(SignatureError::Missing)?;
        let claimed = signature
            .strip_prefix(SCHEME)
            .and_then(decode_hex::<64>)
            .ok_or(SignatureError::Malformed)?;
        let claimed = Signature::new(claimed);
        let mut keys = self
            .keys
            .iter()
            .filter(|(service, _)| service == publisher)
            .peekable();
        if keys.peek().is_none() {
            return Err(SignatureError::UnknownPublisher(publisher.to_owned()));
        }
        let message = attributes.message(data);
        let verified = keys.any(|(_, key)| PublicKey::new(*key).verify(&message, &claimed).is_ok());
        if verified {
            Ok(())
        } else {
            Err(SignatureError::Mismatch(publisher.to_owned()))
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `N` bytes written as `text` in hex (`2 * N` digits), if it is that.
pub fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
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

    const EVENT: Attributes<'static> = Attributes {
        id: "e1",
        event_type: "payment:created",
        source: "/boxoffice/payments",
        subject: "p1",
        time: "2026-01-01T00:00:00.000Z",
    };

    fn key(n: u8) -> SigningKey {
        SigningKey::from_seed([n; 32])
    }

    fn payments() -> PublicKeys {
        PublicKeys::of([("payments", &key(1)), ("orders", &key(2))])
    }

    #[test]
    fn a_signature_verifies_with_its_publishers_key_and_no_other() {
        let data = br#"{"id":"p1","orderId":"o1","stripeId":"ch_1"}"#;
        let signature = key(1).sign(&EVENT, data);
        assert!(signature.starts_with("v3=") && signature.len() == 3 + 128);
        let keys = payments();
        assert_eq!(
            keys.verify("payments", &EVENT, data, Some(&signature)),
            Ok(())
        );
        // Another service's key, even one the consumer knows, does not speak for payments.
        let by_orders = key(2).sign(&EVENT, data);
        assert_eq!(
            keys.verify("payments", &EVENT, data, Some(&by_orders)),
            Err(SignatureError::Mismatch("payments".into()))
        );
        assert_eq!(
            keys.verify("cart", &EVENT, data, Some(&signature)),
            Err(SignatureError::UnknownPublisher("cart".into()))
        );
    }

    #[test]
    fn every_signed_part_matters() {
        let keys = payments();
        let data = br#"{"orderId":"o1"}"#;
        let signature = key(1).sign(&EVENT, data);
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
                keys.verify("payments", &forged, data, Some(&signature)),
                Err(SignatureError::Mismatch("payments".into())),
                "{forged:?}"
            );
        }
        assert!(keys
            .verify("payments", &EVENT, br#"{"orderId":"o2"}"#, Some(&signature))
            .is_err());
        // Length prefixes: moving a character between attributes changes the message.
        let shifted = Attributes {
            id: "e1p",
            subject: "1",
            ..EVENT
        };
        assert_ne!(key(1).sign(&shifted, data), signature);
    }

    #[test]
    fn json_data_is_signed_in_canonical_form() {
        let compact = br#"{"orderId":"o1","id":"p1","n":[1,2.5,{"b":true,"a":null}]}"#;
        let spaced = br#"{ "id" : "p1", "n": [1, 2.5, {"a": null, "b": true}], "orderId": "o1" }"#;
        let signature = key(1).sign(&EVENT, compact);
        assert_eq!(
            payments().verify("payments", &EVENT, spaced, Some(&signature)),
            Ok(())
        );
        assert_eq!(
            canonical_data(compact),
            br#"{"id":"p1","n":[1,2.5,{"a":null,"b":true}],"orderId":"o1"}"#
        );
        assert_eq!(canonical_data(b"not json"), b"not json");
    }

    #[test]
    fn the_same_instant_written_another_way_verifies() {
        let keys = payments();
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
            let signature = key(1).sign(&event, data);
            let carried = Attributes {
                time: rewritten,
                ..EVENT
            };
            assert_eq!(
                keys.verify("payments", &carried, data, Some(&signature)),
                Ok(()),
                "{written} as {rewritten}"
            );
        }
        // Another instant, however written, does not.
        let signature = key(1).sign(&EVENT, data);
        for other in ["2026-01-01T00:00:00.001Z", "2026-01-01T00:00:00+01:00", ""] {
            let forged = Attributes {
                time: other,
                ..EVENT
            };
            assert!(
                keys.verify("payments", &forged, data, Some(&signature))
                    .is_err(),
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
    fn rotation_lists_both_public_keys_and_signs_with_the_new_seed() {
        let (old, new) = (key(1), key(3));
        let rotated = PublicKeys::parse(&format!(
            " payments:{} , payments:{} ",
            old.public_hex(),
            new.public_hex()
        ))
        .unwrap();
        let data = b"{}";
        for signer in [&old, &new] {
            let signature = signer.sign(&EVENT, data);
            assert_eq!(
                rotated.verify("payments", &EVENT, data, Some(&signature)),
                Ok(())
            );
        }
        assert!(rotated.lists("payments", &new) && !rotated.lists("orders", &new));
        // The list reads back as written.
        assert_eq!(PublicKeys::parse(&rotated.to_string()).unwrap(), rotated);
    }

    #[test]
    fn missing_malformed_retired_and_bad_keys_are_refused() {
        let keys = payments();
        let e = b"{}";
        assert_eq!(
            keys.verify("payments", &EVENT, e, None),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            keys.verify("payments", &EVENT, e, Some(" ")),
            Err(SignatureError::Missing)
        );
        let good = key(1).sign(&EVENT, e);
        let hmac = format!("v2={}", "ab".repeat(32));
        for bad in [
            "ch_x",
            "v3=",
            "v3=00",
            &good[..130],
            &format!("{good}0"),
            &good.replace("v3=", "v3=é")[..131],
            &hmac,
            &good.replacen("v3=", "v2=", 1),
        ] {
            assert_eq!(
                keys.verify("payments", &EVENT, e, Some(bad)),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
        for bad in [
            "",
            " , ",
            "payments",
            "payments:00",
            &format!(":{}", key(1).public_hex()),
            &format!("Pay ments:{}", key(1).public_hex()),
        ] {
            assert!(PublicKeys::parse(bad).is_err(), "{bad:?}");
        }
        assert!(SigningKey::parse("short").is_err());
        let secret = "z".repeat(64);
        let refused = SigningKey::parse(&secret).unwrap_err();
        assert!(!refused.contains(&secret), "the key is never echoed");
        assert!(SigningKey::parse(&"0f".repeat(32)).is_ok());
        assert!(
            SigningKey::parse(&"00".repeat(32)).is_err(),
            "no panic either"
        );
        assert!(
            !format!("{:?}", key(1)).contains(&hex(&[1; 32])),
            "seeds never print"
        );
    }

    #[test]
    fn variables_name_their_service() {
        assert_eq!(signing_variable("orders"), "orders_events_key");
        assert_eq!(signing_service("orders_events_key"), Some("orders"));
        assert_eq!(signing_service("_events_key"), None);
        assert_eq!(signing_service("jwt_key"), None);
        assert_eq!(service_of("/boxoffice/orders"), Some("orders"));
        assert_eq!(service_of("/boxoffice/"), None);
        assert_eq!(service_of("/other/orders"), None);
        assert_eq!(service_of("/boxoffice/a/b"), None);
    }
}
