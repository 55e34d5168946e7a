//! End to end: the users API of docs/api.md (auth component) on the real runtime.

use boxoffice_testkit as support;

use serde_json::{json, Value};
use support::{forge_session, unique_email, Body, Shop, ShopOptions, TEST_JWT_KEY};

#[test]
fn signup_creates_a_user_and_sets_a_plain_http_session_cookie() {
    let shop = Shop::shared();
    let email = unique_email("signup");
    let resp = shop.post(
        "/api/users/signup",
        None,
        json!({"email": email, "password": "pass"}),
    );
    assert_eq!(resp.status, 201, "{}", resp.text);
    assert_eq!(resp.json["email"], email);
    assert!(resp.json["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(resp.json.get("password").is_none(), "leaks the password");
    assert!(resp.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));

    let cookie = resp
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("session="))
        .expect("a session cookie");
    let attrs: Vec<String> = cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    assert!(attrs.contains(&"httponly".into()), "{cookie}");
    assert!(attrs.contains(&"path=/".into()), "{cookie}");
    assert!(attrs.contains(&"samesite=lax".into()), "{cookie}");
    assert!(
        !attrs.contains(&"secure".into()),
        "plain HTTP must not get a Secure cookie (bug 6): {cookie}"
    );
}

#[test]
fn session_cookie_is_secure_behind_an_https_proxy() {
    let shop = Shop::shared();
    let body = json!({"email": unique_email("https"), "password": "pass"});
    let resp = shop.request_with(
        "POST",
        "/api/users/signup",
        None,
        Body::Json(body.clone()),
        &[("x-forwarded-proto", "https")],
    );
    assert_eq!(resp.status, 201, "{}", resp.text);
    let cookie = resp
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("__Host-session="))
        .expect("over HTTPS the cookie is __Host- prefixed");
    assert!(
        cookie
            .split(';')
            .any(|a| a.trim().eq_ignore_ascii_case("secure")),
        "{cookie}"
    );
    // Replayed as a browser would, it is the session; a plain `session` cookie over
    // HTTPS, which another origin could have set, is not.
    let pair = cookie.split(';').next().unwrap().to_owned();
    let https = [("x-forwarded-proto", "https")];
    let me = |cookie: &str| {
        shop.request_with(
            "GET",
            "/api/users/currentuser",
            Some(cookie),
            Body::None,
            &https,
        )
        .json["currentUser"]
            .clone()
    };
    assert_eq!(me(&pair)["email"], body["email"]);
    assert_eq!(
        me(&pair.replacen("__Host-session=", "session=", 1)),
        Value::Null
    );
}

