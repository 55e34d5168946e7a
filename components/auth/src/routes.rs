//! The HTTP routes of the auth service (docs/api.md, "Users"): validation, then the rules of
//! [`crate::users`], then the JSON answer and the session cookie.

use std::net::IpAddr;

use boxoffice_api::auth::{route, Operation};
use boxoffice_shared::service::Context;
use boxoffice_shared::session::{self, SessionUser};
use boxoffice_shared::{http, validate, ApiError, ApiRequest, FieldError};
use serde_json::json;
use spin_sdk::http::Response;

use crate::{sessions, users};

/// What the routes work with; built per request by the entry point, or by tests.
pub struct Env {
    /// The database, the clock, the session and event keys.
    pub ctx: Context,
    /// The proxies whose `x-forwarded-for` is believed (`trusted_proxies`).
    pub trusted_proxies: Vec<IpAddr>,
}

/// Answers one request: the documented operation of its method and path.
pub fn handle(request: &ApiRequest, env: &Env) -> Response {
    let Some((operation, _)) = request.route(route) else {
        return http::not_found();
    };
    let result = match operation {
        Operation::SignUp => sign_up(request, env),
        Operation::SignIn => sign_in(request, env),
        Operation::SignOut => sign_out(request, env),
        Operation::Current => current_user(request, env),
    };
    result.unwrap_or_else(|e| e.to_response())
}

fn sign_up(request: &ApiRequest, env: &Env) -> Result<Response, ApiError> {
    let body = request.json_object()?;
    let (email, password) = validate::both(
        validate::email(body.get("email")),
        validate::new_password(body.get("password")),
    )?;
    let client = request.client_address(&env.trusted_proxies);
    let user = users::sign_up(env.ctx.db.get()?, &email, &password, client, env.ctx.now_ms)?;
    signed_in(request, env, 201, &user)
}

fn sign_in(request: &ApiRequest, env: &Env) -> Result<Response, ApiError> {
    let body = request.json_object()?;
    let (email, password) = validate::both(
        validate::email(body.get("email")),
        validate::password(body.get("password")),
    )?;
    let user = users::sign_in(
        env.ctx.db.get()?,
        &email,
        &password,
        request.client_address(&env.trusted_proxies),
        env.ctx.now_ms,
    )?;
    signed_in(request, env, 200, &user)
}

/// `{id, email}` with a fresh session cookie.
fn signed_in(
    request: &ApiRequest,
    env: &Env,
    status: u16,
    user: &SessionUser,
) -> Result<Response, ApiError> {
    let token = sessions::issue(env.ctx.db.get()?, env.ctx.sessions()?, user, env.ctx.now_ms)?;
    let mut response = http::json(status, &json!({ "id": user.id, "email": user.email }))?;
    response.set_header(
        "set-cookie",
        session::set_cookie(&token, request.is_https()),
    );
    Ok(response)
}

/// Ends the session in the browser and on the server: the token is revoked, so a copy
/// kept elsewhere stops working too. With `{"everywhere": true}`, every session of the
/// user ends, on every device (which needs a session: 401 without one).
fn sign_out(request: &ApiRequest, env: &Env) -> Result<Response, ApiError> {
    let config = env.ctx.sessions()?;
    let current = config.current(request, env.ctx.now_ms)?;
    let everywhere = if request.body.iter().all(u8::is_ascii_whitespace) {
        false
    } else {
        let body = request.json_object()?;
        match body.get("everywhere") {
            None | Some(serde_json::Value::Null) => false,
            Some(serde_json::Value::Bool(everywhere)) => *everywhere,
            Some(_) => {
                return Err(current.map_or(ApiError::Unauthorized, |_| {
                    ApiError::Validation(vec![FieldError::new(
                        "everywhere",
                        "everywhere must be true or false",
                    )])
                }))
            }
        }
    };
    match current {
        Some(session) if everywhere => {
            config.revoke(&session)?;
            sessions::revoke_all(env.ctx.db.get()?, config, &session.user.id, env.ctx.now_ms)?;
        }
        Some(session) => config.revoke(&session)?,
        None if everywhere => return Err(ApiError::Unauthorized),
        None => {}
    }
    let mut response = http::json(200, &json!({}))?;
    response.set_header("set-cookie", session::clear_cookie(request.is_https()));
    Ok(response)
}

