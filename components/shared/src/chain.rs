//! Calling another component of the shop through Spin service chaining
//! (`http://<component>.spin.internal`, in-process on every host that chains, granted in
//! `spin.toml`), on behalf of the caller: with the cookies it sent, whether it came over
//! HTTPS and its address (for throttling), so that each rule stays in its service. The pages and the GraphQL API both
//! call the services this way.

use serde_json::Value;

use crate::http::Origin;
use spin_sdk::http::{Method, Request, Response};

pub use boxoffice_wire::error::FieldError;

/// Why a call did not succeed.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The service said no (a 4xx), with its errors.
    Refused {
        /// The status.
        status: u16,
        /// The service's errors.
        problems: Vec<FieldError>,
    },
    /// The service could not be reached or did not answer sensibly (logged).
    Unavailable,
}

impl Failure {
    /// The status of a refusal (0 when the service was unavailable).
    pub fn status(&self) -> u16 {
        match self {
            Failure::Refused { status, .. } => *status,
            Failure::Unavailable => 0,
        }
    }

    /// The service's errors, if it refused.
    pub fn problems(&self) -> &[FieldError] {
        match self {
            Failure::Refused { problems, .. } => problems,
            Failure::Unavailable => &[],
        }
    }
}

/// Sends `method url` with the `cookie` header given (if any), marked as HTTPS when the
/// caller's request was, with `body` as JSON; `caller` names who calls, in the log. A 2xx
/// is the response; a 4xx is [`Failure::Refused`] with the service's errors; anything else
/// is logged and [`Failure::Unavailable`].
pub async fn send(
    caller: &str,
    method: Method,
    url: &str,
    cookie: Option<String>,
    https: bool,
    origin: &Origin,
    body: Option<&Value>,
) -> Result<Response, Failure> {
    let mut builder = Request::builder();
    builder.method(method.clone()).uri(url);
    if let Some(cookie) = cookie {
        builder.header("cookie", cookie);
    }
    for (name, value) in origin.headers() {
        builder.header(name, value);
    }
    if https {
        builder.header("x-forwarded-proto", "https");
    }
    let request = match body {
        Some(body) => builder
            .header("content-type", "application/json")
            .body(body.to_string())
            .build(),
        None => builder.build(),
    };
    let response: Response = spin_sdk::http::send(request).await.map_err(|e| {
        eprintln!("{caller}: {method} {url}: {e}");
        Failure::Unavailable
    })?;
    match *response.status() {
        200..=299 => Ok(response),
        status @ 400..=499 => {
            let problems = boxoffice_wire::error::parse(response.body()).unwrap_or_default();
            Err(Failure::Refused { status, problems })
        }
        status => {
            eprintln!("{caller}: {method} {url}: {status}");
            Err(Failure::Unavailable)
        }
    }
}

/// The `set-cookie` header of `response`, as it is.
pub fn set_cookie(response: &Response) -> Option<String> {
    response
        .header("set-cookie")
        .and_then(|value| value.as_str())
        .map(str::to_owned)
}
