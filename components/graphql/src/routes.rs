//! The HTTP routes of the GraphQL API: `POST /api/graphql` (JSON), `GET /api/graphql`
//! (queries only) and the explorer page, `GET /api/graphql/explorer`.

use std::sync::Arc;

use async_graphql::parser::types::OperationType;
use async_graphql::{Request, ServerError, Variables};
use boxoffice_api::graphql::{route, Operation};
use boxoffice_shared::session::cookie_name;
use boxoffice_shared::{http, ApiError, ApiRequest};
use serde_json::Value;
use spin_sdk::http::Response;

use crate::schema::{self, Schema};
use crate::services::Services;
use crate::{explorer, limits};

/// What the routes work with.
pub struct Env {
    /// The bounded schema.
    pub schema: Schema,
    /// Whether clients may ask the schema about itself.
    pub introspection: bool,
}

/// The message for a mutation sent with GET.
pub const MUTATION_BY_GET: &str = "Mutations must be POSTed";
/// The message for a request without a query.
pub const NO_QUERY: &str = "A query is required";
/// The message for a POST that is not JSON.
pub const NOT_JSON: &str = "A GraphQL request is a JSON object (content-type: application/json)";

/// Answers one request: the documented operation of its method and path.
pub async fn handle(request: &ApiRequest, env: &Env) -> Response {
    let Some((operation, _)) = request.route(route) else {
        return http::not_found();
    };
    let answer = match operation {
        Operation::Execute => match posted(request) {
            Ok(graphql) => Ok(execute(request, env, graphql).await),
            Err(e) => Err(e),
        },
        Operation::ExecuteQuery => match from_query(request, true) {
            Ok(Some(graphql)) => Ok(execute(request, env, graphql).await),
            Ok(None) => Err(ApiError::bad_request(NO_QUERY)),
            Err(e) => Err(e),
        },
        Operation::Explorer => Ok(explore(request, env).await),
    };
    answer.unwrap_or_else(|e| e.to_response())
}

/// The GraphQL request of a POST: a JSON body `{query, variables?, operationName?}`.
fn posted(request: &ApiRequest) -> Result<Request, ApiError> {
    let json = request.header("content-type").is_some_and(|t| {
        t.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    });
    if !json {
        return Err(ApiError::bad_request(NOT_JSON));
    }
    let body: Value =
        serde_json::from_slice(&request.body).map_err(|_| ApiError::bad_request(NOT_JSON))?;
    let has_query = body
        .get("query")
        .and_then(Value::as_str)
        .is_some_and(|q| !q.trim().is_empty());
    if !has_query {
        return Err(ApiError::bad_request(NO_QUERY));
    }
    serde_json::from_value::<Request>(body).map_err(|_| ApiError::bad_request(NOT_JSON))
}

/// The GraphQL request of a query string (`query`, `variables`, `operationName`); `None`
/// without a query. A mutation is refused when `queries_only`.
fn from_query(request: &ApiRequest, queries_only: bool) -> Result<Option<Request>, ApiError> {
    let mut query = None;
    let mut variables = None;
    let mut operation_name = None;
    for (name, value) in form_urlencoded::parse(request.query.as_bytes()) {
        match name.as_ref() {
            "query" if query.is_none() => query = Some(value.into_owned()),
            "variables" if variables.is_none() => variables = Some(value.into_owned()),
            "operationName" if operation_name.is_none() => {
                operation_name = Some(value.into_owned())
            }
            _ => {}
        }
    }
    let Some(query) = query.filter(|q| !q.trim().is_empty()) else {
        return Ok(None);
    };
    if queries_only && is_mutation(&query, operation_name.as_deref()) {
        return Err(ApiError::bad_request(MUTATION_BY_GET));
    }
    let mut graphql = Request::new(query);
    if let Some(variables) = variables.filter(|v| !v.trim().is_empty()) {
        let value: Value = serde_json::from_str(&variables)
            .map_err(|_| ApiError::bad_request("Variables must be a JSON object"))?;
        graphql = graphql.variables(Variables::from_json(value));
    }
    if let Some(name) = operation_name {
        graphql = graphql.operation_name(name);
    }
    Ok(Some(graphql))
}

