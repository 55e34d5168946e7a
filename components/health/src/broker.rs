//! The `broker` check: does anything answer HTTP at the broker's origin? A `GET /health`
//! goes to the scheme and authority of `broker_url` (its path, user and query dropped):
//! `boxoffice broker` answers it with 200, Knative's broker ingress with an error status,
//! and either counts, since an answer proves the broker can be reached; only no answer
//! (refused, unresolvable, denied, nothing within the time) fails.
//!
//! The request is sent when the probe is made and runs while the other checks do (the
//! host sends it in the background); [`Probe::outcome`] then waits for whatever is left of
//! its time, so the checks together take about as long as the slowest.

use std::time::Duration;

use boxoffice_wire::url::authority;
use wasi::clocks::monotonic_clock;
use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, Method, OutgoingRequest, RequestOptions, Scheme,
};

use crate::report::{Check, Outcome};

/// The check's name in the body.
pub const NAME: &str = "broker";

/// The path asked for: `boxoffice broker` answers it with 200.
pub const PATH: &str = "/health";

/// Where the probe goes: the broker's origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// HTTPS rather than HTTP.
    pub https: bool,
    /// `host[:port]`, without user or password.
    pub authority: String,
}

/// The origin of `broker_url`; the error is the check's reason.
pub fn origin(broker_url: &str) -> Result<Origin, &'static str> {
    let url = broker_url.trim();
    let https = match url.split_once("://") {
        Some((scheme, _)) if scheme.eq_ignore_ascii_case("http") => false,
        Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => true,
        _ => return Err("broker_url is not an http:// or https:// URL"),
    };
    let authority = authority(url).ok_or("broker_url names no host")?;
    Ok(Origin {
        https,
        authority: authority.to_owned(),
    })
}

/// The short reason for a request that got no answer: the error's kind only.
pub fn reason(e: &ErrorCode) -> &'static str {
    match e {
        ErrorCode::DnsTimeout | ErrorCode::DnsError(_) | ErrorCode::DestinationNotFound => {
            "the broker's host name does not resolve"
        }
        ErrorCode::ConnectionRefused => "the broker refused the connection",
        ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::HttpResponseTimeout => TIMED_OUT,
        ErrorCode::DestinationUnavailable
        | ErrorCode::DestinationIpProhibited
        | ErrorCode::DestinationIpUnroutable => "the broker cannot be reached",
        ErrorCode::HttpRequestDenied => {
            "the broker's origin is not in allowed_outbound_hosts (set broker_host)"
        }
        ErrorCode::TlsProtocolError
        | ErrorCode::TlsCertificateError
        | ErrorCode::TlsAlertReceived(_) => "TLS with the broker failed",
        _ => "no HTTP answer from the broker",
    }
}

const TIMED_OUT: &str = "the broker did not answer in time";

/// A probe of the broker: sent, or failed before it could be.
pub enum Probe {
    /// On its way; the answer is due by `deadline` (monotonic clock, nanoseconds).
    Sent {
        /// The host's answer, when it comes.
        response: FutureIncomingResponse,
        /// When to stop waiting.
        deadline: monotonic_clock::Instant,
    },
    /// It could not be sent.
    Failed(&'static str),
}

impl Probe {
    /// Sends `GET <origin of broker_url>/health`, allowed `timeout` to answer.
    pub fn send(broker_url: &str, timeout: Duration) -> Probe {
        let origin = match origin(broker_url) {
            Ok(origin) => origin,
            Err(reason) => return Probe::Failed(reason),
        };
        let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        let deadline = monotonic_clock::now().saturating_add(nanos);
        let request = OutgoingRequest::new(Fields::new());
        let scheme = if origin.https {
            Scheme::Https
        } else {
            Scheme::Http
        };
        let built = request
            .set_method(&Method::Get)
            .and(request.set_scheme(Some(&scheme)))
            .and(request.set_authority(Some(&origin.authority)))
            .and(request.set_path_with_query(Some(PATH)));
        if built.is_err() {
            return Probe::Failed("broker_url names no valid host");
        }
        // The host's own timeouts too, where it takes them (it may not: the deadline
        // below holds regardless).
        let options = RequestOptions::new();
        let _ = options.set_connect_timeout(Some(nanos));
        let _ = options.set_first_byte_timeout(Some(nanos));
        match outgoing_handler::handle(request, Some(options)) {
            Ok(response) => Probe::Sent { response, deadline },
            Err(e) => Probe::Failed(logged(reason(&e), &e)),
        }
    }

    /// Waits for the answer until the deadline; any HTTP status is a pass.
    pub fn outcome(self) -> Check {
        let outcome = match self {
            Probe::Failed(reason) => Outcome::failed(reason),
            Probe::Sent { response, deadline } => {
                {
                    // Pollables are the response's children: dropped before it is.
                    let answer = response.subscribe();
                    let timer = monotonic_clock::subscribe_instant(deadline);
                    wasi::io::poll::poll(&[&answer, &timer]);
                }
                match response.get() {
                    Some(Ok(Ok(_answer))) => Outcome::Ok,
                    Some(Ok(Err(e))) => Outcome::failed(logged(reason(&e), &e)),
                    Some(Err(())) => Outcome::failed("no HTTP answer from the broker"),
                    None => Outcome::failed(TIMED_OUT),
                }
            }
        };
        Check {
            name: NAME,
            outcome,
        }
    }
}

fn logged(reason: &'static str, e: &ErrorCode) -> &'static str {
    eprintln!("ready: the broker check failed: {e:?}");
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_origin_drops_path_user_and_query() {
        assert_eq!(
            origin("http://127.0.0.1:3001"),
            Ok(Origin {
                https: false,
                authority: "127.0.0.1:3001".into()
            })
        );
        // Knative's broker ingress: the namespace and broker are the path.
        assert_eq!(
            origin("http://broker-ingress.knative-eventing.svc.cluster.local/boxoffice/boxoffice"),
            Ok(Origin {
                https: false,
                authority: "broker-ingress.knative-eventing.svc.cluster.local".into()
            })
        );
        assert_eq!(
            origin(" HTTPS://user:hunter2@broker.test:8443/ns/b?x=1 "),
            Ok(Origin {
                https: true,
                authority: "broker.test:8443".into()
            })
        );
    }

    #[test]
    fn a_url_that_is_not_http_fails_with_a_reason_that_does_not_repeat_it() {
        for url in [
            "",
            "broker:3001",
            "nats://user:hunter2@nats:4222",
            "http://",
        ] {
            let reason = origin(url).unwrap_err();
            assert!(
                !reason.contains("hunter2") && !reason.contains("nats"),
                "{url}: {reason}"
            );
        }
    }

    #[test]
    fn only_no_answer_is_a_failure_and_each_kind_says_why() {
        assert_eq!(
            reason(&ErrorCode::ConnectionRefused),
            "the broker refused the connection"
        );
        assert_eq!(reason(&ErrorCode::HttpResponseTimeout), TIMED_OUT);
        assert_eq!(reason(&ErrorCode::ConnectionTimeout), TIMED_OUT);
        assert!(reason(&ErrorCode::HttpRequestDenied).contains("allowed_outbound_hosts"));
        assert!(reason(&ErrorCode::DnsTimeout).contains("resolve"));
        let from_host = ErrorCode::InternalError(Some("http://user:hunter2@x".into()));
        assert_eq!(reason(&from_host), "no HTTP answer from the broker");
    }
}
