//! `fermyon:spin/key-value@2.0.0` on `wasi:keyvalue/store@0.2.0-draft`.
//!
//! A Spin store label is a `wasi:keyvalue` bucket identifier (`default` is the bucket
//! `default`). Spin allows any key; a NATS JetStream key-value bucket (wasmCloud's
//! production backend) allows only `[-/_.a-zA-Z0-9]` and `=`, so keys are escaped with
//! [`encode_key`] on the way in and restored by [`decode_key`] when listed. The escape is
//! applied on every backend, so a bucket reads the same whichever backend holds it.

use crate::bindings::exports::fermyon::spin::key_value::{Error, Guest, GuestStore, Store};
use crate::bindings::wasi::config::store as config;
use crate::bindings::wasi::keyvalue::store as wasi;
use crate::Adapter;

/// The config key that lists the stores this component may open, comma-separated. It is
/// not a valid Spin variable name, so no variable can shadow it.
pub const STORES_KEY: &str = "spin.key-value-stores";

/// Whether `label` is in the comma-separated `allowed` list.
pub fn allowed(label: &str, allowed: &str) -> bool {
    allowed
        .split(',')
        .map(str::trim)
        .any(|l| !l.is_empty() && l == label)
}

impl Guest for Adapter {
    type Store = Bucket;
}

/// An open `wasi:keyvalue` bucket.
pub struct Bucket(wasi::Bucket);

impl GuestStore for Bucket {
    fn open(label: String) -> Result<Store, Error> {
        let listed = config::get(STORES_KEY)
            .map_err(|_| Error::Other(format!("cannot read the config key {STORES_KEY}")))?
            .unwrap_or_default();
        if !allowed(&label, &listed) {
            return Err(Error::AccessDenied);
        }
        wasi::open(&label)
            .map(|bucket| Store::new(Bucket(bucket)))
            .map_err(error)
    }

    fn get(&self, key: String) -> Result<Option<Vec<u8>>, Error> {
        self.0.get(&encode_key(&key)).map_err(error)
    }

    fn set(&self, key: String, value: Vec<u8>) -> Result<(), Error> {
        self.0.set(&encode_key(&key), &value).map_err(error)
    }

    fn delete(&self, key: String) -> Result<(), Error> {
        self.0.delete(&encode_key(&key)).map_err(error)
    }

    fn exists(&self, key: String) -> Result<bool, Error> {
        self.0.exists(&encode_key(&key)).map_err(error)
    }

    fn get_keys(&self) -> Result<Vec<String>, Error> {
        let mut keys = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.0.list_keys(cursor).map_err(error)?;
            keys.extend(page.keys.iter().map(|k| decode_key(k)));
            match page.cursor {
                Some(next) if Some(next) != cursor => cursor = Some(next),
                _ => return Ok(keys),
            }
        }
    }
}

fn error(e: wasi::Error) -> Error {
    match e {
        wasi::Error::NoSuchStore => Error::NoSuchStore,
        wasi::Error::AccessDenied => Error::AccessDenied,
        wasi::Error::Other(message) => Error::Other(message),
    }
}

/// Whether `b` may stand for itself in an escaped key.
fn plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/')
}

/// `key` with every byte outside `[-/_.a-zA-Z0-9]` written as `=XX` (upper-case hex).
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for &b in key.as_bytes() {
        if plain(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("={b:02X}"));
        }
    }
    out
}

/// The key [`encode_key`] escaped as `escaped`; a key not written by it comes back as is.
pub fn decode_key(escaped: &str) -> String {
    let bytes = escaped.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| escaped.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_the_services_use_are_escaped_into_the_nats_alphabet() {
        let key = "auth:signin-failures:ada+1@example.com";
        let escaped = encode_key(key);
        assert_eq!(escaped, "auth=3Asignin-failures=3Aada=2B1=40example.com");
        assert!(escaped.bytes().all(|b| plain(b) || b == b'='), "{escaped}");
        assert_eq!(decode_key(&escaped), key);
    }

    #[test]
    fn only_listed_stores_open() {
        assert!(allowed("default", "default"));
        assert!(allowed("cache", "default, cache"));
        assert!(!allowed("other", "default"));
        assert!(!allowed("", ""));
        assert!(!allowed("default", ""));
    }

    #[test]
    fn escaping_round_trips_every_kind_of_key() {
        for key in [
            "",
            "plain/key_1.x",
            "a=b",
            "=3A",
            "ünï cödé",
            "session-revoked:ab12",
        ] {
            assert_eq!(decode_key(&encode_key(key)), key, "{key:?}");
        }
    }
}
