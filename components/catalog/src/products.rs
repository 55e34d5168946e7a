//! The rules of the catalog: who may list and edit products (a sku is taken once,
//! enforced by the database), and how a completed purchase takes its units out of stock,
//! once, never below zero. Every change bumps the version by 1 and queues its event in the
//! same transaction.

use std::collections::BTreeMap;

use boxoffice_shared::consume::{never, not_yet};
use boxoffice_shared::events::PurchaseCompleted;
use boxoffice_shared::sql::{transaction, Db, SqlError};
use boxoffice_shared::{validate, ApiError, FieldError};

use crate::input::SKU_IN_USE;
use crate::model::{Category, Details, Listing, Product};
use crate::{publish, storage, SERVICE};

/// How often a change is retried when another writer changed the product in between
/// (possible on Postgres, whose transactions do not lock up front).
const ATTEMPTS: usize = 3;

/// Puts product `sku` on sale for `user_id` (version 0) and queues `product:created`,
/// together; 400 [`SKU_IN_USE`] when the sku is taken (the primary key decides, so exactly
/// one of concurrent creators wins).
pub fn create(
    db: &dyn Db,
    user_id: &str,
    sku: String,
    details: Details,
    now_ms: i64,
) -> Result<Product, ApiError> {
    let product = Product {
        sku,
        name: details.name,
        description: details.description,
        price: details.price,
        stock: details.stock,
        categories: details.categories,
        user_id: user_id.to_owned(),
        version: 0,
    };
    transaction(db, |tx| {
        storage::insert(tx, &product, now_ms).map_err(|e| match e {
            SqlError::UniqueViolation(_) => {
                ApiError::Validation(vec![FieldError::new("sku", SKU_IN_USE)])
            }
            other => other.into(),
        })?;
        publish::publish(tx, &publish::product_created(&product), now_ms)?;
        Ok(product.clone())
    })
}

/// The product `sku` (any case); 404 when unknown or not a sku at all.
pub fn show(db: &dyn Db, sku: &str) -> Result<Product, ApiError> {
    let sku = validate::sku_text(sku).ok_or(ApiError::NotFound)?;
    storage::find(db, &sku)?.ok_or(ApiError::NotFound)
}

/// The page of products `listing` asks for.
pub fn list(db: &dyn Db, listing: &Listing) -> Result<Vec<Product>, ApiError> {
    Ok(storage::search(db, listing)?)
}

/// Every category that has a product, by name, with its count.
pub fn categories(db: &dyn Db) -> Result<Vec<Category>, ApiError> {
    Ok(storage::categories(db)?)
}

enum EditFailure {
    Refused(ApiError),
    Raced,
}

impl From<SqlError> for EditFailure {
    fn from(e: SqlError) -> Self {
        Self::Refused(e.into())
    }
}

/// Replaces the details of product `sku` for `user_id`: 404 unknown, 401 not the seller;
/// the version goes up by 1 and `product:updated` is queued in the same transaction.
pub fn edit(
    db: &dyn Db,
    sku: &str,
    user_id: &str,
    details: &Details,
    now_ms: i64,
) -> Result<Product, ApiError> {
    let sku = validate::sku_text(sku).ok_or(ApiError::NotFound)?;
    for _ in 0..ATTEMPTS {
        let attempt = transaction(db, |tx| {
            let current =
                storage::find(tx, &sku)?.ok_or(EditFailure::Refused(ApiError::NotFound))?;
            if current.user_id != user_id {
                return Err(EditFailure::Refused(ApiError::Unauthorized));
            }
            let edited =
                storage::save_details(tx, &current, details, now_ms)?.ok_or(EditFailure::Raced)?;
            publish::publish(tx, &publish::product_updated(&edited, None), now_ms)?;
            Ok(edited)
        });
        match attempt {
            Ok(product) => return Ok(product),
            Err(EditFailure::Refused(e)) => return Err(e),
            Err(EditFailure::Raced) => continue,
        }
    }
    Err(ApiError::BackendDown(format!(
        "product {sku} kept changing during {ATTEMPTS} edit attempts"
    )))
}

