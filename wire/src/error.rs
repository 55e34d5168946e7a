//! The error body: `{"errors":[{"message":"...","field":"..."}]}`, `field` only on
//! validation errors, naming the request body field at fault.

use serde::{Deserialize, Serialize};

/// The message of the 404 for a path no route serves, whoever answers it (a component, the
/// runtime when no trigger matches, the wasmCloud gateway): the OpenAPI document's.
pub const NO_ROUTE: &str = "Route not found";

/// One entry of an error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// What is wrong, for a human.
    pub message: String,
    /// The body field at fault, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl FieldError {
    /// An error about the body field `field`.
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            field: Some(field.to_owned()),
        }
    }

    /// An error about no field in particular.
    pub fn plain(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            field: None,
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    errors: &'a [FieldError],
}

/// The JSON error body listing `errors`.
pub fn body(errors: &[FieldError]) -> String {
    serde_json::to_string(&ErrorBody { errors }).expect("an error body serializes")
}

/// The errors of a JSON error body, for a client of the API (the pages); `None` when
/// `body` is not one.
pub fn parse(body: &[u8]) -> Option<Vec<FieldError>> {
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<FieldError>,
    }
    serde_json::from_slice::<Errors>(body)
        .ok()
        .map(|b| b.errors)
}

/// The JSON error body with one plain `message`.
pub fn message(message: &str) -> String {
    body(&[FieldError::plain(message)])
}

/// A response with `status` and the JSON error body with one plain `message`, for the
/// hosts to wrap in their body type.
#[cfg(feature = "http")]
pub fn response(status: http::StatusCode, message: &str) -> http::Response<String> {
    let mut response = http::Response::new(self::message(message));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_reads_back_what_was_written() {
        let errors = [
            FieldError::new("price", "Price must be greater than 0"),
            FieldError::plain("No"),
        ];
        assert_eq!(parse(body(&errors).as_bytes()), Some(errors.to_vec()));
        assert_eq!(parse(b"<html>"), None);
        assert_eq!(parse(br#"{"error":"x"}"#), None);
    }

    #[test]
    fn bodies_have_the_api_shape() {
        assert_eq!(
            message("Not found"),
            r#"{"errors":[{"message":"Not found"}]}"#
        );
        assert_eq!(
            body(&[FieldError::new("price", "Price must be greater than 0")]),
            r#"{"errors":[{"message":"Price must be greater than 0","field":"price"}]}"#
        );
        assert_eq!(
            message("a \"quoted\" <b>"),
            r#"{"errors":[{"message":"a \"quoted\" <b>"}]}"#
        );
    }

    #[cfg(feature = "http")]
    #[test]
    fn responses_carry_the_status_the_type_and_the_body() {
        let response = response(http::StatusCode::NOT_FOUND, "Not found");
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.body(), r#"{"errors":[{"message":"Not found"}]}"#);
    }
}