/// Whether the operation of `query` that would run (the one named, or any) is a
/// mutation; a document that does not parse is left for the schema to refuse.
fn is_mutation(query: &str, operation_name: Option<&str>) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(query) else {
        return false;
    };
    document.operations.iter().any(|(name, operation)| {
        let chosen = operation_name.is_none_or(|wanted| name.is_some_and(|n| n.as_str() == wanted));
        chosen && operation.node.ty == OperationType::Mutation
    })
}

/// Runs `graphql` for the sender of `request`, and answers its result as JSON (with the
/// session cookie a sign-in, sign-up or sign-out set).
async fn execute(request: &ApiRequest, env: &Env, graphql: Request) -> Response {
    let services = Services::new(
        request
            .cookie(cookie_name(request.is_https()))
            .map(str::to_owned),
        request.is_https(),
        request.origin(),
    );
    let (result, set_cookie) = run(env, graphql, services).await;
    let mut response = http::json(200, &result).unwrap_or_else(|e| e.to_response());
    if let Some(cookie) = set_cookie {
        response.set_header("set-cookie", cookie);
    }
    response
}

/// Runs `graphql` against `services`; its result, and the session cookie it set.
async fn run(
    env: &Env,
    graphql: Request,
    services: Services,
) -> (async_graphql::Response, Option<String>) {
    if !env.introspection && schema::asks_about_itself(&graphql.query) {
        let refused = ServerError::new(schema::NO_INTROSPECTION, None);
        return (async_graphql::Response::from_errors(vec![refused]), None);
    }
    if let Some(why) = limits::refusal(&graphql.query, graphql.operation_name.as_deref()) {
        let refused = ServerError::new(why, None);
        return (async_graphql::Response::from_errors(vec![refused]), None);
    }
    let services = Arc::new(services);
    let result = env.schema.execute(graphql.data(services.clone())).await;
    (result, services.set_cookie())
}

/// The explorer page, with the result of the query it was given, if any (queries only).
async fn explore(request: &ApiRequest, env: &Env) -> Response {
    let form = explorer::Form::read(&request.query);
    let result = match from_query(request, true) {
        Ok(Some(graphql)) => {
            let services = Services::new(
                request
                    .cookie(cookie_name(request.is_https()))
                    .map(str::to_owned),
                request.is_https(),
                request.origin(),
            );
            let (result, _) = run(env, graphql, services).await;
            Some(serde_json::to_string_pretty(&result).unwrap_or_default())
        }
        Ok(None) => None,
        Err(e) => Some(e.to_string()),
    };
    explorer::page(&form, result.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mutation_is_told_from_a_query_by_the_operation_that_would_run() {
        assert!(is_mutation("mutation { signOut }", None));
        assert!(!is_mutation("{ me { id } }", None));
        let both = "query Q { me { id } } mutation M { signOut }";
        assert!(!is_mutation(both, Some("Q")));
        assert!(is_mutation(both, Some("M")));
        assert!(
            is_mutation(both, None),
            "without a name, any mutation counts"
        );
        assert!(!is_mutation("not graphql", None));
    }

    #[test]
    fn a_get_carries_its_query_variables_and_operation_name() {
        let mut request = ApiRequest::new(spin_sdk::http::Method::Get, "/api/graphql");
        request.query = "query=%7B+me+%7B+id+%7D+%7D&variables=%7B%22a%22%3A1%7D".into();
        let graphql = from_query(&request, true).unwrap().unwrap();
        assert_eq!(graphql.query, "{ me { id } }");
        request.query = "variables=nope&query=%7Bme%7Bid%7D%7D".into();
        assert_eq!(
            from_query(&request, true).unwrap_err(),
            ApiError::bad_request("Variables must be a JSON object")
        );
        request.query = "query=mutation+%7B+signOut+%7D".into();
        assert_eq!(
            from_query(&request, true).unwrap_err(),
            ApiError::bad_request(MUTATION_BY_GET)
        );
        request.query = String::new();
        assert!(from_query(&request, true).unwrap().is_none());
    }
}
