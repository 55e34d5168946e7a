//! The cart service's replica of the catalog's products, kept from `product:created` and
//! `product:updated` under the version rule (an update applies only on top of the version
//! before it; an early one waits, 503, for the broker to bring it again). When an update
//! is the catalog taking a completed purchase's units out of stock, the same transaction
//! lets go of that purchase's hold on them: stock and holds move together.

use boxoffice_shared::consume::{check_version, not_yet, VersionCheck};
use boxoffice_shared::events::{ProductCreated, ProductUpdated};
use boxoffice_shared::sql::Db;
use boxoffice_shared::ApiError;

use crate::model::Product;
use crate::storage;

/// Adds a new product to the replica (again: nothing).
pub fn product_created(tx: &dyn Db, event: &ProductCreated) -> Result<(), ApiError> {
    let product = Product {
        sku: event.sku.clone(),
        name: event.name.clone(),
        price: event.price,
        stock: event.stock,
        held: 0,
        version: event.version,
    };
    apply(tx, product).map(drop)
}

/// Applies a product's next version to the replica, and settles the purchase it names.
pub fn product_updated(tx: &dyn Db, event: &ProductUpdated) -> Result<(), ApiError> {
    let product = Product {
        sku: event.sku.clone(),
        name: event.name.clone(),
        price: event.price,
        stock: event.stock,
        held: 0,
        version: event.version,
    };
    let applied = apply(tx, product)?;
    if let (Some(purchase_id), Applied::Now) = (&event.purchase_id, applied) {
        if let Some(quantity) = storage::settle_line(tx, purchase_id, &event.sku)? {
            storage::release(tx, &event.sku, quantity)?;
        }
    }
    Ok(())
}

#[derive(PartialEq)]
enum Applied {
    Now,
    Before,
}

fn apply(tx: &dyn Db, product: Product) -> Result<Applied, ApiError> {
    let replica = storage::find_product(tx, &product.sku)?.map(|p| p.version);
    match check_version(replica, product.version) {
        VersionCheck::AlreadyApplied => Ok(Applied::Before),
        VersionCheck::NotYet => Err(not_yet(format!(
            "product {} version {} arrived before version {}",
            product.sku,
            product.version,
            product.version - 1
        ))),
        VersionCheck::Apply if replica.is_none() => {
            storage::insert_product(tx, &product)?;
            Ok(Applied::Now)
        }
        VersionCheck::Apply => {
            if storage::update_product(tx, &product)? {
                Ok(Applied::Now)
            } else {
                Err(not_yet(format!(
                    "product {} changed meanwhile",
                    product.sku
                )))
            }
        }
    }
}
