//! The stylesheet, the script and the icon, compiled in, each under a name that changes with its
//! content (see `build.rs`), so that browsers may keep them for a year.

use spin_sdk::http::Response;

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

const STYLE: &[u8] = include_bytes!("../assets/style.css");
const SCRIPT: &[u8] = include_bytes!("../assets/app.js");
const ICON: &[u8] = include_bytes!("../assets/icon.svg");

/// The asset named `file` (under `/assets/`), if there is one.
pub fn serve(file: &str) -> Option<Response> {
    let path = format!("/assets/{file}");
    let (body, content_type) = match path.as_str() {
        STYLE_PATH => (STYLE, "text/css; charset=utf-8"),
        SCRIPT_PATH => (SCRIPT, "text/javascript; charset=utf-8"),
        ICON_PATH => (ICON, "image/svg+xml"),
        _ => return None,
    };
    Some(
        Response::builder()
            .status(200)
            .header("content-type", content_type)
            .header("cache-control", "public, max-age=31536000, immutable")
            .header("x-content-type-options", "nosniff")
            .body(body.to_vec())
            .build(),
    )
}
