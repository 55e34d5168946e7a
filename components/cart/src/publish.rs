//! The events the cart service publishes (`purchase:created`, `purchase:cancelled`,
//! `purchase:completed`), written to its outbox in the same transaction as the change
//! they announce.

use boxoffice_shared::events::{
    Event, PurchaseCancelled, PurchaseCompleted, PurchaseCreated, PurchaseLine,
};
use boxoffice_shared::sql::{Db, SqlError};
use boxoffice_shared::{outbox, time};

use crate::model::Purchase;
use crate::SERVICE;

fn lines(purchase: &Purchase) -> Vec<PurchaseLine> {
    purchase
        .lines
        .iter()
        .map(|line| PurchaseLine {
            sku: line.sku.clone(),
            quantity: line.quantity,
        })
        .collect()
}

/// `purchase:created` for a new purchase.
pub fn purchase_created(purchase: &Purchase) -> Event {
    Event::PurchaseCreated(PurchaseCreated {
        id: purchase.id.clone(),
        version: purchase.version,
        status: purchase.status,
        user_id: purchase.user_id.clone(),
        expires_at: time::rfc3339(purchase.expires_at_ms),
        total: purchase.total,
        lines: lines(purchase),
    })
}

/// `purchase:cancelled` for a purchase just cancelled (its new version).
pub fn purchase_cancelled(purchase: &Purchase) -> Event {
    Event::PurchaseCancelled(PurchaseCancelled {
        id: purchase.id.clone(),
        version: purchase.version,
    })
}

/// `purchase:completed` for a purchase just paid (its new version).
pub fn purchase_completed(purchase: &Purchase) -> Event {
    Event::PurchaseCompleted(PurchaseCompleted {
        id: purchase.id.clone(),
        version: purchase.version,
        user_id: purchase.user_id.clone(),
        city: purchase.shipping.city.clone(),
        lines: lines(purchase),
    })
}

/// Queues `event` in the cart outbox, inside the caller's transaction `tx`.
pub fn publish(tx: &dyn Db, event: &Event, now_ms: i64) -> Result<(), SqlError> {
    outbox::enqueue(tx, SERVICE, event, now_ms).map(drop)
}
