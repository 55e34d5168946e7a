//! The ratings component: stars from 1 to 5 that the buyers of a product give it
//! (docs/ratings.md), and its event route.

use serde::Serialize;
use utoipa::ToSchema;

use crate::events::event_route;
use crate::route::operations;
use crate::schemas::{Errors, Unavailable};

operations!("ratings":
    /// `GET /api/ratings?skus=A,B`
    List in "ratings",
    /// `GET /api/ratings/{sku}`
    Show in "ratings",
    /// `PUT /api/ratings/{sku}`
    Rate in "ratings",
    /// `POST /internal/events/ratings`
    Deliver in "events",
);

event_route!(Deliver, "/internal/events/ratings", "ratings");

/// The caller's vote.
#[derive(Serialize, ToSchema)]
pub struct RatingInput {
    /// Whole stars, 1 to 5.
    #[schema(minimum = 1, maximum = 5, example = 4)]
    pub stars: i64,
}

/// A product's rating, as the caller sees it.
#[derive(Serialize, ToSchema)]
pub struct Rating {
    /// The product (upper case).
    #[schema(example = "MUG-1")]
    pub sku: String,
    /// The mean of the votes, rounded to 1 decimal; null without votes.
    #[schema(example = 4.3)]
    pub average: Option<f64>,
    /// How many buyers voted.
    pub count: i64,
    /// The caller's own stars, when signed in and voted; null otherwise.
    pub mine: Option<i64>,
}

/// A product's rating in a listing.
#[derive(Serialize, ToSchema)]
pub struct RatingSummary {
    /// The product (upper case).
    #[schema(example = "MUG-1")]
    pub sku: String,
    /// The mean of the votes, rounded to 1 decimal; null without votes.
    #[schema(example = 4.3)]
    pub average: Option<f64>,
    /// How many buyers voted.
    pub count: i64,
}

/// The ratings of several products
///
/// For listing pages: one entry per distinct product asked for, in the order asked. No
/// `skus` (or an empty one) is an empty list.
#[utoipa::path(
    get,
    path = "/api/ratings",
    impl_for = List,
    params((
        "skus" = Option<String>,
        Query,
        description = "Up to 50 product codes, comma-separated.",
        example = "MUG-1,TEE-2"
    )),
    responses(
        (status = 200, description = "The ratings, in the order asked.", body = Vec<RatingSummary>),
        (status = 400, description = "More than 50 products, or a malformed code.", body = Errors),
        (status = 503, response = Unavailable),
    ),
)]
#[allow(dead_code)]
fn list() {}

/// A product's rating
///
/// Public; a product nobody rated (or the ratings service never heard of) has count 0.
/// `mine` is filled in for a signed-in caller who voted.
#[utoipa::path(
    get,
    path = "/api/ratings/{sku}",
    impl_for = Show,
    params(("sku" = String, Path, description = "The product's code: 3 to 32 of A-Z, 0-9 and `-` (case does not matter).")),
    responses(
        (status = 200, description = "The rating.", body = Rating),
        (status = 404, description = "A malformed product code.", body = Errors),
        (status = 503, response = Unavailable),
    ),
    security((), ("session" = [])),
)]
#[allow(dead_code)]
fn show() {}

/// Rate a product
///
/// Only a buyer of the product may; one vote per buyer and product, which a later vote
/// replaces.
#[utoipa::path(
    put,
    path = "/api/ratings/{sku}",
    impl_for = Rate,
    params(("sku" = String, Path, description = "The product's code: 3 to 32 of A-Z, 0-9 and `-` (case does not matter).")),
    request_body = RatingInput,
    responses(
        (status = 200, description = "The rating with the caller's vote.", body = Rating),
        (status = 400, description = "Stars not a whole number from 1 to 5, or the caller has not bought the product.", body = Errors),
        (status = 401, description = "Not signed in (checked before the body).", body = Errors),
        (status = 404, description = "A malformed product code.", body = Errors),
        (status = 503, response = Unavailable),
    ),
    security(("session" = [])),
)]
#[allow(dead_code)]
fn rate() {}
