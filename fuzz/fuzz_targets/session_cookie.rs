//! Session cookie decoding and verification. Any cookie header never panics; the only
//! session it can open is one the key signed: a genuine token with any bytes changed is
//! either refused or still the same user's session.

#![no_main]

use boxoffice_shared::session::{cookie_value, SessionConfig, SessionUser};
use boxoffice_shared::ApiRequest;
use libfuzzer_sys::fuzz_target;
use spin_sdk::http::Method;

const NOW: i64 = 1_714_564_800_000;

fuzz_target!(|data: &[u8]| {
    let config = SessionConfig::new(b"the fuzzing session key", 3600).unwrap();
    let user = SessionUser {
        id: "a".repeat(24),
        email: "fuzz@example.test".into(),
    };
    let text = String::from_utf8_lossy(data);
    // As it comes: a whole cookie header.
    let request = ApiRequest::new(Method::Get, "/").with_header("cookie", &text);
    if let Ok(Some(session)) = config.current(&request, NOW) {
        panic!("an arbitrary cookie opened a session: {session:?}");
    }
    // Spliced into a genuine token at a position the first byte picks.
    let token = config.issue(&user, NOW).unwrap();
    let at = usize::from(data.first().copied().unwrap_or(0)) % (token.len() + 1);
    let mut spliced = token.as_bytes()[..at].to_vec();
    spliced.extend_from_slice(data.get(1..).unwrap_or_default());
    let spliced = String::from_utf8_lossy(&spliced).into_owned();
    for value in [spliced.clone(), cookie_value(&spliced)] {
        let request =
            ApiRequest::new(Method::Get, "/").with_header("cookie", &format!("session={value}"));
        if let Ok(Some(session)) = config.current(&request, NOW) {
            assert_eq!(session.user, user, "a changed token opened another session");
        }
    }
});
