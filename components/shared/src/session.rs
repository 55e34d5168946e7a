//! Sessions: an HS256 JWT with `{id, email}`, `iat` and `exp`, carried in the session
//! cookie: `__Host-session` over HTTPS (`Secure`, `Path=/` and no `Domain`, so that no
//! other origin, not even a sibling subdomain or a plain-HTTP man in the middle, can set
//! it), `session` over plain HTTP, so that local runs keep their session. Clients that
//! replay the cookies they were given, as browsers and the old app's clients do, work with
//! either name.
//!
//! The cookie value is what the old app's cookie-session wrote, base64 (standard) of
//! `{"jwt":"<token>"}`, so its clients keep working; a bare JWT is accepted too. The
//! cookie is `HttpOnly; Path=/; SameSite=Lax`, and `Secure` only over HTTPS.
//!
//! `jwt_key` may list several keys, comma-separated: the first signs, all verify, so a key
//! rotates without signing anybody out. Sign-out revokes the token on the server: its
//! digest goes into the key-value store until the token would have expired anyway, and a
//! revoked token is no session, whoever kept a copy.
//!
//! A session also ends when it goes unused for `session_idle_seconds` (30 minutes by
//! default), whatever its `exp` says: the last use of each token is kept in the key-value
//! store (written at most once a minute per session, so a busy session costs one read per
//! request and a write a minute). A token the store has never seen, one made with the key
//! by other means (the old app's tests forged theirs), is taken as first used now.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use jwt_simple::prelude::{
    Claims, Duration, HS256Key, MACLike, UnixTimeStamp, VerificationOptions,
};
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use crate::config::variable;
use crate::kv::{KeyValue, LazySpinStore};
use crate::{ApiError, ApiRequest};

/// The name of the session cookie over plain HTTP.
pub const COOKIE_NAME: &str = "session";
/// The name of the session cookie over HTTPS: the `__Host-` prefix makes browsers refuse
/// it unless it is `Secure`, from a secure origin, with `Path=/` and no `Domain`.
pub const SECURE_COOKIE_NAME: &str = "__Host-session";

/// The session cookie's name for a request that came over HTTPS or not.
pub fn cookie_name(https: bool) -> &'static str {
    if https {
        SECURE_COOKIE_NAME
    } else {
        COOKIE_NAME
    }
}
/// The shortest `jwt_key` accepted (jwt-simple refuses HMAC keys under 96 bits).
pub const MIN_KEY_BYTES: usize = 12;
/// Session lifetime when `session_ttl_seconds` is unset or unreadable.
pub const DEFAULT_TTL_SECONDS: u64 = 86_400;
/// How long a session may go unused when `session_idle_seconds` is unset or unreadable.
pub const DEFAULT_IDLE_SECONDS: u64 = 1_800;
/// A session's last use is written when the one kept is at least this old (or a quarter
/// of the idle timeout, if that is shorter).
const SEEN_EVERY_MS: i64 = 60_000;

/// Who a session belongs to: the JWT's custom claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionUser {
    /// The user id.
    pub id: String,
    /// The user's email, as they signed up with it.
    pub email: String,
}

/// A verified session: the user and when the token was issued (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Who is signed in.
    pub user: SessionUser,
    /// `iat`, in unix seconds.
    pub issued_at: u64,
    /// `exp`, in unix seconds.
    pub expires_at: u64,
    /// The SHA-256 of the token, hex: its name in the revocation list.
    pub token_digest: String,
}

/// The key-value key under which a revoked token's digest is kept.
fn revoked_key(token_digest: &str) -> String {
    format!("session-revoked:{token_digest}")
}

/// The key-value key under which a token's last use (unix ms) is kept.
fn seen_key(token_digest: &str) -> String {
    format!("session-seen:{token_digest}")
}

/// The name of `token` in the revocation list and the last-use record: its SHA-256, hex.
pub fn digest(token: &str) -> String {
    hex(&hmac_sha256::Hash::hash(token.as_bytes()))
}

/// The signing keys, lifetime and revocation list of sessions.
#[derive(Clone)]
pub struct SessionConfig {
    keys: Vec<HS256Key>,
    ttl_seconds: u64,
    idle_seconds: u64,
    revocations: Option<Rc<dyn KeyValue>>,
}

impl SessionConfig {
    /// A configuration from one raw key (at least [`MIN_KEY_BYTES`]) and a lifetime, with
    /// no revocation list.
    pub fn new(key: &[u8], ttl_seconds: u64) -> Result<Self, ApiError> {
        Self::with_keys(&[key], ttl_seconds)
    }

