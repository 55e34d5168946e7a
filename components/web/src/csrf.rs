//! Cross-site request forgery: what makes a form post count.
//!
//! Two checks, because the session cookie is `SameSite=Lax` by the API's contract (a
//! shopper following a link from elsewhere arrives signed in), not `Strict`:
//!
//! 1. **Same origin.** Every page post must carry an `Origin` (or, failing that, a
//!    `Referer`) naming the host the shopper sent it to (`Host` or the URL the host gives
//!    the component, or `X-Forwarded-Host` behind the wasmCloud gateway or an ingress). Browsers set these and a page on
//!    another site cannot forge them. This covers the forms that have no session yet:
//!    sign-in and sign-up, so that nobody can sign a shopper into an attacker's account.
//! 2. **A token tied to the session.** Forms of a signed-in shopper carry
//!    `csrf = sha256(label ‖ session cookie)`. Only a page of this origin can read it (the
//!    cookie is `HttpOnly`, and pages are `no-store`), it changes with every session, and
//!    it needs no server state or key of its own. It still holds where a proxy strips
//!    `Origin` and `Referer`.

use boxoffice_shared::session::cookie_name;
use boxoffice_shared::ApiRequest;

/// The name of the form field that carries the token.
pub const FIELD: &str = "csrf";

/// Why a post was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// It came from another site, or says nothing of where it came from.
    CrossSite,
    /// Its token is missing or belongs to another session.
    BadToken,
}

/// The token of the session whose cookie `request` carries, if any.
pub fn token(request: &ApiRequest) -> Option<String> {
    let session = request.cookie(cookie_name(request.is_https()))?;
    let digest = hmac_sha256::Hash::hash(format!("boxoffice csrf\0{session}").as_bytes());
    Some(digest.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether `request`, a form post, came from a page of this shop: its origin first, then
/// (when it carries a session) the token in `submitted`.
pub fn check(request: &ApiRequest, submitted: Option<&str>) -> Result<(), Refusal> {
    let from = request
        .header("origin")
        .filter(|origin| *origin != "null")
        .or_else(|| request.header("referer"))
        .and_then(authority)
        .ok_or(Refusal::CrossSite)?;
    let addressed = [
        request.header("x-forwarded-host"),
        request.header("host"),
        request.header("spin-full-url").and_then(authority),
    ];
    if !addressed
        .into_iter()
        .flatten()
        .any(|host| host.trim().eq_ignore_ascii_case(from))
    {
        return Err(Refusal::CrossSite);
    }
    match token(request) {
        Some(expected) if submitted != Some(expected.as_str()) => Err(Refusal::BadToken),
        _ => Ok(()),
    }
}

/// The `host[:port]` of an absolute URL (a bare word is no origin).
fn authority(url: &str) -> Option<&str> {
    url.contains("://")
        .then(|| boxoffice_wire::url::authority(url))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use spin_sdk::http::Method;

    fn post(headers: &[(&str, &str)]) -> ApiRequest {
        headers
            .iter()
            .fold(ApiRequest::new(Method::Post, "/sell"), |r, (n, v)| {
                r.with_header(n, v)
            })
    }

    #[test]
    fn a_post_from_this_origin_without_a_session_passes() {
        let request = post(&[
            ("host", "shop.test:3000"),
            ("origin", "http://shop.test:3000"),
        ]);
        assert_eq!(check(&request, None), Ok(()));
        let referred = post(&[
            ("host", "shop.test"),
            ("referer", "https://shop.test/signin?next=/"),
        ]);
        assert_eq!(check(&referred, None), Ok(()));
        let proxied = post(&[
            ("host", "web.spin.internal"),
            ("x-forwarded-host", "shop.test"),
            ("origin", "https://shop.test"),
        ]);
        assert_eq!(check(&proxied, None), Ok(()));
        let spin = post(&[
            ("spin-full-url", "http://127.0.0.1:3000/signin"),
            ("origin", "http://127.0.0.1:3000"),
        ]);
        assert_eq!(check(&spin, None), Ok(()));
    }

    #[test]
    fn a_post_from_another_site_or_from_nowhere_is_refused() {
        for headers in [
            vec![("host", "shop.test"), ("origin", "https://evil.test")],
            vec![
                ("host", "shop.test"),
                ("origin", "https://shop.test.evil.test"),
            ],
            vec![("host", "shop.test"), ("origin", "null")],
            vec![
                ("host", "shop.test"),
                ("referer", "https://evil.test/shop.test"),
            ],
            vec![("host", "shop.test")],
            vec![("origin", "https://shop.test")],
        ] {
            assert_eq!(
                check(&post(&headers), None),
                Err(Refusal::CrossSite),
                "{headers:?}"
            );
        }
    }

    #[test]
    fn a_signed_in_post_needs_its_own_sessions_token() {
        let ada = post(&[
            ("host", "shop.test"),
            ("origin", "http://shop.test"),
            ("cookie", "theme=dark; session=ada-token"),
        ]);
        let ada_token = token(&ada).unwrap();
        assert_eq!(ada_token.len(), 64);
        assert_eq!(check(&ada, Some(&ada_token)), Ok(()));
        assert_eq!(check(&ada, None), Err(Refusal::BadToken));
        assert_eq!(check(&ada, Some("")), Err(Refusal::BadToken));

        let bob = post(&[("cookie", "session=bob-token")]);
        let bob_token = token(&bob).unwrap();
        assert_ne!(bob_token, ada_token);
        assert_eq!(check(&ada, Some(&bob_token)), Err(Refusal::BadToken));
        assert_eq!(token(&post(&[])), None);
    }
}
