//! The payments service's replica of orders, kept from `order:created`,
//! `order:cancelled` and `order:completed`, and of the cart's purchases, kept the same way
//! from `purchase:created`, `purchase:cancelled` and `purchase:completed`, under the version rule: an update applies
//! only on top of the version before it; an early one waits (503) for redelivery.

use boxoffice_shared::consume::{check_version, never, not_yet, VersionCheck};
use boxoffice_shared::events::{OrderCreated, OrderStatus, PurchaseCreated};
use boxoffice_shared::sql::Db;
use boxoffice_shared::{time, ApiError};

use crate::model::Order;
use crate::storage;

/// Adds a new order to the replica (again: nothing).
pub fn order_created(tx: &dyn Db, event: &OrderCreated) -> Result<(), ApiError> {
    let created = Created {
        id: &event.id,
        version: event.version,
        status: event.status,
        user_id: &event.user_id,
        expires_at: &event.expires_at,
        price_cents: event.ticket.price.cents(),
        purchase: false,
    };
    insert(tx, created)
}

/// Adds a new purchase of goods to the replica (again: nothing): it is paid like an
/// order, its total as the price.
pub fn purchase_created(tx: &dyn Db, event: &PurchaseCreated) -> Result<(), ApiError> {
    let created = Created {
        id: &event.id,
        version: event.version,
        status: event.status,
        user_id: &event.user_id,
        expires_at: &event.expires_at,
        price_cents: event.total.cents(),
        purchase: true,
    };
    insert(tx, created)
}

/// What `order:created` and `purchase:created` both say.
struct Created<'a> {
    id: &'a str,
    version: i64,
    status: OrderStatus,
    user_id: &'a str,
    expires_at: &'a str,
    price_cents: i64,
    purchase: bool,
}

fn insert(tx: &dyn Db, event: Created<'_>) -> Result<(), ApiError> {
    let expires_at_ms = time::parse_rfc3339(event.expires_at).ok_or_else(|| {
        never(format!(
            "order {} expires at {:?}, not an RFC 3339 time",
            event.id, event.expires_at
        ))
    })?;
    let replica = storage::find_order(tx, event.id)?.map(|o| o.version);
    match check_version(replica, event.version) {
        VersionCheck::AlreadyApplied => Ok(()),
        VersionCheck::NotYet => Err(never(format!(
            "order {} created at version {}",
            event.id, event.version
        ))),
        VersionCheck::Apply => Ok(storage::insert_order(
            tx,
            &Order {
                id: event.id.to_owned(),
                user_id: event.user_id.to_owned(),
                status: event.status,
                price_cents: event.price_cents,
                expires_at_ms,
                version: event.version,
                purchase: event.purchase,
            },
        )?),
    }
}

/// Moves a replicated order to `status` at `version` (`order:cancelled`,
/// `order:completed`).
pub fn order_changed(
    tx: &dyn Db,
    id: &str,
    status: OrderStatus,
    version: i64,
) -> Result<(), ApiError> {
    let replica = storage::find_order(tx, id)?.map(|o| o.version);
    match check_version(replica, version) {
        VersionCheck::AlreadyApplied => Ok(()),
        VersionCheck::NotYet => Err(not_yet(format!(
            "order {id} version {version} arrived before version {}",
            version - 1
        ))),
        VersionCheck::Apply => {
            if storage::update_order(tx, id, status, version)? {
                Ok(())
            } else {
                Err(not_yet(format!("order {id} changed meanwhile")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_shared::sql::native::NativeSqlite;
    use boxoffice_shared::testing::migrate;

    #[test]
    fn the_replica_follows_versions_in_order_only() {
        let db = NativeSqlite::open_in_memory().unwrap();
        migrate(&db, &storage::migrations()).unwrap();
        let cancelled = |version| order_changed(&db, "o1", OrderStatus::Cancelled, version);
        assert_eq!(cancelled(1).unwrap_err().status(), 503);
        let created = boxoffice_shared::testing::order_created("o1", "t1", 1250);
        order_created(&db, &created).unwrap();
        order_created(&db, &created).unwrap();
        let order = storage::find_order(&db, "o1").unwrap().unwrap();
        assert_eq!(order.price_cents, 1250);
        assert_eq!(order.expires_at_ms, 1_714_565_700_000);
        assert_eq!(cancelled(2).unwrap_err().status(), 503);
        cancelled(1).unwrap();
        cancelled(1).unwrap();
        order_changed(&db, "o1", OrderStatus::Complete, 1).unwrap();
        let order = storage::find_order(&db, "o1").unwrap().unwrap();
        assert_eq!((order.status, order.version), (OrderStatus::Cancelled, 1));
    }
}