    /// A configuration from raw keys, the first of which signs.
    pub fn with_keys(keys: &[&[u8]], ttl_seconds: u64) -> Result<Self, ApiError> {
        if keys.is_empty() || keys.iter().any(|key| key.len() < MIN_KEY_BYTES) {
            return Err(ApiError::internal(format!(
                "every key of the jwt_key variable must be at least {MIN_KEY_BYTES} bytes"
            )));
        }
        Ok(Self {
            keys: keys.iter().map(|key| HS256Key::from_bytes(key)).collect(),
            ttl_seconds,
            idle_seconds: DEFAULT_IDLE_SECONDS,
            revocations: None,
        })
    }

    /// Ends a session unused for `seconds` (0: never), kept in the revocation store.
    pub fn with_idle_timeout(mut self, seconds: u64) -> Self {
        self.idle_seconds = seconds;
        self
    }

    /// The lifetime of a session, in seconds.
    pub fn ttl_seconds(&self) -> u64 {
        self.ttl_seconds
    }

    /// Keeps revoked tokens in `store`, and refuses the tokens found there.
    pub fn with_revocations(mut self, store: Rc<dyn KeyValue>) -> Self {
        self.revocations = Some(store);
        self
    }

    /// From the Spin variables `jwt_key` (required: one key or a comma-separated list),
    /// `session_ttl_seconds` (optional, default [`DEFAULT_TTL_SECONDS`]) and
    /// `session_idle_seconds` (optional, default [`DEFAULT_IDLE_SECONDS`]; 0 for none),
    /// revoking into the `default` key-value store.
    pub fn from_variables() -> Result<Self, ApiError> {
        let list = variable("jwt_key")?.unwrap_or_default();
        let keys: Vec<&[u8]> = list
            .split(',')
            .map(str::trim)
            .filter(|key| !key.is_empty())
            .map(str::as_bytes)
            .collect();
        if keys.is_empty() {
            return Err(ApiError::internal("the jwt_key variable is not set"));
        }
        let ttl = seconds_variable("session_ttl_seconds", DEFAULT_TTL_SECONDS)?;
        let idle = seconds_variable("session_idle_seconds", DEFAULT_IDLE_SECONDS)?;
        Ok(Self::with_keys(&keys, ttl)?
            .with_idle_timeout(idle)
            .with_revocations(Rc::new(LazySpinStore::new("default"))))
    }

    /// A signed token for `user`, issued at `now_ms` and valid for the configured lifetime.
    pub fn issue(&self, user: &SessionUser, now_ms: i64) -> Result<String, ApiError> {
        let now = UnixTimeStamp::from_secs(unix_seconds(now_ms));
        let lifetime = Duration::from_secs(self.ttl_seconds);
        // The times come from the caller, not jwt-simple's clock, so rules stay testable.
        // A random `jti`: two sign-ins in the same second are two tokens, so revoking one
        // leaves the other.
        let mut claims =
            Claims::with_custom_claims(user.clone(), lifetime).with_jwt_id(crate::ids::new_id());
        claims.issued_at = Some(now);
        claims.invalid_before = None;
        claims.expires_at = Some(now + lifetime);
        let token = self.keys[0]
            .authenticate(claims)
            .map_err(|e| ApiError::internal(format!("signing a session: {e}")))?;
        // Its idle time counts from now, not from its first use.
        if let (Some(store), true) = (&self.revocations, self.idle_seconds > 0) {
            store.set(&seen_key(&digest(&token)), now_ms.to_string().as_bytes())?;
        }
        Ok(token)
    }

    /// The session in `token` if it is signed with one of our keys and not expired at
    /// `now_ms` (revocation is not checked here: see [`Self::current`]).
    pub fn verify(&self, token: &str, now_ms: i64) -> Option<Session> {
        let options = VerificationOptions {
            // Our own clock is the reference: no grace after `exp`, and an `iat` a little
            // ahead (another instance's clock) is fine.
            time_tolerance: Some(Duration::from_secs(0)),
            accept_future: true,
            artificial_time: Some(UnixTimeStamp::from_secs(unix_seconds(now_ms))),
            max_token_length: Some(4096),
            ..Default::default()
        };
        let claims = self.keys.iter().find_map(|key| {
            key.verify_token::<SessionUser>(token, Some(options.clone()))
                .ok()
        })?;
        // Every token we issue carries both; one without is not ours.
        Some(Session {
            user: claims.custom,
            issued_at: claims.issued_at?.as_secs(),
            expires_at: claims.expires_at?.as_secs(),
            token_digest: digest(token),
        })
    }

