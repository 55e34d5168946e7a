//! The web component: everything that is not the API. For now it answers every method
//! and path with the API's JSON 404; the shopper pages come later.

use boxoffice_shared::http::not_found;
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(_request: IncomingRequest) -> Response {
    not_found()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_is_a_json_404() {
        let response = not_found();
        assert_eq!(*response.status(), 404);
        assert_eq!(
            response.header("content-type").and_then(|v| v.as_str()),
            Some("application/json")
        );
        assert_eq!(response.body(), br#"{"errors":[{"message":"Not found"}]}"#);
    }
}
