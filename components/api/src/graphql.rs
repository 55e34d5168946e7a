//! The graphql component: the ticket shop as one GraphQL endpoint (docs/graphql.md), its
//! resolvers calling the services through service chaining, and its explorer page.

use serde::Serialize;
use utoipa::ToSchema;

use crate::route::operations;
use crate::schemas::Errors;

operations!("graphql":
    /// `POST /api/graphql`
    Execute in "graphql",
    /// `GET /api/graphql`
    ExecuteQuery in "graphql",
    /// `GET /api/graphql/explorer`
    Explorer in "graphql",
);

/// A GraphQL request.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GraphQlRequest {
    /// The document: a query or a mutation.
    #[schema(example = "{ tickets { items { id title price } total } }")]
    pub query: String,
    /// The values of its variables.
    pub variables: Option<serde_json::Value>,
    /// Which operation of the document to run, when it has several.
    pub operation_name: Option<String>,
}

/// A GraphQL response: the data asked for, and the errors met. A service's refusal is an
/// error with the service's own message and, in `extensions`, its HTTP `status` and the
/// `field` at fault.
#[derive(Serialize, ToSchema)]
pub struct GraphQlResponse {
    /// What was asked for (null where an error stopped it).
    pub data: Option<serde_json::Value>,
    /// What went wrong, if anything.
    pub errors: Option<Vec<serde_json::Value>>,
}

/// Run a query or a mutation
///
/// JSON only (`content-type: application/json`), which a page on another site cannot send
/// without the browser asking first: a mutation cannot be forged cross-site. The answer is
/// 200 with `data` and `errors`; a query over the depth or complexity limit, or asking the
/// schema about itself in production, is refused with an error saying so. Sign-up,
/// sign-in and sign-out set or clear the session cookie as the REST routes do.
#[utoipa::path(
    post,
    path = "/api/graphql",
    impl_for = Execute,
    request_body = GraphQlRequest,
    responses(
        (status = 200, description = "The result.", body = GraphQlResponse),
        (status = 400, description = "Not a JSON GraphQL request.", body = Errors),
    ),
    security((), ("session" = [])),
)]
#[allow(dead_code)]
fn execute() {}

/// Run a query
///
/// GraphQL over HTTP GET, for queries only: a mutation must be POSTed.
#[utoipa::path(
    get,
    path = "/api/graphql",
    impl_for = ExecuteQuery,
    params(
        ("query" = String, Query, description = "The document."),
        ("variables" = Option<String>, Query, description = "Its variables, as JSON."),
        ("operationName" = Option<String>, Query, description = "Which operation to run."),
    ),
    responses(
        (status = 200, description = "The result.", body = GraphQlResponse),
        (status = 400, description = "No query, variables that are not JSON, or a mutation.", body = Errors),
    ),
    security((), ("session" = [])),
)]
#[allow(dead_code)]
fn execute_query() {}

/// The explorer
///
/// A page to write a query and see its result, served by the component itself: no
/// script and nothing from another origin. `query` and `variables`, when given, are run
/// (queries only) and the result shown.
#[utoipa::path(
    get,
    path = "/api/graphql/explorer",
    impl_for = Explorer,
    params(
        ("query" = Option<String>, Query, description = "A query to run."),
        ("variables" = Option<String>, Query, description = "Its variables, as JSON."),
    ),
    responses(
        (status = 200, description = "The page.", content_type = "text/html", body = String),
    ),
    security((), ("session" = [])),
)]
#[allow(dead_code)]
fn explorer() {}
