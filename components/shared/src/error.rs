//! The one error type of the HTTP layer and the one JSON writer for error bodies.
//!
//! Every error answers `{"errors":[{"message":"...","field":"..."}]}`, `field` only on
//! validation errors. Internal errors are logged and answered with a generic message.

use spin_sdk::http::{IntoResponse, Response};

pub use boxoffice_wire::error::FieldError;

/// Everything a request can fail with, each with its API status code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// 400: a business rule or a malformed request.
    #[error("{message}")]
    BadRequest {
        /// What is wrong.
        message: String,
        /// The body field at fault, if any.
        field: Option<String>,
    },
    /// 400: one or more body fields are invalid.
    #[error("invalid request: {0:?}")]
    Validation(Vec<FieldError>),
    /// 401: not signed in, or not the owner.
    #[error("not authorized")]
    Unauthorized,
    /// 403: a credential was presented and refused (an event whose signature does not
    /// verify); the message says why.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 404: unknown id.
    #[error("not found")]
    NotFound,
    /// 404 with a message for the client: what the request names does not exist, said in
    /// its service's words ("Unknown city"), where a bare "Not found" would not tell a
    /// caller which part of the request to fix.
    #[error("not found: {0}")]
    NotFoundBecause(String),
    /// 404: no route of the shop answers this method and path (whatever the method), told
    /// apart from an unknown id so that a client sees which.
    #[error("route not found")]
    NoRoute,
    /// 413: the body is over [`crate::http::MAX_BODY_BYTES`].
    #[error("request body too large")]
    PayloadTooLarge,
    /// 429: the caller must slow down; the message says why.
    #[error("{0}")]
    TooManyRequests(String),
    /// 503 with a message for the client: an expected outage it can act on (a feature not
    /// configured, a provider down). Logged too.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// 503: a backing service is down; logged with its cause, answered generically.
    #[error("service unavailable: {0}")]
    BackendDown(String),
    /// 500: a bug or a misconfiguration; logged with its cause, answered generically.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 400 with a message and no field.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest {
            message: message.into(),
            field: None,
        }
    }

    /// A 500 carrying its cause for the log.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    /// The HTTP status code of this error.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest { .. } | Self::Validation(_) => 400,
            Self::Unauthorized => 401,
            Self::Forbidden(_) => 403,
            Self::NotFound | Self::NotFoundBecause(_) | Self::NoRoute => 404,
            Self::PayloadTooLarge => 413,
            Self::TooManyRequests(_) => 429,
            Self::Unavailable(_) | Self::BackendDown(_) => 503,
            Self::Internal(_) => 500,
        }
    }

    /// The entries of the error body, as the client sees them.
    pub fn errors(&self) -> Vec<FieldError> {
        let plain = |message: &str| vec![FieldError::plain(message)];
        match self {
            Self::BadRequest { message, field } => vec![FieldError {
                message: message.clone(),
                field: field.clone(),
            }],
            Self::Validation(errors) => errors.clone(),
            Self::Unauthorized => plain("Not authorized"),
            Self::NotFound => plain("Not found"),
            Self::NoRoute => plain(boxoffice_wire::error::NO_ROUTE),
            Self::PayloadTooLarge => plain("Request body too large"),
            Self::NotFoundBecause(message)
            | Self::TooManyRequests(message)
            | Self::Unavailable(message)
            | Self::Forbidden(message) => plain(message),
            Self::BackendDown(_) => plain("Service temporarily unavailable"),
            Self::Internal(_) => plain("Something went wrong"),
        }
    }

    /// The JSON response for this error; server-side errors are logged here, once.
    pub fn to_response(&self) -> Response {
        if matches!(
            self,
            Self::Internal(_) | Self::BackendDown(_) | Self::Unavailable(_)
        ) {
            eprintln!("{self}");
        }
        let body = boxoffice_wire::error::body(&self.errors());
        Response::builder()
            .status(self.status())
            .header("content-type", "application/json")
            .body(body)
            .build()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.to_response()
    }
}

impl From<serde_json::Error> for ApiError {
    /// Serialising our own values failed: a bug, not the client's doing.
    fn from(e: serde_json::Error) -> Self {
        Self::internal(format!("JSON serialisation: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(e: &ApiError) -> serde_json::Value {
        serde_json::from_slice(e.to_response().body()).unwrap()
    }

    #[test]
    fn validation_errors_name_their_fields() {
        let e = ApiError::Validation(vec![
            FieldError::new("email", "Email must be valid"),
            FieldError::new("password", "Password must be between 4 and 128 characters"),
        ]);
        assert_eq!(e.status(), 400);
        assert_eq!(
            body(&e),
            serde_json::json!({"errors":[
                {"message":"Email must be valid","field":"email"},
                {"message":"Password must be between 4 and 128 characters","field":"password"}]})
        );
    }

    #[test]
    fn plain_errors_have_no_field() {
        assert_eq!(
            body(&ApiError::NotFound),
            serde_json::json!({"errors":[{"message":"Not found"}]})
        );
        assert_eq!(ApiError::Unauthorized.status(), 401);
        assert_eq!(ApiError::PayloadTooLarge.status(), 413);
        let r = ApiError::bad_request("Email in use").to_response();
        assert_eq!(
            r.header("content-type").unwrap().as_str(),
            Some("application/json")
        );
    }

    #[test]
    fn a_named_not_found_says_what_is_unknown() {
        let e = ApiError::NotFoundBecause("Unknown city".into());
        assert_eq!(e.status(), 404);
        assert_eq!(
            body(&e),
            serde_json::json!({"errors":[{"message":"Unknown city"}]})
        );
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let e = ApiError::internal("secret table exploded");
        assert_eq!(e.status(), 500);
        assert_eq!(
            body(&e),
            serde_json::json!({"errors":[{"message":"Something went wrong"}]})
        );
        assert_eq!(ApiError::BackendDown("db down".into()).status(), 503);
        let shown = ApiError::Unavailable("Payments are not configured".into());
        assert_eq!(shown.status(), 503);
        assert_eq!(
            body(&shown),
            serde_json::json!({"errors":[{"message":"Payments are not configured"}]})
        );
    }
}
