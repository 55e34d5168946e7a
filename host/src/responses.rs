//! The bodies the runtime writes itself, for the HTTP front door and the broker's ingress
//! alike: the API's JSON error, and a body of bytes in the form wasmtime's HTTP types take.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::WasiBody;

/// A response with the API's error shape: `{"errors":[{"message": ...}]}`.
pub fn json_error(status: StatusCode, message: &str) -> Response<WasiBody> {
    let body = boxoffice_wire::error::message(message);
    let mut response = Response::new(full(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A whole body of `bytes`.
pub fn full(bytes: Bytes) -> WasiBody {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}
