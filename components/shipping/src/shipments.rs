//! The rules of shipments: a paid purchase is dispatched exactly once (its shipment's
//! primary key is the purchase) to a city the shop ships to, announced by
//! `shipment:dispatched` in the same transaction; only its buyer may see it.

use boxoffice_shared::consume::never;
use boxoffice_shared::events::PurchaseCompleted;
use boxoffice_shared::sql::Db;
use boxoffice_shared::{ids, ApiError};

use crate::model::{Shipment, ShipmentStatus};
use crate::{publish, storage};

/// Dispatches the paid `purchase` inside the event's transaction `tx`: stores its
/// shipment and queues `shipment:dispatched`, unless the purchase has a shipment already
/// (a redelivery under another event id), which changes nothing. A destination the shop
/// does not ship to can never be dispatched (the cart quoted it, so this is a bug or a
/// city taken off the list: an operator's call, in the dead-letter queue).
pub fn dispatch(
    tx: &dyn Db,
    purchase: &PurchaseCompleted,
    now_ms: i64,
) -> Result<Option<Shipment>, ApiError> {
    let city = storage::find_city(tx, &purchase.city)?.ok_or_else(|| {
        never(format!(
            "purchase {} goes to {:?}, a city the shop does not ship to",
            purchase.id, purchase.city
        ))
    })?;
    let shipment = Shipment {
        id: ids::new_id(),
        purchase_id: purchase.id.clone(),
        user_id: purchase.user_id.clone(),
        city: city.code,
        status: ShipmentStatus::Dispatched,
        dispatched_at_ms: now_ms,
    };
    if !storage::insert_shipment(tx, &shipment)? {
        return Ok(None);
    }
    publish::publish(tx, &publish::shipment_dispatched(&shipment), now_ms)?;
    Ok(Some(shipment))
}

/// The shipment of purchase `purchase_id` for `user_id`: 404 unknown (or not an id), 401
/// someone else's.
pub fn show(db: &dyn Db, purchase_id: &str, user_id: &str) -> Result<Shipment, ApiError> {
    if !ids::is_well_formed(purchase_id) {
        return Err(ApiError::NotFound);
    }
    let shipment = storage::find_shipment(db, purchase_id)?.ok_or(ApiError::NotFound)?;
    if shipment.user_id != user_id {
        return Err(ApiError::Unauthorized);
    }
    Ok(shipment)
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_shared::events::PurchaseLine;
    use boxoffice_shared::sql::native::NativeSqlite;
    use boxoffice_shared::sql::transaction;
    use boxoffice_shared::testing::{migrate, NOW};
    use serde_json::json;

    fn db() -> NativeSqlite {
        let db = NativeSqlite::open_in_memory().unwrap();
        migrate(&db, &storage::migrations()).unwrap();
        db
    }

    fn purchase(id: &str, city: &str) -> PurchaseCompleted {
        PurchaseCompleted {
            id: id.into(),
            version: 2,
            user_id: "u1".into(),
            city: city.into(),
            lines: vec![PurchaseLine {
                sku: "MUG-1".into(),
                quantity: 2,
            }],
        }
    }

    fn outbox(db: &dyn Db) -> Vec<(String, serde_json::Value)> {
        boxoffice_shared::testing::outbox_events(db, crate::SERVICE)
    }

    fn dispatch_in_tx(db: &dyn Db, p: &PurchaseCompleted, now: i64) -> Option<Shipment> {
        transaction(db, |tx| dispatch(tx, p, now)).unwrap()
    }

    #[test]
    fn a_paid_purchase_is_dispatched_once_and_announced() {
        let db = db();
        let id = ids::new_id();
        let shipment = dispatch_in_tx(&db, &purchase(&id, "nyc"), NOW).unwrap();
        assert_eq!(
            (
                shipment.purchase_id.as_str(),
                shipment.city.as_str(),
                shipment.status
            ),
            (id.as_str(), "nyc", ShipmentStatus::Dispatched)
        );
        assert_eq!(dispatch_in_tx(&db, &purchase(&id, "nyc"), NOW + 5), None);
        assert_eq!(
            dispatch_in_tx(&db, &purchase(&id, "lax"), NOW + 9),
            None,
            "one shipment per purchase, whatever a later copy says"
        );
        assert_eq!(show(&db, &id, "u1").unwrap(), shipment);
        assert_eq!(
            outbox(&db),
            [(
                "shipment:dispatched".to_owned(),
                json!({"id": shipment.id, "purchaseId": id, "userId": "u1",
                       "city": "nyc", "dispatchedAt": "2024-05-01T12:00:00.000Z"})
            )]
        );
    }

    #[test]
    fn an_unknown_destination_is_never_dispatched() {
        let db = db();
        let refused = transaction(&db, |tx| {
            dispatch(tx, &purchase(&ids::new_id(), "xyz"), NOW)
        });
        assert_eq!(refused.unwrap_err().status(), 400);
        assert!(outbox(&db).is_empty());
    }

    #[test]
    fn a_shipment_is_shown_to_its_buyer_only() {
        let db = db();
        let id = ids::new_id();
        dispatch_in_tx(&db, &purchase(&id, "lon"), NOW);
        assert_eq!(show(&db, &id, "u2"), Err(ApiError::Unauthorized));
        assert_eq!(show(&db, &ids::new_id(), "u1"), Err(ApiError::NotFound));
        assert_eq!(show(&db, "nope", "u1"), Err(ApiError::NotFound));
        assert_eq!(show(&db, &id.to_uppercase(), "u1"), Err(ApiError::NotFound));
        let shown = serde_json::to_value(show(&db, &id, "u1").unwrap()).unwrap();
        assert_eq!(shown["purchaseId"], json!(id));
        assert_eq!(shown["status"], "dispatched");
        assert_eq!(shown["dispatchedAt"], "2024-05-01T12:00:00.000Z");
        assert!(shown.get("userId").is_none());
    }
}
