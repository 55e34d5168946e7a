//! The rule of quotes: shipping costs $4.99, plus $0.50 for every 100 km started between
//! the warehouse and the city, and never more than $49.99 (reached at 9,000 km). Cents
//! all the way, no floats.

use boxoffice_shared::money::Price;
use boxoffice_shared::sql::Db;
use boxoffice_shared::ApiError;

use crate::model::{City, Quote};
use crate::storage;

/// What every shipment costs, in cents.
pub const BASE_CENTS: i64 = 499;
/// What each 100 km started adds, in cents.
pub const PER_100_KM_CENTS: i64 = 50;
/// The most a shipment costs, in cents.
pub const CAP_CENTS: i64 = 4999;
/// The message of a city the shop does not ship to.
pub const UNKNOWN_CITY: &str = "Unknown city";

/// The cost of shipping `distance_km` from the warehouse.
pub fn cost(distance_km: i64) -> Price {
    let started = distance_km.max(0).saturating_add(99) / 100;
    let cents = started
        .saturating_mul(PER_100_KM_CENTS)
        .saturating_add(BASE_CENTS);
    Price::from_cents(cents.min(CAP_CENTS))
}

/// The quote for `city`.
pub fn quote_for(city: City) -> Quote {
    Quote {
        cost: cost(city.distance_km),
        city: city.code,
        name: city.name,
        country: city.country,
        distance_km: city.distance_km,
    }
}

/// The quote for the city `code` (any case): 404 [`UNKNOWN_CITY`] when the shop does not
/// ship there.
pub fn quote(db: &dyn Db, code: &str) -> Result<Quote, ApiError> {
    storage::find_city(db, &code.to_ascii_lowercase())?
        .map(quote_for)
        .ok_or_else(|| ApiError::NotFoundBecause(UNKNOWN_CITY.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_shared::sql::native::NativeSqlite;
    use boxoffice_shared::testing::migrate;
    use serde_json::json;

    #[test]
    fn the_cost_grows_by_each_started_hundred_km_up_to_the_cap() {
        let cents = |km| cost(km).cents();
        assert_eq!(cents(0), 499, "the warehouse's own city pays the base");
        assert_eq!(cents(1), 549);
        assert_eq!(cents(99), 549);
        assert_eq!(cents(100), 549);
        assert_eq!(cents(101), 599);
        assert_eq!(cents(1270), 499 + 13 * 50);
        assert_eq!(
            cents(8_901),
            4999,
            "90 started hundreds reach the cap exactly"
        );
        assert_eq!(cents(9_000), 4999);
        assert_eq!(cents(9_001), 4999);
        assert_eq!(cents(14_868), 4999);
        assert_eq!(cents(i64::MAX), 4999);
        assert_eq!(cents(-5), 499);
        assert_eq!(cents(8_900), 4949);
    }

    #[test]
    fn quotes_name_the_city_in_any_case_and_unknown_ones_are_404() {
        let db = NativeSqlite::open_in_memory().unwrap();
        migrate(&db, &storage::migrations()).unwrap();
        assert_eq!(
            serde_json::to_value(quote(&db, "NYC").unwrap()).unwrap(),
            json!({"city": "nyc", "name": "New York", "country": "US",
                   "distanceKm": 1270, "cost": 11.49})
        );
        assert_eq!(quote(&db, "chi").unwrap().cost.cents(), 499);
        assert_eq!(quote(&db, "syd").unwrap().cost.cents(), 4999);
        let unknown = quote(&db, "atlantis").unwrap_err();
        assert_eq!(unknown, ApiError::NotFoundBecause(UNKNOWN_CITY.into()));
        assert_eq!(unknown.status(), 404);
    }
}
