//! The shop's services as the resolvers call them: through service chaining
//! ([`boxoffice_shared::chain`]) on behalf of the GraphQL caller, with their session cookie
//! (the one a sign-in or sign-out earlier in the same request set, once there is one), so
//! every rule stays in its service. A refusal becomes GraphQL errors with the service's
//! own messages, its status and the field at fault in `extensions`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context as TaskContext, Poll};

use async_graphql::{Context, Error, ErrorExtensions, PathSegment};
use boxoffice_shared::chain::{self, Failure, FieldError};
use boxoffice_shared::http::Origin;
use boxoffice_shared::session::cookie_name;
use serde::de::DeserializeOwned;
use serde_json::Value;
use spin_sdk::http::{Method, Response};

/// Where each service answers.
pub const AUTH: &str = "http://auth.spin.internal/api/users";
/// The tickets service.
pub const TICKETS: &str = "http://tickets.spin.internal/api/tickets";
/// The orders service.
pub const ORDERS: &str = "http://orders.spin.internal/api/orders";
/// The payments service.
pub const PAYMENTS: &str = "http://payments.spin.internal/api/payments";

/// The header in which a page of a listing says how many there are in all.
pub use boxoffice_api::tickets::TOTAL_COUNT;

/// The message when a service cannot answer.
pub const UNAVAILABLE: &str = "The shop cannot answer right now; try again shortly";

/// The services on behalf of one GraphQL request's caller.
pub struct Services {
    session: Mutex<Option<String>>,
    https: bool,
    origin: Origin,
    set_cookie: Mutex<Option<String>>,
}

impl Services {
    /// The services for a caller with this session cookie (its value as sent, if any), who
    /// came over HTTPS or not, from `origin`.
    pub fn new(session: Option<String>, https: bool, origin: Origin) -> Self {
        Self {
            session: Mutex::new(session),
            https,
            origin,
            set_cookie: Mutex::new(None),
        }
    }

    /// The last `set-cookie` of the session that a call answered (sign-up, sign-in,
    /// sign-out), to relay to the caller.
    pub fn set_cookie(&self) -> Option<String> {
        self.set_cookie
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Response, Failure> {
        let cookie = self
            .session
            .lock()
            .ok()
            .and_then(|session| session.clone())
            .map(|value| format!("{}={value}", cookie_name(self.https)));
        let sent = chain::send(
            "graphql",
            method,
            url,
            cookie,
            self.https,
            &self.origin,
            body,
        );
        let response = SingleThreaded(Box::pin(sent)).await?;
        let session = format!("{}=", cookie_name(self.https));
        if let Some(header) = chain::set_cookie(&response).filter(|c| c.starts_with(&session)) {
            // Later calls of this request act as the new session (or as nobody).
            let value = header
                .split(';')
                .next()
                .and_then(|pair| pair.split_once('='))
                .map(|(_, value)| value.to_owned())
                .unwrap_or_default();
            if let Ok(mut session) = self.session.lock() {
                *session = (!value.is_empty()).then_some(value);
            }
            if let Ok(mut set_cookie) = self.set_cookie.lock() {
                *set_cookie = Some(header);
            }
        }
        Ok(response)
    }

    /// Calls `method url` with `body` and reads its JSON answer; a refusal is the GraphQL
    /// errors of [`refused`].
    pub async fn read<T: DeserializeOwned>(
        &self,
        ctx: &Context<'_>,
        method: Method,
        url: &str,
        body: Option<Value>,
    ) -> Result<T, Error> {
        self.read_counted(ctx, method, url, body)
            .await
            .map(|(value, _)| value)
    }

    /// [`Self::read`], with the `x-total-count` the answer came with (a page of a listing
    /// says how many there are in all).
    pub async fn read_counted<T: DeserializeOwned>(
        &self,
        ctx: &Context<'_>,
        method: Method,
        url: &str,
        body: Option<Value>,
    ) -> Result<(T, Option<usize>), Error> {
        let response = self
            .call(method.clone(), url, body.as_ref())
            .await
            .map_err(|failure| refused(ctx, failure))?;
        let total = response
            .header(TOTAL_COUNT)
            .and_then(|v| v.as_str())
            .and_then(|v| v.trim().parse().ok());
        let value = serde_json::from_slice(response.body()).map_err(|e| {
            eprintln!("graphql: {method} {url}: an answer it cannot read: {e}");
            unavailable()
        })?;
        Ok((value, total))
    }

    /// Calls `method url` with `body` for its effect only (a 2xx with or without a body).
    pub async fn act(
        &self,
        ctx: &Context<'_>,
        method: Method,
        url: &str,
        body: Option<Value>,
    ) -> Result<(), Error> {
        self.call(method, url, body.as_ref())
            .await
            .map(drop)
            .map_err(|failure| refused(ctx, failure))
    }
}

/// A future of the host's outgoing HTTP, which is not `Send`, made so for async-graphql,
/// whose resolvers must be. Sound here: a component instance has one thread, so nothing
/// can move it to another.
struct SingleThreaded<'a, T>(Pin<Box<dyn Future<Output = T> + 'a>>);

// SAFETY: a Wasm component instance runs on a single thread; the future never crosses one.
unsafe impl<T> Send for SingleThreaded<'_, T> {}

impl<T> Future for SingleThreaded<'_, T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<T> {
        self.0.as_mut().poll(cx)
    }
}

fn unavailable() -> Error {
    Error::new(UNAVAILABLE).extend_with(|_, e| e.set("status", 503))
}

fn as_error(problem: &FieldError, status: u16) -> Error {
    let field = problem.field.clone();
    Error::new(problem.message.clone()).extend_with(|_, e| {
        e.set("status", status);
        if let Some(field) = &field {
            e.set("field", field.as_str());
        }
    })
}

/// A service's refusal as GraphQL errors: one per error it gave, each with the service's
/// message and, in `extensions`, its `status` and the `field` at fault, in the service's
/// order (the last is the field's own error; those before it are added ahead of it).
pub fn refused(ctx: &Context<'_>, failure: Failure) -> Error {
    let Failure::Refused { status, problems } = failure else {
        return unavailable();
    };
    let Some((last, rest)) = problems.split_last() else {
        return Error::new(format!("Refused ({status})"))
            .extend_with(|_, e| e.set("status", status));
    };
    for problem in rest {
        let mut error = as_error(problem, status).into_server_error(ctx.item.pos);
        error.path = ctx
            .path_node
            .map(|node| {
                node.to_string_vec()
                    .into_iter()
                    .map(PathSegment::Field)
                    .collect()
            })
            .unwrap_or_default();
        ctx.add_error(error);
    }
    as_error(last, status)
}