fn current_user(request: &ApiRequest, env: &Env) -> Result<Response, ApiError> {
    let current = env
        .ctx
        .sessions()?
        .current(request, env.ctx.now_ms)?
        .map(|s| json!({ "id": s.user.id, "email": s.user.email, "iat": s.issued_at }));
    http::json(200, &json!({ "currentUser": current }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage;
    use boxoffice_shared::kv::MemoryKv;
    use boxoffice_shared::testing::{self, NOW};
    use serde_json::Value;
    use spin_sdk::http::Method;
    use std::rc::Rc;

    fn env() -> Env {
        let sessions = testing::sessions().with_revocations(Rc::new(MemoryKv::default()));
        let db = testing::memory_db(storage::migrations());
        Env {
            ctx: Context::new(db, NOW, Ok(sessions), Ok(testing::public_keys())),
            trusted_proxies: Vec::new(),
        }
    }

    fn post(path: &str, body: Value) -> ApiRequest {
        ApiRequest::new(Method::Post, path).with_json(&body)
    }

    fn body(response: &Response) -> Value {
        serde_json::from_slice(response.body()).unwrap()
    }

    fn cookie(response: &Response) -> String {
        let header = response.header("set-cookie").unwrap().as_str().unwrap();
        header.split(';').next().unwrap().to_owned()
    }

    fn signup(env: &Env) -> Response {
        handle(
            &post(
                "/api/users/signup",
                json!({"email": "test@test.com", "password": "password"}),
            ),
            env,
        )
    }

    #[test]
    fn serves_every_documented_operation_and_nothing_else() {
        let env = env();
        boxoffice_shared::testing::assert_serves_exactly::<Operation>(|request| {
            handle(request, &env)
        });
    }

    #[test]
    fn signup_answers_201_with_a_session() {
        let env = env();
        let response = signup(&env);
        assert_eq!(*response.status(), 201);
        let user = body(&response);
        assert_eq!(user["email"], "test@test.com");
        let set_cookie = response.header("set-cookie").unwrap().as_str().unwrap();
        assert!(set_cookie.starts_with("session="));
        assert!(!set_cookie.contains("Secure"));

        let me = ApiRequest::new(Method::Get, "/api/users/currentuser")
            .with_header("cookie", &cookie(&response));
        let current = body(&handle(&me, &env));
        assert_eq!(current["currentUser"]["id"], user["id"]);
        assert_eq!(current["currentUser"]["email"], "test@test.com");
        assert_eq!(current["currentUser"]["iat"], NOW / 1000);
    }

    #[test]
    fn signup_validates_and_refuses_taken_emails() {
        let env = env();
        let bad = handle(
            &post(
                "/api/users/signup",
                json!({"email": "nope", "password": "p"}),
            ),
            &env,
        );
        assert_eq!(*bad.status(), 400);
        let fields: Vec<Value> = body(&bad)["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].clone())
            .collect();
        assert_eq!(fields, [json!("email"), json!("password")]);

        assert_eq!(*signup(&env).status(), 201);
        let again = signup(&env);
        assert_eq!(*again.status(), 400);
        assert_eq!(
            body(&again),
            json!({"errors": [{"message": "Email in use"}]})
        );
    }

    #[test]
    fn malformed_json_is_a_400() {
        let mut request = ApiRequest::new(Method::Post, "/api/users/signup");
        request.body = b"{\"email\":".to_vec();
        assert_eq!(*handle(&request, &env()).status(), 400);
    }

    #[test]
    fn signin_sets_a_cookie_or_says_invalid_credentials() {
        let env = env();
        signup(&env);
        let ok = handle(
            &post(
                "/api/users/signin",
                json!({"email": "TEST@test.com ", "password": " password "}),
            ),
            &env,
        );
        assert_eq!(*ok.status(), 200);
        assert!(ok.header("set-cookie").is_some());
        let wrong = handle(
            &post(
                "/api/users/signin",
                json!({"email": "test@test.com", "password": "wrong"}),
            ),
            &env,
        );
        assert_eq!(*wrong.status(), 400);
        assert_eq!(body(&wrong)["errors"][0]["message"], "Invalid credentials");
        let missing = handle(
            &post("/api/users/signin", json!({"email": "test@test.com"})),
            &env,
        );
        assert_eq!(body(&missing)["errors"][0]["field"], "password");
    }

    #[test]
    fn signout_clears_the_cookie() {
        let request = ApiRequest::new(Method::Post, "/api/users/signout")
            .with_header("x-forwarded-proto", "https");
        let response = handle(&request, &env());
        assert_eq!(*response.status(), 200);
        assert_eq!(body(&response), json!({}));
        let set_cookie = response.header("set-cookie").unwrap().as_str().unwrap();
        assert!(set_cookie.starts_with("__Host-session=;"), "{set_cookie}");
        assert!(set_cookie.contains("Max-Age=0"));
        assert!(set_cookie.ends_with("; Secure"));
    }

    #[test]
    fn signing_out_everywhere_ends_every_session_of_the_user_and_no_other() {
        let env = env();
        let laptop = cookie(&signup(&env));
        let signin = |email: &str| {
            post(
                "/api/users/signin",
                json!({"email": email, "password": "password"}),
            )
        };
        let phone = cookie(&handle(&signin("test@test.com"), &env));
        let other_user = post(
            "/api/users/signup",
            json!({"email": "other@test.com", "password": "password"}),
        );
        let other = cookie(&handle(&other_user, &env));
        let me = |cookie: &str| {
            let request = ApiRequest::new(Method::Get, "/api/users/currentuser")
                .with_header("cookie", cookie);
            body(&handle(&request, &env))["currentUser"].clone()
        };
        assert_ne!(me(&phone), Value::Null);
        let everywhere = |cookie: Option<&str>, body: Value| {
            let mut request = post("/api/users/signout", body);
            if let Some(cookie) = cookie {
                request = request.with_header("cookie", cookie);
            }
            handle(&request, &env)
        };
        // Without a session there is nothing to end everywhere; a bad flag is named.
        assert_eq!(*everywhere(None, json!({"everywhere": true})).status(), 401);
        let bad = everywhere(Some(&laptop), json!({"everywhere": "yes"}));
        assert_eq!(*bad.status(), 400);
        assert_eq!(body(&bad)["errors"][0]["field"], "everywhere");
        assert_ne!(me(&laptop), Value::Null, "a refused request ends nothing");
        let done = everywhere(Some(&laptop), json!({"everywhere": true}));
        assert_eq!(*done.status(), 200);
        assert_eq!(me(&laptop), Value::Null);
        assert_eq!(
            me(&phone),
            Value::Null,
            "the other device is signed out too"
        );
        assert_ne!(me(&other), Value::Null, "another user is not");
        // A plain sign-out with `{"everywhere": false}` or no body ends one session.
        let tablet = cookie(&handle(&signin("test@test.com"), &env));
        let desk = cookie(&handle(&signin("test@test.com"), &env));
        assert_eq!(
            *everywhere(Some(&tablet), json!({"everywhere": false})).status(),
            200
        );
        assert_eq!(me(&tablet), Value::Null);
        assert_ne!(me(&desk), Value::Null);
    }

    #[test]
    fn signout_revokes_the_token_on_the_server() {
        let env = env();
        let session = cookie(&signup(&env));
        let me =
            ApiRequest::new(Method::Get, "/api/users/currentuser").with_header("cookie", &session);
        assert_ne!(body(&handle(&me, &env))["currentUser"], Value::Null);
        let signout =
            ApiRequest::new(Method::Post, "/api/users/signout").with_header("cookie", &session);
        assert_eq!(*handle(&signout, &env).status(), 200);
        // A copy of the cookie kept after sign-out is no session any more.
        assert_eq!(body(&handle(&me, &env)), json!({"currentUser": null}));
        // A new sign-in is a new session.
        let signin = post(
            "/api/users/signin",
            json!({"email": "test@test.com", "password": "password"}),
        );
        let again = cookie(&handle(&signin, &env));
        let me_again =
            ApiRequest::new(Method::Get, "/api/users/currentuser").with_header("cookie", &again);
        assert_ne!(body(&handle(&me_again, &env))["currentUser"], Value::Null);
    }

    #[test]
    fn anonymous_and_expired_sessions_have_no_current_user() {
        let mut env = env();
        let anonymous = ApiRequest::new(Method::Get, "/api/users/currentuser");
        assert_eq!(
            body(&handle(&anonymous, &env)),
            json!({"currentUser": null})
        );
        let response = signup(&env);
        env.ctx.now_ms = NOW + 61_000;
        let expired = ApiRequest::new(Method::Get, "/api/users/currentuser")
            .with_header("cookie", &cookie(&response));
        assert_eq!(body(&handle(&expired, &env)), json!({"currentUser": null}));
    }

    #[test]
    fn unknown_routes_are_json_404s() {
        let env = env();
        for (method, path) in [
            (Method::Get, "/api/users/signup"),
            (Method::Delete, "/api/users/currentuser"),
            (Method::Post, "/api/users/whatever"),
        ] {
            let response = handle(&ApiRequest::new(method, path), &env);
            assert_eq!(*response.status(), 404);
            assert_eq!(
                body(&response),
                json!({"errors": [{"message": "Route not found"}]})
            );
        }
    }
}
