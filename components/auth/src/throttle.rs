//! Sign-in throttling: after [`MAX_FAILURES`] failed sign-ins for one email within
//! [`WINDOW_MS`], further attempts are refused with a 429 until the window is over.
//! Counters live in the key-value store (short-lived, naturally keyed).

use boxoffice_shared::kv::KeyValue;
use boxoffice_shared::ApiError;
use serde::{Deserialize, Serialize};

/// Failed sign-ins allowed per email within a window.
pub const MAX_FAILURES: u32 = 10;
/// The window, from the first failure: 15 minutes.
pub const WINDOW_MS: i64 = 15 * 60 * 1000;

#[derive(Debug, Serialize, Deserialize)]
struct Failures {
    count: u32,
    since_ms: i64,
}

fn key(email_key: &str) -> String {
    format!("auth:signin-failures:{email_key}")
}

fn current(kv: &dyn KeyValue, email_key: &str, now_ms: i64) -> Result<Option<Failures>, ApiError> {
    let failures = kv
        .get(&key(email_key))?
        .and_then(|bytes| serde_json::from_slice::<Failures>(&bytes).ok());
    Ok(failures.filter(|f| now_ms - f.since_ms < WINDOW_MS))
}

/// 429 if `email_key` has used up its failed sign-ins.
pub fn check(kv: &dyn KeyValue, email_key: &str, now_ms: i64) -> Result<(), ApiError> {
    match current(kv, email_key, now_ms)? {
        Some(f) if f.count >= MAX_FAILURES => Err(ApiError::TooManyRequests(
            "Too many failed sign-in attempts; try again in 15 minutes".to_owned(),
        )),
        _ => Ok(()),
    }
}

/// Counts a failed sign-in for `email_key`.
pub fn record_failure(kv: &dyn KeyValue, email_key: &str, now_ms: i64) -> Result<(), ApiError> {
    let failures = match current(kv, email_key, now_ms)? {
        Some(f) => Failures {
            count: f.count + 1,
            ..f
        },
        None => Failures {
            count: 1,
            since_ms: now_ms,
        },
    };
    kv.set(&key(email_key), &serde_json::to_vec(&failures)?)?;
    Ok(())
}

/// Forgets the failures of `email_key` after a successful sign-in.
pub fn clear(kv: &dyn KeyValue, email_key: &str) -> Result<(), ApiError> {
    Ok(kv.delete(&key(email_key))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_shared::kv::MemoryKv;

    #[test]
    fn the_eleventh_attempt_in_the_window_is_refused() {
        let kv = MemoryKv::default();
        for _ in 0..MAX_FAILURES {
            check(&kv, "a@b.c", 0).unwrap();
            record_failure(&kv, "a@b.c", 0).unwrap();
        }
        assert_eq!(check(&kv, "a@b.c", 1000).unwrap_err().status(), 429);
        check(&kv, "other@b.c", 1000).unwrap();
        check(&kv, "a@b.c", WINDOW_MS).unwrap();
    }

    #[test]
    fn success_clears_the_count() {
        let kv = MemoryKv::default();
        for _ in 0..MAX_FAILURES {
            record_failure(&kv, "a@b.c", 0).unwrap();
        }
        clear(&kv, "a@b.c").unwrap();
        check(&kv, "a@b.c", 0).unwrap();
    }
}
