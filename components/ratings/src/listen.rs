//! The one event the ratings service consumes (events.toml): `purchase:completed`, whose
//! buyer may then rate each product bought.

use boxoffice_shared::consume;
use boxoffice_shared::events::{Event, Inbound, PurchaseCompleted};
use boxoffice_shared::sql::Db;
use boxoffice_shared::{validate, ApiError};

use crate::{ratings, SERVICE};

/// Applies a delivery from the broker, once.
pub fn receive(db: &dyn Db, delivery: &Inbound, now_ms: i64) -> Result<(), ApiError> {
    let apply = |tx: &dyn Db, event: &Event| match event {
        Event::PurchaseCompleted(purchase) => purchase_completed(tx, purchase),
        other => Err(consume::not_consumed(SERVICE, other)),
    };
    consume::receive(db, SERVICE, delivery, now_ms, || Ok(()), apply)
}

/// The buyer of `purchase` may rate what they bought. A line whose product code is
/// malformed could never be rated: it is logged and left out, so that the other lines of
/// the purchase still count.
fn purchase_completed(tx: &dyn Db, purchase: &PurchaseCompleted) -> Result<(), ApiError> {
    let mut skus = Vec::with_capacity(purchase.lines.len());
    for line in &purchase.lines {
        match validate::sku_text(&line.sku) {
            Some(sku) => skus.push(sku),
            None => eprintln!(
                "{SERVICE}: purchase {} has a line of {:?}, not a product code; left out",
                purchase.id, line.sku
            ),
        }
    }
    ratings::learn_buyer(tx, &purchase.user_id, skus.iter().map(String::as_str))
}
