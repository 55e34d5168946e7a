//! The not-found component: the API's JSON 404 ("Route not found"), whatever the request.
//!
//! In the shop it answers the paths under `/internal`, `/health` and `/ready` that no other
//! route takes (as the pages component would). Its reason to exist is Kubernetes: the
//! Ingress sends `/internal`, `/health` and `/ready` to the SpinApp `boxoffice-not-found`,
//! which deploys this component alone, so that no event route and no probe is reachable
//! from outside the cluster. A selective deployment may retain only components that chain
//! to nothing it leaves out (Spin refuses to start one that does): this one names no other
//! component and holds no grant, variable or store (docs/kubernetes.md).

use spin_sdk::http::{Request, Response};

/// The answer to every request.
pub fn answer() -> Response {
    boxoffice_shared::http::not_found()
}

#[spin_sdk::http_component]
fn handle(_request: Request) -> Response {
    answer()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_is_the_apis_json_404() {
        let response = answer();
        assert_eq!(*response.status(), 404);
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(
            body["errors"][0]["message"],
            boxoffice_wire::error::NO_ROUTE,
            "{body}"
        );
    }
}