/// Takes the units of a completed purchase out of stock, inside the event's transaction
/// `tx`: each product once per purchase (whatever event brings it), never below zero
/// (a shortfall empties the stock and is logged as oversold); each product changed gets
/// version + 1 and a `product:updated` naming the purchase. A purchase of an unknown
/// product, or of no units, can never be applied.
pub fn sell(tx: &dyn Db, purchase: &PurchaseCompleted, now_ms: i64) -> Result<(), ApiError> {
    let mut wanted: BTreeMap<&str, i64> = BTreeMap::new();
    for line in &purchase.lines {
        let total = wanted.entry(line.sku.as_str()).or_default();
        *total = total
            .checked_add(line.quantity)
            .filter(|_| line.quantity > 0)
            .ok_or_else(|| {
                never(format!(
                    "purchase {} takes {} units of {}",
                    purchase.id, line.quantity, line.sku
                ))
            })?;
    }
    for (sku, quantity) in wanted {
        if storage::find(tx, sku)?.is_none() {
            return Err(never(format!(
                "purchase {} sold unknown product {sku}",
                purchase.id
            )));
        }
        if !storage::record_sale(tx, &purchase.id, sku, quantity, now_ms)? {
            continue;
        }
        let sold = take_out(tx, &purchase.id, sku, quantity, now_ms)?;
        let event = publish::product_updated(&sold, Some(purchase.id.clone()));
        publish::publish(tx, &event, now_ms)?;
    }
    Ok(())
}

