//! The shipping component: the cities the shop ships to, the quote for each, and the
//! shipments of paid purchases (docs/shipping.md), and its event route.

use serde::Serialize;
use utoipa::ToSchema;

use crate::events::event_route;
use crate::route::operations;
use crate::schemas::{Errors, Unavailable};

operations!("shipping":
    /// `GET /api/shipping/cities`
    Cities in "shipping",
    /// `GET /api/shipping/quotes/{city}`
    ShowQuote in "shipping",
    /// `GET /api/shipping/shipments/{purchaseId}`
    ShowShipment in "shipping",
    /// `POST /internal/events/shipping`
    Deliver in "events",
);

event_route!(Deliver, "/internal/events/shipping", "shipping");

/// A city the shop ships to.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct City {
    /// Its code, lower case.
    #[schema(example = "nyc")]
    pub code: String,
    /// Its name.
    #[schema(example = "New York")]
    pub name: String,
    /// Its country, ISO 3166-1 alpha-2.
    #[schema(example = "US")]
    pub country: String,
    /// How far it is from the warehouse in Chicago, km.
    #[schema(example = 1270)]
    pub distance_km: i64,
}

/// What shipping to a city costs.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Quote {
    /// The city's code.
    #[schema(example = "nyc")]
    pub city: String,
    /// Its name.
    pub name: String,
    /// Its country, ISO 3166-1 alpha-2.
    pub country: String,
    /// How far it is from the warehouse, km.
    pub distance_km: i64,
    /// US dollars: $4.99 plus $0.50 per started 100 km, at most $49.99.
    #[schema(example = 11.49)]
    pub cost: f64,
}

/// Where a shipment is.
#[derive(Serialize, ToSchema)]
pub enum ShipmentStatus {
    /// It left the warehouse.
    #[serde(rename = "dispatched")]
    Dispatched,
}

/// The shipment of a paid purchase.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Shipment {
    /// Id.
    pub id: String,
    /// The purchase it carries.
    pub purchase_id: String,
    /// The destination city's code.
    pub city: String,
    /// Status.
    pub status: ShipmentStatus,
    /// When it left the warehouse (ISO 8601).
    #[schema(format = DateTime)]
    pub dispatched_at: String,
}

/// The cities the shop ships to
///
/// Sorted by name.
#[utoipa::path(
    get,
    path = "/api/shipping/cities",
    impl_for = Cities,
    responses(
        (status = 200, description = "The cities.", body = Vec<City>),
        (status = 503, response = Unavailable),
    ),
)]
#[allow(dead_code)]
fn cities() {}

/// A shipping quote
///
/// What shipping to the city costs: $4.99 plus $0.50 per started 100 km from the
/// warehouse, at most $49.99. The cart asks this route for the quote it puts in a cart.
#[utoipa::path(
    get,
    path = "/api/shipping/quotes/{city}",
    impl_for = ShowQuote,
    params(("city" = String, Path, description = "The city's code (case does not matter).")),
    responses(
        (status = 200, description = "The quote.", body = Quote),
        (status = 404, description = "Unknown city.", body = Errors),
        (status = 503, response = Unavailable),
    ),
)]
#[allow(dead_code)]
fn quote() {}

/// A purchase's shipment
///
/// Only its buyer may see it. Made when the purchase is paid (`purchase:completed`), which
/// publishes `shipment:dispatched`.
#[utoipa::path(
    get,
    path = "/api/shipping/shipments/{purchaseId}",
    impl_for = ShowShipment,
    params(("purchaseId" = String, Path, description = "The purchase's id.")),
    responses(
        (status = 200, description = "The shipment.", body = Shipment),
        (status = 401, description = "Not signed in, or not the buyer.", body = Errors),
        (status = 404, description = "No shipment for this purchase (or a malformed id).", body = Errors),
        (status = 503, response = Unavailable),
    ),
    security(("session" = [])),
)]
#[allow(dead_code)]
fn shipment() {}
