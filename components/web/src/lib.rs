//! The web component: the pages shoppers open, and every path that is not the API.
//!
//! Pages are rendered on the server ([`pages`], maud templates, escaped by construction)
//! from the API's own answers ([`api`], through Spin service chaining), so no rule of the
//! API is written again here. Unknown paths answer a friendly HTML 404 to a browser and the
//! API's JSON 404 to everything else. The one stylesheet is served with a content hash in
//! its name ([`assets`]).

pub mod api;
pub mod assets;
pub mod pages;

use boxoffice_shared::http::not_found;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

/// Whether the client asked for a page (a browser's `Accept`).
pub fn wants_html(request: &Request) -> bool {
    request
        .header("accept")
        .and_then(|h| h.as_str())
        .is_some_and(|accept| accept.contains("text/html"))
}

#[http_component]
async fn handle(request: Request) -> Response {
    let get = matches!(request.method(), Method::Get | Method::Head);
    match request.path() {
        "/" if get => {
            let cookie = request.header("cookie").and_then(|h| h.as_str());
            let user = api::current_user(cookie).await;
            match api::tickets().await {
                Ok(tickets) => pages::html(200, pages::listing(user.as_ref(), &tickets)),
                Err(e) => {
                    eprintln!("web: the listing: {e}");
                    pages::html(503, pages::unavailable(user.as_ref()))
                }
            }
        }
        path if get && path == assets::STYLE_PATH => assets::style(),
        _ if wants_html(&request) => pages::html(404, pages::not_found()),
        _ => not_found(),
    }
}