/// A session unused for `session_idle_seconds` ends on every service; sign-out with
/// `{"everywhere": true}` ends every session of the user, on every service.
#[test]
fn idle_sessions_end_and_signing_out_everywhere_ends_them_all() {
    let shop = Shop::start_with(ShopOptions {
        variables: vec![("session_idle_seconds".into(), "2".into())],
        ..Default::default()
    });
    let email = unique_email("idle");
    let (laptop, _) = shop.signup(&email, "pass");
    let sell = |cookie: &str| {
        shop.post(
            "/api/tickets",
            Some(cookie),
            json!({"title": "idle", "price": 5}),
        )
        .status
    };
    // Used within the timeout, again and again: a session.
    for _ in 0..3 {
        std::thread::sleep(std::time::Duration::from_millis(1200));
        assert_eq!(sell(&laptop), 201);
    }
    std::thread::sleep(std::time::Duration::from_millis(3000));
    assert_eq!(sell(&laptop), 401, "idle for longer than the timeout");

    let long = Shop::start();
    let email = unique_email("everywhere");
    let (phone, _) = long.signup(&email, "pass");
    let signin = long.post(
        "/api/users/signin",
        None,
        json!({"email": email, "password": "pass"}),
    );
    let desk = signin
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("session="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let sell = |cookie: &str| {
        long.post(
            "/api/tickets",
            Some(cookie),
            json!({"title": "x", "price": 5}),
        )
        .status
    };
    assert_eq!(sell(&desk), 201);
    let out = long.post(
        "/api/users/signout",
        Some(&phone),
        json!({"everywhere": true}),
    );
    assert_eq!(out.status, 200, "{}", out.text);
    assert_eq!(sell(&phone), 401);
    assert_eq!(sell(&desk), 401, "the other device's session ended too");
    let orders = long.get("/api/orders", Some(&desk));
    assert_eq!(orders.status, 401, "on every service");
}

#[test]
fn signup_validates_email_and_password() {
    let shop = Shop::shared();
    let cases = [
        (
            json!({"email": "not-an-email", "password": "pass"}),
            "email",
        ),
        (json!({"email": "", "password": "pass"}), "email"),
        (json!({"password": "pass"}), "email"),
        (
            json!({"email": unique_email("v"), "password": "abc"}),
            "password",
        ),
        (
            json!({"email": unique_email("v"), "password": "  ab  "}),
            "password",
        ),
        (
            json!({"email": unique_email("v"), "password": "a".repeat(129)}),
            "password",
        ),
        (json!({"email": unique_email("v")}), "password"),
        (
            json!({"email": unique_email("v"), "password": 12345}),
            "password",
        ),
        (json!({"email": 42, "password": "pass"}), "email"),
    ];
    for (body, field) in cases {
        let resp = shop.post("/api/users/signup", None, body.clone());
        assert_eq!(resp.status, 400, "{body}: {}", resp.text);
        resp.assert_error(400, Some(field));
        assert!(resp.session_cookie().is_none(), "{body} set a cookie");
    }
    // Both limits are inclusive, after trimming.
    for password in ["abcd", &"a".repeat(128), "  abcd  "] {
        let resp = shop.post(
            "/api/users/signup",
            None,
            json!({"email": unique_email("edge"), "password": password}),
        );
        assert_eq!(resp.status, 201, "{password:?}: {}", resp.text);
    }
}

#[test]
fn signup_refuses_an_email_in_use_whatever_its_case() {
    let shop = Shop::shared();
    let email = unique_email("dup");
    shop.signup(&email, "pass");
    for again in [email.clone(), email.to_uppercase()] {
        let resp = shop.post(
            "/api/users/signup",
            None,
            json!({"email": again, "password": "other"}),
        );
        assert_eq!(resp.status, 400, "{}", resp.text);
        assert_eq!(resp.error_messages(), vec!["Email in use"]);
    }
}

#[test]
fn concurrent_signups_with_one_email_create_one_user() {
    let shop = Shop::shared();
    let email = unique_email("race");
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let email = email.clone();
                s.spawn(move || {
                    shop.post(
                        "/api/users/signup",
                        None,
                        json!({"email": email, "password": "pass"}),
                    )
                    .status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        7,
        "{statuses:?}"
    );
}

#[test]
fn signin_accepts_the_right_password_only_with_one_message_for_both_failures() {
    let shop = Shop::shared();
    let email = unique_email("signin");
    let (_, id) = shop.signup(&email, "secret");

    let resp = shop.post(
        "/api/users/signin",
        None,
        json!({"email": email, "password": "secret"}),
    );
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.json, json!({"id": id, "email": email}));
    assert!(resp.session_cookie().is_some());

    let wrong = shop.post(
        "/api/users/signin",
        None,
        json!({"email": email, "password": "wrong"}),
    );
    let unknown = shop.post(
        "/api/users/signin",
        None,
        json!({"email": unique_email("nobody"), "password": "secret"}),
    );
    for resp in [&wrong, &unknown] {
        assert_eq!(resp.status, 400, "{}", resp.text);
        assert_eq!(resp.error_messages(), vec!["Invalid credentials"]);
        assert!(resp.session_cookie().is_none());
    }
    assert_eq!(wrong.json, unknown.json, "the two failures must look alike");
}

#[test]
fn signin_validates_its_body() {
    let shop = Shop::shared();
    shop.post(
        "/api/users/signin",
        None,
        json!({"email": "nope", "password": "x"}),
    )
    .assert_error(400, Some("email"));
    shop.post(
        "/api/users/signin",
        None,
        json!({"email": unique_email("x"), "password": ""}),
    )
    .assert_error(400, Some("password"));
    shop.post(
        "/api/users/signin",
        None,
        json!({"email": unique_email("x")}),
    )
    .assert_error(400, Some("password"));
}

#[test]
fn repeated_failed_signins_are_throttled_without_locking_out_other_users() {
    let shop = Shop::shared();
    let email = unique_email("throttle");
    shop.signup(&email, "secret");
    let mut statuses = Vec::new();
    for _ in 0..15 {
        let resp = shop.post(
            "/api/users/signin",
            None,
            json!({"email": email, "password": "wrong"}),
        );
        statuses.push(resp.status);
        if resp.status == 429 {
            assert!(!resp.error_messages().is_empty());
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&429), "never throttled: {statuses:?}");
    assert!(statuses.len() > 3, "throttled too early: {statuses:?}");
    // Another user is not affected.
    let other = unique_email("unthrottled");
    shop.signup(&other, "secret");
    let resp = shop.post(
        "/api/users/signin",
        None,
        json!({"email": other, "password": "secret"}),
    );
    assert_eq!(resp.status, 200, "{}", resp.text);
}

#[test]
fn currentuser_reflects_the_session() {
    let shop = Shop::shared();
    let resp = shop.get("/api/users/currentuser", None);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json, json!({"currentUser": null}));

    let email = unique_email("me");
    let (cookie, id) = shop.signup(&email, "pass");
    let resp = shop.get("/api/users/currentuser", Some(&cookie));
    assert_eq!(resp.status, 200, "{}", resp.text);
    let me = &resp.json["currentUser"];
    assert_eq!(me["id"], id);
    assert_eq!(me["email"], email);
    assert!(me["iat"].as_u64().is_some(), "{}", resp.text);

    // A tampered token is no session.
    let tampered = format!("{cookie}x");
    let resp = shop.get("/api/users/currentuser", Some(&tampered));
    assert_eq!(resp.json, json!({"currentUser": null}));
    let resp = shop.get("/api/users/currentuser", Some("session=garbage"));
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json, json!({"currentUser": null}));
}

