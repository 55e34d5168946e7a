//! The bodies the runtime writes itself: the API's JSON error, and a body of bytes, in
//! the form wasmtime's HTTP types take.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::WasiBody;

/// A response with the API's error shape: `{"errors":[{"message": ...}]}`.
pub fn json_error(status: StatusCode, message: &str) -> Response<WasiBody> {
    boxoffice_wire::error::response(status, message).map(|body| full(Bytes::from(body)))
}

/// A whole body of `bytes`.
pub fn full(bytes: Bytes) -> WasiBody {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}
