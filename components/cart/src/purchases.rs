//! The rules of purchases: a checkout holds the cart's units (all or none: the database
//! refuses a hold past the stock, whatever the concurrency) and creates a purchase at
//! today's prices, paid through the payments service like a ticket order; who may see and
//! cancel one; how cancellation, the end of the hold and payment move its status. Every
//! change bumps the version by 1 and queues its event in the same transaction.

use boxoffice_shared::consume::{never, not_yet};
use boxoffice_shared::events::{Cause, OrderStatus};
use boxoffice_shared::holds::{self, Terms};
use boxoffice_shared::money::Price;
use boxoffice_shared::sql::{transaction, Db};
use boxoffice_shared::{ids, ApiError, FieldError};

use crate::model::{Cart, Purchase, PurchaseLine, Shipment};
use crate::{pricing, publish, storage, SERVICE};

/// The message for a checkout of an empty cart.
pub const EMPTY_CART: &str = "Your cart is empty";
/// The message for a checkout with no shipping chosen.
pub const NO_SHIPPING: &str = "Choose where to ship";
/// The message when a paid purchase is cancelled.
pub const CANNOT_CANCEL_COMPLETE: &str = "Cannot cancel a completed purchase";
/// How many lapsed purchases one tick cancels at most; the next tick does the rest.
pub const BATCH: i64 = 200;

/// Checks out `cart` for `user_id`: 400 [`EMPTY_CART`], [`NO_SHIPPING`] (field `city`),
/// or, when a product has fewer units left than the cart asks for, which one (and nothing
/// is held). Otherwise its units are held for `window_ms`, and the purchase and its
/// `purchase:created` commit together.
pub fn checkout(
    db: &dyn Db,
    cart: &Cart,
    user_id: &str,
    terms: &Terms,
    tax_basis_points: i64,
    now_ms: i64,
) -> Result<Purchase, ApiError> {
    if cart.items.is_empty() {
        return Err(ApiError::bad_request(EMPTY_CART));
    }
    let shipping = cart
        .shipping
        .clone()
        .ok_or_else(|| ApiError::Validation(vec![FieldError::new("city", NO_SHIPPING)]))?;
    transaction(db, |tx| {
        holds::admit(
            tx,
            SERVICE,
            "cart_purchases",
            user_id,
            terms.max_live,
            now_ms,
        )?;
        let mut lines = Vec::with_capacity(cart.items.len());
        for item in &cart.items {
            let product = storage::find_product(tx, &item.sku)?
                .ok_or_else(|| ApiError::bad_request(format!("{} is no longer sold", item.sku)))?;
            if !storage::hold(tx, &item.sku, item.quantity)? {
                let left = storage::find_product(tx, &item.sku)?.map_or(0, |p| p.available());
                return Err(ApiError::bad_request(if left == 0 {
                    format!("{} is out of stock", product.name)
                } else {
                    format!("Only {left} of {} left", product.name)
                }));
            }
            lines.push(PurchaseLine {
                line_total: pricing::line_total(product.price, item.quantity),
                sku: product.sku,
                name: product.name,
                price: product.price,
                quantity: item.quantity,
            });
        }
        let subtotal = Price::from_cents(lines.iter().map(|l| l.line_total.cents()).sum());
        let (tax, total) = pricing::totals(subtotal, Some(shipping.cost), tax_basis_points);
        let purchase = Purchase {
            id: ids::new_id(),
            user_id: user_id.to_owned(),
            status: OrderStatus::Created,
            expires_at_ms: now_ms + terms.window_ms,
            updated_at_ms: now_ms,
            version: 0,
            lines,
            subtotal,
            shipping: shipping.clone(),
            tax,
            total,
            shipment: None,
        };
        storage::insert_purchase(tx, &purchase)?;
        publish::publish(tx, &publish::purchase_created(&purchase), now_ms)?;
        Ok(purchase)
    })
}

/// The purchases of `user_id`, oldest first.
pub fn list(db: &dyn Db, user_id: &str) -> Result<Vec<Purchase>, ApiError> {
    Ok(storage::list_purchases(db, user_id)?)
}

/// The purchase `id` for `user_id`: 404 unknown (or not an id), 401 someone else's.
pub fn show(db: &dyn Db, id: &str, user_id: &str) -> Result<Purchase, ApiError> {
    if !ids::is_well_formed(id) {
        return Err(ApiError::NotFound);
    }
    let purchase = storage::find_purchase(db, id)?.ok_or(ApiError::NotFound)?;
    if purchase.user_id != user_id {
        return Err(ApiError::Unauthorized);
    }
    Ok(purchase)
}