    /// The session of a request: its session cookie (by [`cookie_name`]), verified at
    /// `now_ms`, not revoked and not idle for longer than the idle timeout; its use is
    /// recorded. A revocation list that cannot be read is a 503, never a session.
    pub fn current(&self, request: &ApiRequest, now_ms: i64) -> Result<Option<Session>, ApiError> {
        let name = cookie_name(request.is_https());
        let Some(token) = request.cookie(name).and_then(token_from_cookie) else {
            return Ok(None);
        };
        let Some(session) = self.verify(&token, now_ms) else {
            return Ok(None);
        };
        if let Some(store) = &self.revocations {
            if store.get(&revoked_key(&session.token_digest))?.is_some() {
                return Ok(None);
            }
            if self.idle_seconds > 0 && !self.still_in_use(&**store, &session, now_ms)? {
                return Ok(None);
            }
        }
        Ok(Some(session))
    }

    /// Whether `session` was used within the idle timeout, recording this use when the
    /// kept one is a minute old or more (a quarter of the timeout under a short one; a
    /// failed write is logged: the session stands).
    fn still_in_use(
        &self,
        store: &dyn KeyValue,
        session: &Session,
        now_ms: i64,
    ) -> Result<bool, ApiError> {
        let key = seen_key(&session.token_digest);
        let seen = store
            .get(&key)?
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| text.parse::<i64>().ok());
        let idle_ms = i64::try_from(self.idle_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
        if let Some(seen) = seen {
            if now_ms.saturating_sub(seen) > idle_ms {
                return Ok(false);
            }
            // A minute at most, less under a short timeout, so that use keeps it alive.
            if now_ms.saturating_sub(seen) < SEEN_EVERY_MS.min(idle_ms / 4) {
                return Ok(true);
            }
        }
        if let Err(e) = store.set(&key, now_ms.to_string().as_bytes()) {
            eprintln!("sessions: cannot record a session's use: {e}");
        }
        Ok(true)
    }

    /// The session of a request, or 401.
    pub fn require(&self, request: &ApiRequest, now_ms: i64) -> Result<Session, ApiError> {
        self.current(request, now_ms)?.ok_or(ApiError::Unauthorized)
    }

    /// Revokes `session`'s token: from now on it is no session anywhere. The entry keeps
    /// the token's expiry, after which the token is refused for its age anyway.
    pub fn revoke(&self, session: &Session) -> Result<(), ApiError> {
        self.revoke_digest(&session.token_digest, session.expires_at)
    }

    /// Revokes the token whose [`digest`] is `token_digest` and which expires at
    /// `expires_at` (unix seconds): what sign-out everywhere does for each of a user's.
    pub fn revoke_digest(&self, token_digest: &str, expires_at: u64) -> Result<(), ApiError> {
        let store = self
            .revocations
            .as_ref()
            .ok_or_else(|| ApiError::internal("sessions have no revocation store"))?;
        store.set(
            &revoked_key(token_digest),
            expires_at.to_string().as_bytes(),
        )?;
        Ok(())
    }
}

