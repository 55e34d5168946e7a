//! The events the catalog publishes (`product:created`, `product:updated`), written to its
//! outbox in the same transaction as the change they announce.

use boxoffice_shared::events::{Event, ProductCreated, ProductUpdated};
use boxoffice_shared::outbox;
use boxoffice_shared::sql::{Db, SqlError};

use crate::model::Product;
use crate::SERVICE;

/// `product:created` for a new product.
pub fn product_created(product: &Product) -> Event {
    Event::ProductCreated(ProductCreated {
        sku: product.sku.clone(),
        version: product.version,
        name: product.name.clone(),
        price: product.price,
        stock: product.stock,
        user_id: product.user_id.clone(),
    })
}

/// `product:updated` for a changed product (its new version); `purchase_id` names the
/// completed purchase whose units the change took out of stock, if that is what it was.
pub fn product_updated(product: &Product, purchase_id: Option<String>) -> Event {
    Event::ProductUpdated(ProductUpdated {
        sku: product.sku.clone(),
        version: product.version,
        name: product.name.clone(),
        price: product.price,
        stock: product.stock,
        user_id: product.user_id.clone(),
        purchase_id,
    })
}

/// Queues `event` in the catalog's outbox, inside the caller's transaction `tx`.
pub fn publish(tx: &dyn Db, event: &Event, now_ms: i64) -> Result<(), SqlError> {
    outbox::enqueue(tx, SERVICE, event, now_ms).map(drop)
}