/// The status a purchase in `current` moves to for `cause` ([`OrderStatus::after`], the
/// same life as an order's); `None` when it stays.
pub fn next_status(current: OrderStatus, cause: Cause) -> Result<Option<OrderStatus>, ApiError> {
    current
        .after(cause)
        .map_err(|_| ApiError::bad_request(CANNOT_CANCEL_COMPLETE))
}

/// Moves `purchase` for `cause` inside `tx`: the new status and version + 1 are stored, a
/// cancellation lets go of its held units, and its event is queued.
fn change(
    tx: &dyn Db,
    purchase: Purchase,
    cause: Cause,
    now_ms: i64,
) -> Result<Purchase, ApiError> {
    let Some(status) = next_status(purchase.status, cause)? else {
        return Ok(purchase);
    };
    let changed = Purchase {
        status,
        version: purchase.version + 1,
        updated_at_ms: now_ms,
        ..purchase
    };
    if !storage::save_purchase_next_version(tx, &changed)? {
        return Err(not_yet(format!(
            "purchase {} changed while being {cause:?}",
            changed.id
        )));
    }
    let event = if status == OrderStatus::Cancelled {
        for line in &changed.lines {
            storage::release(tx, &line.sku, line.quantity)?;
        }
        publish::purchase_cancelled(&changed)
    } else {
        publish::purchase_completed(&changed)
    };
    publish::publish(tx, &event, now_ms)?;
    Ok(changed)
}

/// Cancels purchase `id` for its buyer `user_id`: 404 unknown, 401 someone else's, 400
/// [`CANNOT_CANCEL_COMPLETE`]; one cancelled already stays as it is.
pub fn cancel(db: &dyn Db, id: &str, user_id: &str, now_ms: i64) -> Result<Purchase, ApiError> {
    if !ids::is_well_formed(id) {
        return Err(ApiError::NotFound);
    }
    transaction(db, |tx| {
        let purchase = show(tx, id, user_id)?;
        change(tx, purchase, Cause::Cancellation, now_ms)
    })
}

/// Applies a payment to purchase `id` inside the event's transaction `tx`; a payment for
/// a purchase cancelled meanwhile leaves it cancelled (the payments service refunds it).
pub fn paid(tx: &dyn Db, id: &str, now_ms: i64) -> Result<Purchase, ApiError> {
    let purchase = storage::find_purchase(tx, id)?
        .ok_or_else(|| never(format!("payment of unknown purchase {id}")))?;
    change(tx, purchase, Cause::Payment, now_ms)
}

/// Cancels every purchase whose hold lapsed at `now_ms`, each in its own transaction.
/// Returns how many it cancelled.
pub fn expire_lapsed(db: &dyn Db, now_ms: i64) -> Result<usize, ApiError> {
    let mut cancelled = 0;
    for id in storage::lapsed_purchases(db, now_ms, BATCH)? {
        let done = transaction(db, |tx| {
            let Some(purchase) = storage::find_purchase(tx, &id)? else {
                return Ok(false);
            };
            let before = purchase.status;
            Ok::<_, ApiError>(change(tx, purchase, Cause::Expiry, now_ms)?.status != before)
        })?;
        cancelled += usize::from(done);
    }
    Ok(cancelled)
}