/// A number of seconds from the variable `name`, `default` when unset or unreadable.
fn seconds_variable(name: &str, default: u64) -> Result<u64, ApiError> {
    Ok(match variable(name)? {
        None => default,
        Some(text) => text.trim().parse().unwrap_or_else(|_| {
            eprintln!("{name}={text:?} is not a number; using {default}");
            default
        }),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unix_seconds(ms: i64) -> u64 {
    u64::try_from(ms / 1000).unwrap_or(0)
}

#[derive(Serialize, Deserialize)]
struct CookieSession {
    jwt: String,
}

/// The cookie value for `token`: base64 of `{"jwt":"<token>"}`.
pub fn cookie_value(token: &str) -> String {
    let json = serde_json::json!({ "jwt": token }).to_string();
    STANDARD.encode(json)
}

/// The token in a cookie value, in the cookie-session form or bare.
pub fn token_from_cookie(value: &str) -> Option<String> {
    let value = value.trim().trim_matches('"');
    if let Ok(decoded) = STANDARD.decode(value) {
        if let Ok(session) = serde_json::from_slice::<CookieSession>(&decoded) {
            return Some(session.jwt);
        }
    }
    (value.split('.').count() == 3).then(|| value.to_owned())
}

/// The `set-cookie` header value that starts a session carrying `token` (over HTTPS,
/// `__Host-session` and `Secure`).
pub fn set_cookie(token: &str, secure: bool) -> String {
    let name = cookie_name(secure);
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{name}={}; Path=/; HttpOnly; SameSite=Lax{secure}",
        cookie_value(token)
    )
}

/// The `set-cookie` header value that ends the session: empty and already expired.
pub fn clear_cookie(secure: bool) -> String {
    let name = cookie_name(secure);
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; \
         Expires=Thu, 01 Jan 1970 00:00:00 GMT{secure}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use spin_sdk::http::Method;

    const NOW: i64 = 1_714_564_800_000;

    fn user() -> SessionUser {
        SessionUser {
            id: "a".repeat(24),
            email: "test@test.com".into(),
        }
    }

    #[test]
    fn a_session_round_trips_through_the_cookie() {
        let config = SessionConfig::new(b"a test signing key", 60).unwrap();
        let token = config.issue(&user(), NOW).unwrap();
        let header = set_cookie(&token, false);
        assert!(header.starts_with("session="));
        assert!(header.ends_with("; Path=/; HttpOnly; SameSite=Lax"));
        let value = header
            .trim_start_matches("session=")
            .split(';')
            .next()
            .unwrap();
        let decoded = STANDARD.decode(value).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&decoded).unwrap();
        assert_eq!(json["jwt"], token.as_str());

        let request =
            ApiRequest::new(Method::Get, "/").with_header("cookie", &format!("session={value}"));
        let session = config.current(&request, NOW + 1000).unwrap().unwrap();
        assert_eq!(session.user, user());
        assert_eq!(session.issued_at, (NOW / 1000) as u64);

        let bare =
            ApiRequest::new(Method::Get, "/").with_header("cookie", &format!("session={token}"));
        assert!(config.current(&bare, NOW).unwrap().is_some());
    }

    #[test]
    fn a_revoked_token_is_no_session_and_others_stay() {
        let store: Rc<dyn KeyValue> = Rc::new(crate::kv::MemoryKv::default());
        let config = SessionConfig::new(b"a test signing key", 60)
            .unwrap()
            .with_revocations(store.clone());
        let request = |token: &str| {
            ApiRequest::new(Method::Get, "/").with_header("cookie", &format!("session={token}"))
        };
        let first = config.issue(&user(), NOW).unwrap();
        let second = config.issue(&user(), NOW + 1000).unwrap();
        let session = config.current(&request(&first), NOW).unwrap().unwrap();
        assert_eq!(session.expires_at, (NOW / 1000) as u64 + 60);
        config.revoke(&session).unwrap();
        assert_eq!(config.current(&request(&first), NOW + 2000), Ok(None));
        assert_eq!(
            config.require(&request(&first), NOW + 2000),
            Err(ApiError::Unauthorized)
        );
        assert!(config
            .current(&request(&second), NOW + 2000)
            .unwrap()
            .is_some());
        assert_eq!(
            store.get(&revoked_key(&session.token_digest)).unwrap(),
            Some(session.expires_at.to_string().into_bytes())
        );
    }

    #[test]
    fn rotation_signs_with_the_first_key_and_verifies_with_all() {
        let old = SessionConfig::new(b"the old signing key", 60).unwrap();
        let rotated =
            SessionConfig::with_keys(&[b"the new signing key", b"the old signing key"], 60)
                .unwrap();
        let by_old = old.issue(&user(), NOW).unwrap();
        assert!(
            rotated.verify(&by_old, NOW).is_some(),
            "old sessions survive"
        );
        let by_new = rotated.issue(&user(), NOW).unwrap();
        assert!(old.verify(&by_new, NOW).is_none(), "the first key signs");
        assert!(SessionConfig::with_keys(&[b"the new signing key", b"short"], 60).is_err());
        assert!(SessionConfig::with_keys(&[], 60).is_err());
    }

    #[test]
    fn expired_or_foreign_tokens_are_not_sessions() {
        let config = SessionConfig::new(b"a test signing key", 60).unwrap();
        let token = config.issue(&user(), NOW).unwrap();
        assert!(config.verify(&token, NOW + 59_000).is_some());
        assert!(config.verify(&token, NOW + 61_000).is_none());
        let other = SessionConfig::new(b"another signing key", 60).unwrap();
        assert!(other.verify(&token, NOW).is_none());
        assert!(config.verify("garbage", NOW).is_none());
        assert!(token_from_cookie("e30=").is_none());
        let anonymous = ApiRequest::new(Method::Get, "/");
        assert_eq!(config.require(&anonymous, NOW), Err(ApiError::Unauthorized));
    }

    #[test]
    fn tokens_signed_the_usual_way_with_our_key_are_accepted() {
        // What the old app's tests (and ours) do: sign with the raw key, `nbf` = now.
        let claims = Claims::with_custom_claims(user(), Duration::from_hours(1));
        let token = HS256Key::from_bytes(b"a test signing key")
            .authenticate(claims)
            .unwrap();
        let config = SessionConfig::new(b"a test signing key", 60).unwrap();
        let session = config.verify(&token, crate::time::now_ms()).unwrap();
        assert_eq!(session.user, user());
    }

    #[test]
    fn short_keys_are_refused() {
        assert_eq!(
            SessionConfig::new(b"asdf", 60).err().map(|e| e.status()),
            Some(500)
        );
    }

    #[test]
    fn a_session_unused_for_the_idle_timeout_ends_and_a_used_one_lives_on() {
        let store: Rc<dyn KeyValue> = Rc::new(crate::kv::MemoryKv::default());
        let config = SessionConfig::new(b"a test signing key", 86_400)
            .unwrap()
            .with_idle_timeout(1_800)
            .with_revocations(store.clone());
        let request = |token: &str| {
            ApiRequest::new(Method::Get, "/").with_header("cookie", &format!("session={token}"))
        };
        let busy = config.issue(&user(), NOW).unwrap();
        let idle = config.issue(&user(), NOW).unwrap();
        const MINUTE: i64 = 60_000;
        // Used every 20 minutes for two hours: still a session.
        for n in 1..=6 {
            let at = NOW + n * 20 * MINUTE;
            assert!(
                config.current(&request(&busy), at).unwrap().is_some(),
                "{n}"
            );
        }
        // Unused since it was issued: over 30 minutes later it is none, and stays none.
        assert_eq!(config.current(&request(&idle), NOW + 31 * MINUTE), Ok(None));
        assert_eq!(config.current(&request(&idle), NOW + 32 * MINUTE), Ok(None));
        // Uses within a minute of the last recorded one write nothing more.
        let digest = digest(&busy);
        let recorded = store.get(&seen_key(&digest)).unwrap();
        config
            .current(&request(&busy), NOW + 120 * MINUTE + 1000)
            .unwrap();
        assert_eq!(store.get(&seen_key(&digest)).unwrap(), recorded);
        // A token the store never saw (made with the key elsewhere) is first used now.
        let forged = SessionConfig::new(b"a test signing key", 86_400)
            .unwrap()
            .issue(&user(), NOW)
            .unwrap();
        assert!(config
            .current(&request(&forged), NOW + 60 * MINUTE)
            .unwrap()
            .is_some());
        // No idle timeout: only `exp` counts.
        let patient = config.clone().with_idle_timeout(0);
        assert!(patient
            .current(&request(&idle), NOW + 600 * MINUTE)
            .unwrap()
            .is_some());
    }

    #[test]
    fn over_https_the_cookie_is_host_prefixed_and_only_that_one_is_read() {
        let config = SessionConfig::new(b"a test signing key", 60).unwrap();
        let token = config.issue(&user(), NOW).unwrap();
        let header = set_cookie(&token, true);
        assert!(header.starts_with("__Host-session="), "{header}");
        assert!(
            header.contains("; Path=/;") && !header.contains("Domain"),
            "{header}"
        );
        assert!(clear_cookie(true).starts_with("__Host-session=;"));
        let value = cookie_value(&token);
        let https = |cookie: &str| {
            ApiRequest::new(Method::Get, "/")
                .with_header("x-forwarded-proto", "https")
                .with_header("cookie", cookie)
        };
        let prefixed = https(&format!("__Host-session={value}"));
        assert!(config.current(&prefixed, NOW).unwrap().is_some());
        // A plain `session` cookie over HTTPS may have been set by anyone: not a session.
        let tossed = https(&format!("session={value}"));
        assert_eq!(config.current(&tossed, NOW), Ok(None));
    }

    #[test]
    fn cookies_are_secure_only_over_https() {
        assert!(set_cookie("t", true).ends_with("; Secure"));
        assert!(!set_cookie("t", false).contains("Secure"));
        let cleared = clear_cookie(false);
        assert!(cleared.starts_with("session=;"));
        assert!(cleared.contains("Max-Age=0"));
        assert!(cleared.contains("Expires=Thu, 01 Jan 1970 00:00:00 GMT"));
    }
}
