//! What every component answers alike: the error body, the empty object, and the reusable
//! responses for a body too large and a backend that is down.

use serde::Serialize;
use utoipa::{ToResponse, ToSchema};

/// One entry of an error body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldError {
    /// What is wrong, for a human.
    #[schema(example = "Price must be greater than 0")]
    pub message: String,
    /// The body field at fault (`email`, `password`, `title`, `price`, `ticketId`,
    /// `token`, `orderId`), on validation errors only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "price")]
    pub field: Option<String>,
}

/// Every error answer of the API: `{"errors":[{"message":"...","field":"..."}]}`.
#[derive(Debug, Clone, Serialize, ToSchema, ToResponse)]
#[response(description = "The request was refused; the errors say why.")]
pub struct Errors {
    /// At least one error.
    #[schema(min_items = 1)]
    pub errors: Vec<FieldError>,
}

/// `{}`: done, nothing to tell.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({}))]
pub struct Empty {}

/// 413: the body is over 64 KiB (a service's limit) or 1 MiB (the runtime's).
#[derive(ToResponse)]
#[response(description = "The request body is too large (over 64 KiB).")]
pub struct TooLarge(#[to_schema] pub Errors);

/// 503: a backing service (database, key-value store, the API behind a page) is down;
/// the answer comes within the backend timeout, and the request can be retried.
#[derive(ToResponse)]
#[response(description = "A backing service is down; retry later.")]
pub struct Unavailable(#[to_schema] pub Errors);