/// Records the dispatch of purchase `id`, announced by the shipping service.
pub fn dispatched(tx: &dyn Db, id: &str, shipment: &Shipment) -> Result<(), ApiError> {
    if storage::record_shipment(tx, id, shipment)? {
        Ok(())
    } else {
        Err(never(format!(
            "shipment {} of unknown purchase {id}",
            shipment.id
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Item, Shipping};
    use crate::replica;
    use boxoffice_shared::events::{ProductCreated, ProductUpdated};
    use boxoffice_shared::sql::native::NativeSqlite;
    use boxoffice_shared::testing::{migrate, NOW};

    const WINDOW: i64 = 900_000;
    const TERMS: Terms = Terms {
        window_ms: WINDOW,
        max_live: 10,
    };
    const TAX: i64 = 800;

    fn db() -> NativeSqlite {
        let db = NativeSqlite::open_in_memory().unwrap();
        migrate(&db, &storage::migrations()).unwrap();
        db
    }

    fn product(db: &dyn Db, sku: &str, cents: i64, stock: i64) {
        let created = ProductCreated {
            sku: sku.into(),
            version: 0,
            name: format!("{sku} name"),
            price: Price::from_cents(cents),
            stock,
            user_id: "seller".into(),
        };
        replica::product_created(db, &created).unwrap();
    }

    fn cart(items: &[(&str, i64)]) -> Cart {
        Cart {
            items: items
                .iter()
                .map(|(sku, quantity)| Item {
                    sku: (*sku).into(),
                    quantity: *quantity,
                })
                .collect(),
            shipping: Some(Shipping {
                city: "nyc".into(),
                name: "New York".into(),
                country: "United States".into(),
                cost: Price::from_cents(899),
            }),
            updated_at_ms: NOW,
        }
    }

    fn held(db: &dyn Db, sku: &str) -> (i64, i64) {
        let p = storage::find_product(db, sku).unwrap().unwrap();
        (p.stock, p.held)
    }

    fn outbox(db: &dyn Db) -> Vec<(String, serde_json::Value)> {
        boxoffice_shared::testing::outbox_events(db, crate::SERVICE)
    }

    #[test]
    fn a_checkout_holds_its_units_prices_the_goods_and_is_announced() {
        let db = db();
        product(&db, "MUG", 1250, 5);
        product(&db, "TEE", 2000, 1);
        let purchase = checkout(
            &db,
            &cart(&[("MUG", 2), ("TEE", 1)]),
            "u1",
            &TERMS,
            TAX,
            NOW,
        )
        .unwrap();
        assert_eq!(purchase.subtotal.cents(), 4500);
        assert_eq!(purchase.tax.cents(), 360);
        assert_eq!(purchase.total.cents(), 4500 + 360 + 899);
        assert_eq!(purchase.expires_at_ms, NOW + WINDOW);
        assert_eq!((held(&db, "MUG"), held(&db, "TEE")), ((5, 2), (1, 1)));
        assert_eq!(
            storage::find_purchase(&db, &purchase.id).unwrap(),
            Some(purchase.clone())
        );
        let events = outbox(&db);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].0, "purchase:created");
        assert_eq!(events[0].1["total"], serde_json::json!(57.59));
        assert_eq!(
            events[0].1["lines"],
            serde_json::json!([{"sku": "MUG", "quantity": 2}, {"sku": "TEE", "quantity": 1}])
        );
    }

    #[test]
    fn a_checkout_past_the_stock_holds_nothing_and_says_what_is_short() {
        let db = db();
        product(&db, "MUG", 1250, 5);
        product(&db, "TEE", 2000, 1);
        checkout(&db, &cart(&[("TEE", 1)]), "u1", &TERMS, TAX, NOW).unwrap();
        assert_eq!(
            checkout(
                &db,
                &cart(&[("MUG", 2), ("TEE", 1)]),
                "u2",
                &TERMS,
                TAX,
                NOW
            ),
            Err(ApiError::bad_request("TEE name is out of stock"))
        );
        assert_eq!(
            checkout(&db, &cart(&[("MUG", 6)]), "u2", &TERMS, TAX, NOW),
            Err(ApiError::bad_request("Only 5 of MUG name left"))
        );
        assert_eq!(
            held(&db, "MUG"),
            (5, 0),
            "the refused checkout held nothing"
        );
        assert_eq!(outbox(&db).len(), 1);
        assert_eq!(
            checkout(&db, &Cart::default(), "u1", &TERMS, TAX, NOW),
            Err(ApiError::bad_request(EMPTY_CART))
        );
        let mut unshipped = cart(&[("MUG", 1)]);
        unshipped.shipping = None;
        assert_eq!(
            checkout(&db, &unshipped, "u1", &TERMS, TAX, NOW)
                .unwrap_err()
                .errors()[0]
                .field,
            Some("city".to_owned())
        );
    }

    #[test]
    fn concurrent_checkouts_of_the_last_units_hold_exactly_the_stock() {
        let dir = std::env::temp_dir().join(format!("cart-race-{}", ids::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("race.db");
        let setup = NativeSqlite::open(&path).unwrap();
        migrate(&setup, &storage::migrations()).unwrap();
        product(&setup, "LAST", 1000, 3);
        let results: Vec<Result<Purchase, ApiError>> = std::thread::scope(|scope| {
            let racers: Vec<_> = (0..10)
                .map(|i| {
                    let path = &path;
                    scope.spawn(move || {
                        let db = NativeSqlite::open(path).unwrap();
                        checkout(
                            &db,
                            &cart(&[("LAST", 1)]),
                            &format!("u{i}"),
                            &TERMS,
                            TAX,
                            NOW,
                        )
                    })
                })
                .collect();
            racers.into_iter().map(|r| r.join().unwrap()).collect()
        });
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            3,
            "{results:?}"
        );
        for refused in results.iter().filter(|r| r.is_err()) {
            assert_eq!(
                refused,
                &Err(ApiError::bad_request("LAST name is out of stock"))
            );
        }
        assert_eq!(held(&setup, "LAST"), (3, 3));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn cancelling_or_lapsing_lets_go_and_paying_keeps_the_hold_until_the_catalog_settles() {
        let db = db();
        product(&db, "MUG", 1250, 5);
        let first = checkout(&db, &cart(&[("MUG", 2)]), "u1", &TERMS, TAX, NOW).unwrap();
        let second = checkout(&db, &cart(&[("MUG", 1)]), "u1", &TERMS, TAX, NOW + 1).unwrap();
        let third = checkout(&db, &cart(&[("MUG", 1)]), "u2", &TERMS, TAX, NOW + 2).unwrap();
        assert_eq!(held(&db, "MUG"), (5, 4));
        assert_eq!(
            cancel(&db, &first.id, "u2", NOW),
            Err(ApiError::Unauthorized)
        );
        let cancelled = cancel(&db, &first.id, "u1", NOW + 5).unwrap();
        assert_eq!(
            (cancelled.status, cancelled.version),
            (OrderStatus::Cancelled, 1)
        );
        assert_eq!(cancel(&db, &first.id, "u1", NOW + 6).unwrap(), cancelled);
        assert_eq!(held(&db, "MUG"), (5, 2));

        let paid_purchase = paid(&db, &second.id, NOW + 10).unwrap();
        assert_eq!(paid_purchase.status, OrderStatus::Complete);
        assert_eq!(
            cancel(&db, &second.id, "u1", NOW),
            Err(ApiError::bad_request(CANNOT_CANCEL_COMPLETE))
        );
        assert_eq!(
            paid(&db, &second.id, NOW + 11).unwrap(),
            paid_purchase,
            "paid once"
        );
        assert_eq!(
            expire_lapsed(&db, NOW + WINDOW + 10).unwrap(),
            1,
            "only the third lapses"
        );
        assert_eq!(
            storage::find_purchase(&db, &third.id)
                .unwrap()
                .unwrap()
                .status,
            OrderStatus::Cancelled
        );
        assert_eq!(held(&db, "MUG"), (5, 1), "the paid unit stays held");
        let sold = ProductUpdated {
            sku: "MUG".into(),
            version: 1,
            name: "MUG name".into(),
            price: Price::from_cents(1250),
            stock: 4,
            user_id: "seller".into(),
            purchase_id: Some(second.id.clone()),
        };
        replica::product_updated(&db, &sold).unwrap();
        replica::product_updated(&db, &sold).unwrap();
        assert_eq!(
            held(&db, "MUG"),
            (4, 0),
            "stock and hold move together, once"
        );
        let kinds: Vec<String> = outbox(&db).into_iter().map(|(kind, _)| kind).collect();
        assert_eq!(
            kinds,
            [
                "purchase:created",
                "purchase:created",
                "purchase:created",
                "purchase:cancelled",
                "purchase:completed",
                "purchase:cancelled"
            ]
        );
        let completed = &outbox(&db)[4].1;
        assert_eq!(completed["city"], "nyc");
        assert_eq!(
            completed["lines"],
            serde_json::json!([{"sku": "MUG", "quantity": 1}])
        );
        assert_eq!(paid(&db, &"f".repeat(24), NOW).unwrap_err().status(), 400);
    }

    #[test]
    fn a_buyer_holds_at_most_the_cap_of_live_purchases() {
        let db = db();
        product(&db, "MUG", 1250, 10);
        let two = Terms {
            window_ms: WINDOW,
            max_live: 2,
        };
        let first = checkout(&db, &cart(&[("MUG", 1)]), "u1", &two, TAX, NOW).unwrap();
        checkout(&db, &cart(&[("MUG", 1)]), "u1", &two, TAX, NOW).unwrap();
        assert_eq!(
            checkout(&db, &cart(&[("MUG", 1)]), "u1", &two, TAX, NOW),
            Err(holds::over_cap(2))
        );
        assert!(checkout(&db, &cart(&[("MUG", 1)]), "u2", &two, TAX, NOW).is_ok());
        assert!(
            checkout(
                &db,
                &cart(&[("MUG", 1)]),
                "u1",
                &two,
                TAX,
                first.expires_at_ms
            )
            .is_ok(),
            "a lapsed hold frees a place"
        );
    }
}
