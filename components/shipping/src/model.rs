//! The entities of the shipping service: the cities it ships to, a quote for one, and
//! the shipments of paid purchases.

use boxoffice_shared::money::Price;
use boxoffice_shared::sql::{Row, SqlError};
use boxoffice_shared::time;
use serde::Serialize;

/// A city the shop ships to: `{code, name, country, distanceKm}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct City {
    /// Its code, lower case (`nyc`).
    pub code: String,
    /// Its name.
    pub name: String,
    /// Its country, ISO 3166-1 alpha-2.
    pub country: String,
    /// How far it is from the warehouse, km.
    pub distance_km: i64,
}

/// What shipping to a city costs: `{city, name, country, distanceKm, cost}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Quote {
    /// The city's code.
    pub city: String,
    /// Its name.
    pub name: String,
    /// Its country.
    pub country: String,
    /// How far it is from the warehouse, km.
    pub distance_km: i64,
    /// The cost, dollars in JSON.
    pub cost: Price,
}

/// Where a shipment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ShipmentStatus {
    /// It left the warehouse.
    Dispatched,
}

impl ShipmentStatus {
    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dispatched => "dispatched",
        }
    }

    /// Reads the status stored in `column` of `row`.
    pub fn from_row(row: &Row, column: &str) -> Result<Self, SqlError> {
        match row.text(column)?.as_str() {
            "dispatched" => Ok(Self::Dispatched),
            other => Err(SqlError::Decode(format!("{column} is {other:?}"))),
        }
    }
}

/// The shipment of a paid purchase, as stored and shown:
/// `{id, purchaseId, city, status, dispatchedAt}` (the buyer is not shown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Shipment {
    /// Id.
    pub id: String,
    /// The purchase it carries: one shipment per purchase.
    pub purchase_id: String,
    /// The buyer.
    #[serde(skip)]
    pub user_id: String,
    /// The destination city's code.
    pub city: String,
    /// Where it is.
    pub status: ShipmentStatus,
    /// When it left, unix milliseconds; ISO 8601 in JSON.
    #[serde(rename = "dispatchedAt", serialize_with = "time::serialize_rfc3339")]
    pub dispatched_at_ms: i64,
}
