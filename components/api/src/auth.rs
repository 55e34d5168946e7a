//! The auth component: users, sign-up, sign-in, sessions (docs/api.md, "Users").

use serde::Serialize;
use utoipa::ToSchema;

use crate::route::operations;
use crate::schemas::{Empty, Errors, Unavailable};

operations!("auth":
    /// `POST /api/users/signup`
    SignUp in "users",
    /// `POST /api/users/signin`
    SignIn in "users",
    /// `POST /api/users/signout`
    SignOut in "users",
    /// `GET /api/users/currentuser`
    Current in "users",
);

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "session";

/// How far a sign-out reaches.
#[derive(Serialize, ToSchema)]
pub struct SignOutScope {
    /// `true`: every session of the user ends, on every device (401 without a session).
    /// Absent or `false`: this session only.
    #[schema(default = false)]
    pub everywhere: Option<bool>,
}

/// An email and a password.
#[derive(Serialize, ToSchema)]
pub struct Credentials {
    /// A valid email address, at most 254 characters.
    #[schema(format = "email", max_length = 254, example = "buyer@example.com")]
    pub email: String,
    /// Sign-up: 4 to 128 characters once trimmed. Sign-in: not empty.
    #[schema(min_length = 1, example = "s3cret")]
    pub password: String,
}

/// A signed-in user.
#[derive(Serialize, ToSchema)]
pub struct User {
    /// Id.
    pub id: String,
    /// Email.
    pub email: String,
}

/// The user of a session, with when it was issued.
#[derive(Serialize, ToSchema)]
pub struct SessionUser {
    /// Id.
    pub id: String,
    /// Email.
    pub email: String,
    /// When the session was issued, unix seconds.
    pub iat: i64,
}

/// Who is signed in.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CurrentUser {
    /// The session's user, or `null` when there is none (or it expired, or was revoked).
    pub current_user: Option<SessionUser>,
}

/// Sign up
///
/// Creates a user and signs them in. The email must be valid and unused ("Email in use");
/// the password 4 to 128 characters once trimmed.
#[utoipa::path(
    post,
    path = "/api/users/signup",
    impl_for = SignUp,
    request_body = Credentials,
    responses(
        (status = 201, description = "Signed up and in.", body = User,
            headers(("set-cookie" = String, description = "`session=...; Path=/; HttpOnly; SameSite=Lax` (over HTTPS `__Host-session=...; ...; Secure`)"))),
        (status = 400, description = "Invalid email or password, or email in use.", body = Errors),
        (status = 429, description = "Too many sign-ins and sign-ups from this address (100 in 15 minutes); try later.", body = Errors),
        (status = 503, response = Unavailable),
    ),
)]
#[allow(dead_code)]
fn sign_up() {}

/// Sign in
///
/// One message for an unknown email and a wrong password: "Invalid credentials".
/// Attempts are throttled per email and client address, and per address.
#[utoipa::path(
    post,
    path = "/api/users/signin",
    impl_for = SignIn,
    request_body = Credentials,
    responses(
        (status = 200, description = "Signed in.", body = User,
            headers(("set-cookie" = String, description = "`session=...; Path=/; HttpOnly; SameSite=Lax` (over HTTPS `__Host-session=...; ...; Secure`)"))),
        (status = 400, description = "Invalid email, no password, or invalid credentials.", body = Errors),
        (status = 429, description = "Too many attempts: 10 for this email from this address, or 100 from this address, in 15 minutes; try later.", body = Errors),
        (status = 503, response = Unavailable),
    ),
)]
#[allow(dead_code)]
fn sign_in() {}

/// Sign out
///
/// Clears the cookie and revokes the session's token on the server, so that a copy kept
/// elsewhere stops working too. Answers `{}` with or without a session. With
/// `{"everywhere": true}`, every session of the user ends, on every device.
#[utoipa::path(
    post,
    path = "/api/users/signout",
    impl_for = SignOut,
    request_body(content = Option<SignOutScope>, description = "Optional; no body is this session only."),
    responses(
        (status = 200, description = "Signed out.", body = Empty,
            headers(("set-cookie" = String, description = "The session cookie, expired."))),
        (status = 400, description = "`everywhere` is not true or false.", body = Errors),
        (status = 401, description = "`everywhere` without a session.", body = Errors),
        (status = 503, response = Unavailable),
    ),
    security((), ("session" = [])),
)]
#[allow(dead_code)]
fn sign_out() {}

/// The current user
///
/// Who the session cookie belongs to, or `null`.
#[utoipa::path(
    get,
    path = "/api/users/currentuser",
    impl_for = Current,
    responses(
        (status = 200, description = "The session's user, or null.", body = CurrentUser),
        (status = 503, response = Unavailable),
    ),
    security((), ("session" = [])),
)]
#[allow(dead_code)]
fn current_user() {}
