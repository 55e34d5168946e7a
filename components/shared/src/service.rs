//! The one entry point of every service: read the request (bounded), build the service's
//! environment for this request (its database, opened and migrated on first use, and
//! whatever else it needs), answer through its routes, then relay its outbox when the
//! request may have committed events. A service's `#[http_component]` is one call of
//! [`serve`].

use std::rc::Rc;

use spin_sdk::http::{IncomingRequest, Response};

use crate::session::SessionConfig;
use crate::signature::{self, PublicKeys};
use crate::sql::{self, LazyDb};
use crate::{config, outbox, time, ApiError, ApiRequest};

/// What every service works with for one request: its database, the clock, and the
/// session and event keys (each an error, answered only where it is needed, when this
/// service's variables do not hold it).
pub struct Context {
    /// The service's database: embedded SQLite, or Postgres when `database_url` says so.
    pub db: Rc<LazyDb>,
    /// The time of the request, unix milliseconds.
    pub now_ms: i64,
    sessions: Result<SessionConfig, ApiError>,
    event_keys: Result<PublicKeys, ApiError>,
}

impl Context {
    /// A context of these parts.
    pub fn new(
        db: Rc<LazyDb>,
        now_ms: i64,
        sessions: Result<SessionConfig, ApiError>,
        event_keys: Result<PublicKeys, ApiError>,
    ) -> Self {
        Self {
            db,
            now_ms,
            sessions,
            event_keys,
        }
    }

    /// Session signing and verification (`jwt_key`, `session_ttl_seconds`).
    pub fn sessions(&self) -> Result<&SessionConfig, ApiError> {
        self.sessions.as_ref().map_err(Clone::clone)
    }

    /// Every publisher's public key (`events_public_keys`), which the event routes verify
    /// with; the relay reads the service's own signing key only when it has events to send.
    pub fn event_keys(&self) -> Result<&PublicKeys, ApiError> {
        self.event_keys.as_ref().map_err(Clone::clone)
    }
}

/// A service, as [`serve`] needs to know it.
pub struct Service {
    /// Its name: its event source, table prefix and Postgres schema.
    pub name: &'static str,
    /// The statements that create and migrate its tables.
    pub migrations: Vec<String>,
    /// Whether it publishes events through an outbox, to relay after each change.
    pub outbox: bool,
}

impl Service {
    /// A service named `name` with its `migrations`, publishing through its outbox.
    pub fn new(name: &'static str, migrations: Vec<String>) -> Self {
        Self {
            name,
            migrations,
            outbox: true,
        }
    }

    /// The same, for a service that publishes nothing.
    pub fn without_outbox(mut self) -> Self {
        self.outbox = false;
        self
    }
}

/// A synchronous router as the `answer` of [`serve`].
pub fn sync<E>(
    routes: fn(&ApiRequest, &E) -> Response,
) -> impl AsyncFnOnce(&ApiRequest, &E) -> Response {
    async move |request: &ApiRequest, env: &E| routes(request, env)
}

/// Serves one request: `env` builds the service's environment from its [`Context`] (and
/// its own variables), `answer` routes the request. Every error is the API's JSON error.
pub async fn serve<E>(
    request: IncomingRequest,
    service: Service,
    env: impl FnOnce(Context) -> Result<E, ApiError>,
    answer: impl AsyncFnOnce(&ApiRequest, &E) -> Response,
) -> Response {
    let mut https = false;
    let served = async {
        let request = ApiRequest::read(request).await?;
        https = request.is_https();
        outbox::trace_request(&request);
        let database_url = config::database_url()?;
        let db = Rc::new(LazyDb::new(
            service.name,
            move || sql::open(&database_url, service.name),
            service.migrations,
        ));
        let env = env(Context::new(
            db.clone(),
            time::now_ms(),
            SessionConfig::from_variables(),
            signature::public_keys_from_variables(),
        ))?;
        let response = answer(&request, &env).await;
        if service.outbox {
            outbox::relay_after(&request, &response, &db, service.name).await;
        }
        Ok::<_, ApiError>(response)
    };
    let response = served.await.unwrap_or_else(|e| e.to_response());
    hardened(response, https)
}

/// How long browsers keep to HTTPS after an answer over HTTPS (a year).
pub const HSTS: &str = "max-age=31536000";

/// `response` with the headers every answer of the shop carries: `nosniff` (a JSON body is
/// never taken for a script or a page), and over HTTPS `Strict-Transport-Security`, so a
/// browser that saw the shop over HTTPS never falls back to plain HTTP.
pub fn hardened(mut response: Response, https: bool) -> Response {
    response.set_header("x-content-type-options", "nosniff");
    if https {
        response.set_header("strict-transport-security", HSTS);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_answer_is_nosniff_and_https_ones_keep_browsers_on_https() {
        let header = |response: &Response, name: &str| {
            response
                .headers()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.as_str().map(str::to_owned))
        };
        let plain = hardened(ApiError::NotFound.to_response(), false);
        assert_eq!(
            header(&plain, "x-content-type-options").as_deref(),
            Some("nosniff")
        );
        assert_eq!(header(&plain, "strict-transport-security"), None);
        let secure = hardened(Response::builder().status(204).build(), true);
        assert_eq!(
            header(&secure, "strict-transport-security").as_deref(),
            Some(HSTS)
        );
        assert_eq!(
            header(&secure, "x-content-type-options").as_deref(),
            Some("nosniff")
        );
    }
}
