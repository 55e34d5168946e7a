//! The stylesheet, compiled in, under a name that changes with its content.

use spin_sdk::http::Response;

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

const STYLE: &[u8] = include_bytes!("../assets/style.css");

/// The stylesheet, cacheable for a year: its URL changes when it does.
pub fn style() -> Response {
    Response::builder()
        .status(200)
        .header("content-type", "text/css; charset=utf-8")
        .header("cache-control", "public, max-age=31536000, immutable")
        .header("x-content-type-options", "nosniff")
        .body(STYLE.to_vec())
        .build()
}
