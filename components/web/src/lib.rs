//! The web component: the pages shoppers open, and every path that is not the API.
//!
//! Pages are rendered on the server ([`views`], maud templates, escaped by construction)
//! from the API's own answers ([`api`], through Spin service chaining), so no rule of the
//! API is written again here; [`handlers`] says which page each path shows. Forms post back
//! here, guarded against cross-site forgery ([`csrf`]). Unknown paths answer a friendly
//! HTML 404 to a browser and the API's JSON 404 to everything else. The stylesheet and the
//! one small script are served with a content hash in their names ([`assets`]).

pub mod api;
pub mod assets;
pub mod csrf;
pub mod form;
pub mod handlers;
pub mod respond;
pub mod views;

use boxoffice_shared::ApiRequest;
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(request: IncomingRequest) -> Response {
    match ApiRequest::read(request).await {
        Ok(request) => {
            let response = handlers::handle(&request).await;
            boxoffice_shared::service::hardened(response, request.is_https())
        }
        Err(e) => boxoffice_shared::service::hardened(e.to_response(), false),
    }
}