#[test]
fn signout_clears_the_cookie() {
    let shop = Shop::shared();
    let (cookie, _) = shop.signup(&unique_email("out"), "pass");
    let resp = shop.request("POST", "/api/users/signout", Some(&cookie), Body::None);
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.json, json!({}));
    let cleared = resp
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("session="))
        .expect("signout sets an expiring cookie");
    let lower = cleared.to_ascii_lowercase();
    assert!(
        lower.contains("max-age=0") || lower.contains("expires=thu, 01 jan 1970"),
        "{cleared}"
    );
    let value = cleared
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("session=");
    assert!(value.is_empty(), "{cleared}");
}

/// The old app's tests made sessions by signing a JWT and wrapping it the way
/// cookie-session did: base64 of `{"jwt": token}`. That habit keeps working.
#[test]
fn a_session_forged_the_old_way_is_accepted_and_one_with_another_key_is_not() {
    let shop = Shop::shared();
    let good = forge_session(TEST_JWT_KEY, "abc123", "forged@example.test", 3600);
    let resp = shop.get("/api/users/currentuser", Some(&good));
    assert_eq!(resp.json["currentUser"]["id"], "abc123", "{}", resp.text);
    assert_eq!(resp.json["currentUser"]["email"], "forged@example.test");

    let bad = forge_session(
        "another-key-0123456789",
        "abc123",
        "forged@example.test",
        3600,
    );
    let resp = shop.get("/api/users/currentuser", Some(&bad));
    assert_eq!(resp.json, json!({"currentUser": null}));
}

/// Bug 7 of the old app: JWTs never expired.
#[test]
fn sessions_expire_after_the_configured_lifetime() {
    let shop = Shop::start_with(ShopOptions {
        variables: vec![("session_ttl_seconds".into(), "1".into())],
        ..Default::default()
    });
    let (cookie, _) = shop.signup(&unique_email("ttl"), "pass");
    let resp = shop.get("/api/users/currentuser", Some(&cookie));
    assert!(resp.json["currentUser"].is_object(), "{}", resp.text);
    // jwt-simple allows 15 minutes of clock skew by default; the session must not.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let resp = shop.get("/api/users/currentuser", Some(&cookie));
    assert_eq!(resp.json, json!({"currentUser": null}));
    let cleared = shop
        .request("POST", "/api/users/signout", Some(&cookie), Body::None)
        .status;
    assert_eq!(cleared, 200);
}

#[test]
fn malformed_and_oversized_bodies_are_client_errors() {
    let shop = Shop::shared();
    for raw in [
        &b"{not json"[..],
        b"",
        b"[]",
        b"null",
        b"\"text\"",
        b"\xff\xfe",
    ] {
        let resp = shop.request("POST", "/api/users/signup", None, Body::Raw(raw.to_vec()));
        assert_eq!(resp.status, 400, "{raw:?}: {}", resp.text);
        resp.error_messages();
    }
    // Over the component's cap (64 KiB); the runtime's own 1 MiB cap is tested in
    // host/tests/runtime.rs on a raw socket.
    for size in [100 * 1024, 900 * 1024] {
        let mut body = br#"{"email":"big@example.test","password":""#.to_vec();
        body.extend(std::iter::repeat_n(b'a', size));
        body.extend(br#""}"#);
        let resp = shop.request("POST", "/api/users/signup", None, Body::Raw(body));
        assert_eq!(resp.status, 413, "size {size}: {}", resp.text);
        resp.error_messages();
    }
}

#[test]
fn unknown_routes_are_json_404s_whatever_the_method() {
    let shop = Shop::shared();
    for (method, path) in [
        ("GET", "/api/users/nope"),
        ("POST", "/api/users/currentuser/extra"),
        ("DELETE", "/api/users/signup"),
        ("GET", "/api/users/signup"),
        ("GET", "/no/such/page"),
        ("PATCH", "/api/nothing"),
        ("GET", "/api/users"),
    ] {
        let resp = shop.request(method, path, None, Body::None);
        assert_eq!(resp.status, 404, "{method} {path}: {}", resp.text);
        resp.error_messages();
    }
}