/// Takes `quantity` units of `sku` out of stock; when fewer are left, empties it and logs
/// by how many the purchase oversold (a seller lowered the stock meanwhile). Returns the
/// product as that change left it.
fn take_out(
    tx: &dyn Db,
    purchase_id: &str,
    sku: &str,
    quantity: i64,
    now_ms: i64,
) -> Result<Product, ApiError> {
    for _ in 0..ATTEMPTS {
        if let Some(sold) = storage::take_stock(tx, sku, quantity, now_ms)? {
            return Ok(sold);
        }
        let Some(current) = storage::find(tx, sku)? else {
            return Err(never(format!(
                "purchase {purchase_id} sold unknown product {sku}"
            )));
        };
        if current.stock >= quantity {
            continue;
        }
        if let Some(emptied) = storage::empty_stock(tx, sku, current.stock, now_ms)? {
            eprintln!(
                "{SERVICE}: purchase {purchase_id} oversold {sku} by {} units: it took {quantity} \
                 of the {} left; the stock is now 0",
                quantity - current.stock,
                current.stock
            );
            return Ok(emptied);
        }
    }
    Err(not_yet(format!(
        "product {sku} kept changing while purchase {purchase_id} took its units"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_shared::events::PurchaseLine;
    use boxoffice_shared::ids;
    use boxoffice_shared::money::Price;
    use boxoffice_shared::sql::native::NativeSqlite;
    use boxoffice_shared::sql::Dialect;
    use boxoffice_shared::testing::{migrate, NOW};
    use serde_json::{json, Value};

    fn db() -> NativeSqlite {
        let db = NativeSqlite::open_in_memory().unwrap();
        migrate(&db, &storage::migrations(Dialect::Sqlite)).unwrap();
        db
    }

    fn details(name: &str, description: &str, stock: i64, categories: &[&str]) -> Details {
        Details {
            name: name.into(),
            description: description.into(),
            price: Price::from_cents(2500),
            stock,
            categories: categories.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    fn outbox(db: &dyn Db) -> Vec<(String, serde_json::Value)> {
        boxoffice_shared::testing::outbox_events(db, crate::SERVICE)
    }

    fn purchase(id: &str, lines: &[(&str, i64)]) -> PurchaseCompleted {
        PurchaseCompleted {
            id: id.into(),
            version: 2,
            user_id: "b".repeat(24),
            city: "NYC".into(),
            lines: lines
                .iter()
                .map(|(sku, quantity)| PurchaseLine {
                    sku: (*sku).into(),
                    quantity: *quantity,
                })
                .collect(),
        }
    }

    #[test]
    fn a_new_product_is_version_0_and_announced() {
        let db = db();
        let created = create(
            &db,
            "u1",
            "TEE-1".into(),
            details("Tee", "", 4, &["merch"]),
            NOW,
        )
        .unwrap();
        assert_eq!(created.version, 0);
        assert_eq!(show(&db, "tee-1").unwrap(), created);
        assert_eq!(
            outbox(&db),
            [(
                "product:created".to_owned(),
                json!({"sku": "TEE-1", "version": 0, "name": "Tee", "price": 25, "stock": 4,
                       "userId": "u1"})
            )]
        );
        assert_eq!(show(&db, "TEE-2"), Err(ApiError::NotFound));
        assert_eq!(show(&db, "no such sku"), Err(ApiError::NotFound));
    }

    #[test]
    fn a_sku_is_taken_once() {
        let db = db();
        create(&db, "u1", "TEE-1".into(), details("Tee", "", 4, &[]), NOW).unwrap();
        let again = create(&db, "u2", "TEE-1".into(), details("Other", "", 1, &[]), NOW);
        assert_eq!(
            again,
            Err(ApiError::Validation(vec![FieldError::new(
                "sku", SKU_IN_USE
            )]))
        );
        assert_eq!(outbox(&db).len(), 1, "a refused product publishes nothing");
        assert_eq!(show(&db, "TEE-1").unwrap().name, "Tee");
    }

    #[test]
    fn concurrent_creators_of_one_sku_have_one_winner() {
        let dir = std::env::temp_dir().join(format!("catalog-race-{}", ids::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("race.db");
        let setup = NativeSqlite::open(&path).unwrap();
        migrate(&setup, &storage::migrations(Dialect::Sqlite)).unwrap();
        let results: Vec<Result<Product, ApiError>> = std::thread::scope(|scope| {
            let racers: Vec<_> = (0..8)
                .map(|i| {
                    let path = &path;
                    scope.spawn(move || {
                        let db = NativeSqlite::open(path).unwrap();
                        let name = format!("Tee {i}");
                        create(
                            &db,
                            &format!("u{i}"),
                            "TEE-1".into(),
                            details(&name, "", 1, &[]),
                            NOW,
                        )
                    })
                })
                .collect();
            racers.into_iter().map(|r| r.join().unwrap()).collect()
        });
        let winners = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(winners, 1, "{results:?}");
        for result in results.iter().filter(|r| r.is_err()) {
            assert_eq!(
                result,
                &Err(ApiError::Validation(vec![FieldError::new(
                    "sku", SKU_IN_USE
                )]))
            );
        }
        assert_eq!(outbox(&setup).len(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn edits_check_existence_then_seller_and_bump_the_version() {
        let db = db();
        let new = details("Mug", "White", 3, &["kitchen"]);
        assert_eq!(edit(&db, "MUG-1", "u1", &new, NOW), Err(ApiError::NotFound));
        assert_eq!(edit(&db, "-bad", "u1", &new, NOW), Err(ApiError::NotFound));
        create(
            &db,
            "u1",
            "TEE-1".into(),
            details("Tee", "", 4, &["merch"]),
            NOW,
        )
        .unwrap();
        assert_eq!(
            edit(&db, "TEE-1", "u2", &new, NOW),
            Err(ApiError::Unauthorized)
        );
        let edited = edit(&db, "tee-1", "u1", &new, NOW + 1).unwrap();
        assert_eq!(
            (edited.name.as_str(), edited.stock, edited.version),
            ("Mug", 3, 1)
        );
        assert_eq!(edited.categories, ["kitchen"]);
        assert_eq!(show(&db, "TEE-1").unwrap(), edited);
        let events = outbox(&db);
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[1],
            (
                "product:updated".to_owned(),
                json!({"sku": "TEE-1", "version": 1, "name": "Mug", "price": 25, "stock": 3,
                       "userId": "u1"})
            )
        );
        assert_eq!(
            categories(&db).unwrap(),
            [Category {
                name: "kitchen".into(),
                count: 1
            }]
        );
    }

    #[test]
    fn a_purchase_takes_its_units_once_whatever_event_brings_it() {
        let db = db();
        create(&db, "u1", "TEE-1".into(), details("Tee", "", 10, &[]), NOW).unwrap();
        create(&db, "u1", "MUG-1".into(), details("Mug", "", 5, &[]), NOW).unwrap();
        let bought = purchase("p1", &[("TEE-1", 2), ("MUG-1", 1), ("TEE-1", 1)]);
        sell(&db, &bought, NOW).unwrap();
        // The same purchase again, as a republished completion would bring it.
        sell(&db, &bought, NOW).unwrap();
        let tee = show(&db, "TEE-1").unwrap();
        assert_eq!((tee.stock, tee.version), (7, 1));
        let mug = show(&db, "MUG-1").unwrap();
        assert_eq!((mug.stock, mug.version), (4, 1));
        let updates: Vec<Value> = outbox(&db)
            .into_iter()
            .filter(|(kind, _)| kind == "product:updated")
            .map(|(_, data)| data)
            .collect();
        assert_eq!(
            updates,
            [
                json!({"sku": "MUG-1", "version": 1, "name": "Mug", "price": 25, "stock": 4,
                       "userId": "u1", "purchaseId": "p1"}),
                json!({"sku": "TEE-1", "version": 1, "name": "Tee", "price": 25, "stock": 7,
                       "userId": "u1", "purchaseId": "p1"}),
            ]
        );
        sell(&db, &purchase("p2", &[("TEE-1", 7)]), NOW).unwrap();
        assert_eq!(show(&db, "TEE-1").unwrap().stock, 0);
    }

    #[test]
    fn an_oversold_product_stops_at_zero() {
        let db = db();
        create(&db, "u1", "TEE-1".into(), details("Tee", "", 2, &[]), NOW).unwrap();
        sell(&db, &purchase("p1", &[("TEE-1", 5)]), NOW).unwrap();
        let tee = show(&db, "TEE-1").unwrap();
        assert_eq!((tee.stock, tee.version), (0, 1));
        sell(&db, &purchase("p2", &[("TEE-1", 1)]), NOW).unwrap();
        let tee = show(&db, "TEE-1").unwrap();
        assert_eq!(
            (tee.stock, tee.version),
            (0, 2),
            "still a change, still announced"
        );
        assert_eq!(outbox(&db).len(), 3);
    }

    #[test]
    fn purchases_that_can_never_apply_change_nothing() {
        let db = db();
        create(&db, "u1", "TEE-1".into(), details("Tee", "", 2, &[]), NOW).unwrap();
        for bad in [
            purchase("p1", &[("TEE-1", 1), ("ZZZ-1", 1)]),
            purchase("p2", &[("TEE-1", 0)]),
            purchase("p3", &[("TEE-1", -3)]),
            purchase("p4", &[("TEE-1", i64::MAX), ("TEE-1", 1)]),
        ] {
            // As `consume::receive` runs it: in one transaction, rolled back on refusal.
            let refused = transaction(&db, |tx| sell(tx, &bad, NOW));
            assert_eq!(refused.unwrap_err().status(), 400, "{bad:?}");
        }
        let tee = show(&db, "TEE-1").unwrap();
        assert_eq!((tee.stock, tee.version), (2, 0));
        assert_eq!(outbox(&db).len(), 1);
    }

    #[test]
    fn search_ranks_names_over_descriptions_and_filters_by_category() {
        let db = db();
        let add = |sku: &str, name: &str, description: &str, categories: &[&str], at: i64| {
            create(
                &db,
                "u1",
                sku.into(),
                details(name, description, 1, categories),
                at,
            )
            .unwrap();
        };
        add("MUG-1", "Coffee mug", "Holds tea too", &["kitchen"], NOW);
        add(
            "TEE-1",
            "Tour shirt",
            "Printed with a coffee stain",
            &["merch"],
            NOW + 1,
        );
        add("CAP-1", "Cap", "Red, one size", &["merch", "hats"], NOW + 2);
        let skus = |search: Option<&str>, category: Option<&str>, limit: i64, offset: i64| {
            let listing = Listing {
                search: search.map(str::to_owned),
                category: category.map(str::to_owned),
                limit,
                offset,
            };
            list(&db, &listing)
                .unwrap()
                .into_iter()
                .map(|p| p.sku)
                .collect::<Vec<_>>()
        };
        assert_eq!(skus(None, None, 24, 0), ["CAP-1", "TEE-1", "MUG-1"]);
        assert_eq!(skus(None, None, 2, 1), ["TEE-1", "MUG-1"]);
        assert_eq!(skus(Some("coffee"), None, 24, 0), ["MUG-1", "TEE-1"]);
        assert_eq!(skus(Some("printed shirts"), None, 24, 0), ["TEE-1"]);
        assert_eq!(skus(Some("coffee"), Some("merch"), 24, 0), ["TEE-1"]);
        assert_eq!(skus(None, Some("merch"), 24, 0), ["CAP-1", "TEE-1"]);
        assert!(skus(None, Some("none"), 24, 0).is_empty());
        assert!(skus(Some("coffee tea red"), None, 24, 0).is_empty());
        assert_eq!(
            categories(&db).unwrap(),
            [("hats", 1), ("kitchen", 1), ("merch", 2)].map(|(name, count)| Category {
                name: name.into(),
                count
            })
        );
        // A changed name is searched from then on; a sale leaves the index alone.
        edit(
            &db,
            "MUG-1",
            "u1",
            &details("Tea cup", "Porcelain", 1, &["kitchen"]),
            NOW,
        )
        .unwrap();
        assert_eq!(skus(Some("coffee"), None, 24, 0), ["TEE-1"]);
        assert_eq!(skus(Some("porcelain cup"), None, 24, 0), ["MUG-1"]);
        sell(&db, &purchase("p1", &[("MUG-1", 1)]), NOW).unwrap();
        assert_eq!(skus(Some("porcelain cup"), None, 24, 0), ["MUG-1"]);
    }
}
