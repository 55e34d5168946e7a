//! The API document and its page: `GET /api/openapi.json` and `GET /api/docs`, both made
//! from `boxoffice_api`, the declaration the components route by.

use spin_sdk::http::Response;

use super::Visit;
use crate::respond;
use crate::views::docs;

/// The OpenAPI 3.1 document.
pub fn document() -> Response {
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("x-content-type-options", "nosniff")
        .body(boxoffice_api::json())
        .build()
}

/// Every operation of the document, as a page.
pub fn page(visit: &Visit) -> Response {
    let document = serde_json::to_value(boxoffice_api::openapi()).unwrap_or_default();
    respond::page(200, docs::page(&visit.visitor, &document))
}
