//! The shipping service's tables: the cities it ships to (seeded here), the shipments,
//! and the outbox and processed-event ids that carry its events out and in.
//!
//! A shipment's primary key is its purchase, so a purchase is dispatched at most once
//! whatever the redeliveries. Times are unix milliseconds.

use boxoffice_shared::sql::{Db, Row, SqlError};
use boxoffice_shared::{consume, outbox};

use crate::model::{City, Shipment, ShipmentStatus};
use crate::SERVICE;

/// The cities the shop ships to from its warehouse in Chicago: code, name, country
/// (ISO 3166-1 alpha-2) and distance in km, by road within North America and great-circle
/// beyond, rounded. Adding one here adds it on the next migration; a city already stored
/// keeps its row.
pub const CITIES: &[(&str, &str, &str, i64)] = &[
    ("chi", "Chicago", "US", 0),
    ("nap", "Naperville", "US", 50),
    ("mke", "Milwaukee", "US", 148),
    ("ind", "Indianapolis", "US", 293),
    ("det", "Detroit", "US", 454),
    ("stl", "St. Louis", "US", 480),
    ("msp", "Minneapolis", "US", 658),
    ("tor", "Toronto", "CA", 836),
    ("atl", "Atlanta", "US", 1152),
    ("nyc", "New York", "US", 1270),
    ("mtl", "Montreal", "CA", 1363),
    ("dal", "Dallas", "US", 1486),
    ("bos", "Boston", "US", 1581),
    ("den", "Denver", "US", 1623),
    ("mia", "Miami", "US", 2222),
    ("lax", "Los Angeles", "US", 3241),
    ("sea", "Seattle", "US", 3320),
    ("mex", "Mexico City", "MX", 3386),
    ("sfo", "San Francisco", "US", 3448),
    ("lon", "London", "GB", 6359),
    ("par", "Paris", "FR", 6664),
    ("ber", "Berlin", "DE", 7088),
    ("tyo", "Tokyo", "JP", 10152),
    ("syd", "Sydney", "AU", 14868),
];

/// The statements creating the shipping service's tables and seeding its cities.
pub fn migrations() -> Vec<String> {
    vec![
        "CREATE TABLE IF NOT EXISTS shipping_cities (\
            code TEXT PRIMARY KEY, \
            name TEXT NOT NULL, \
            country TEXT NOT NULL, \
            distance_km BIGINT NOT NULL)"
            .to_owned(),
        seed_cities(),
        "CREATE TABLE IF NOT EXISTS shipping_shipments (\
            purchase_id TEXT PRIMARY KEY, \
            id TEXT NOT NULL UNIQUE, \
            user_id TEXT NOT NULL, \
            city TEXT NOT NULL, \
            status TEXT NOT NULL, \
            dispatched_at BIGINT NOT NULL)"
            .to_owned(),
        consume::create_processed_table(SERVICE),
    ]
    .into_iter()
    .chain(outbox::migrations(SERVICE))
    .collect()
}

/// One `INSERT` of every city of [`CITIES`] not stored yet. The values are this file's
/// constants, quoted for SQL (a `'` doubled), not anyone's input.
fn seed_cities() -> String {
    let quoted = |text: &str| format!("'{}'", text.replace('\'', "''"));
    let rows: Vec<String> = CITIES
        .iter()
        .map(|(code, name, country, km)| {
            format!(
                "({}, {}, {}, {km})",
                quoted(code),
                quoted(name),
                quoted(country)
            )
        })
        .collect();
    format!(
        "INSERT INTO shipping_cities (code, name, country, distance_km) VALUES {} \
         ON CONFLICT (code) DO NOTHING",
        rows.join(", ")
    )
}

fn city(row: &Row) -> Result<City, SqlError> {
    Ok(City {
        code: row.text("code")?,
        name: row.text("name")?,
        country: row.text("country")?,
        distance_km: row.int("distance_km")?,
    })
}

/// Every city, sorted by name.
pub fn list_cities(db: &dyn Db) -> Result<Vec<City>, SqlError> {
    db.query(
        "SELECT code, name, country, distance_km FROM shipping_cities ORDER BY name, code",
        &[],
    )?
    .iter()
    .map(city)
    .collect()
}

/// The city `code`, if the shop ships there.
pub fn find_city(db: &dyn Db, code: &str) -> Result<Option<City>, SqlError> {
    db.query(
        "SELECT code, name, country, distance_km FROM shipping_cities WHERE code = $1",
        &[code.into()],
    )?
    .first()
    .map(city)
    .transpose()
}

/// Stores `shipment` unless its purchase has one already; whether it was stored.
pub fn insert_shipment(db: &dyn Db, shipment: &Shipment) -> Result<bool, SqlError> {
    let inserted = db.execute(
        "INSERT INTO shipping_shipments \
         (purchase_id, id, user_id, city, status, dispatched_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (purchase_id) DO NOTHING",
        &[
            (&shipment.purchase_id).into(),
            (&shipment.id).into(),
            (&shipment.user_id).into(),
            (&shipment.city).into(),
            shipment.status.as_str().into(),
            shipment.dispatched_at_ms.into(),
        ],
    )?;
    Ok(inserted == 1)
}

/// The shipment of purchase `purchase_id`, if any.
pub fn find_shipment(db: &dyn Db, purchase_id: &str) -> Result<Option<Shipment>, SqlError> {
    db.query(
        "SELECT purchase_id, id, user_id, city, status, dispatched_at \
         FROM shipping_shipments WHERE purchase_id = $1",
        &[purchase_id.into()],
    )?
    .first()
    .map(|row| {
        Ok(Shipment {
            id: row.text("id")?,
            purchase_id: row.text("purchase_id")?,
            user_id: row.text("user_id")?,
            city: row.text("city")?,
            status: ShipmentStatus::from_row(row, "status")?,
            dispatched_at_ms: row.int("dispatched_at")?,
        })
    })
    .transpose()
}
