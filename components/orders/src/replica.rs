//! The orders service's replica of tickets, kept from `ticket:created` and
//! `ticket:updated` under the version rule: an update applies only on top of the
//! version before it; an early one waits (503) for the broker to bring it again.

use boxoffice_shared::consume::{check_version, not_yet, VersionCheck};
use boxoffice_shared::events::{TicketCreated, TicketUpdated};
use boxoffice_shared::sql::Db;
use boxoffice_shared::ApiError;

use crate::model::Ticket;
use crate::storage;

/// Adds a new ticket to the replica (again: nothing).
pub fn ticket_created(tx: &dyn Db, event: &TicketCreated) -> Result<(), ApiError> {
    let ticket = Ticket {
        id: event.id.clone(),
        title: event.title.clone(),
        price: event.price,
        version: event.version,
    };
    apply(tx, ticket)
}

/// Applies a ticket's next version to the replica.
pub fn ticket_updated(tx: &dyn Db, event: &TicketUpdated) -> Result<(), ApiError> {
    let ticket = Ticket {
        id: event.id.clone(),
        title: event.title.clone(),
        price: event.price,
        version: event.version,
    };
    apply(tx, ticket)
}

fn apply(tx: &dyn Db, ticket: Ticket) -> Result<(), ApiError> {
    let replica = storage::find_ticket(tx, &ticket.id)?.map(|t| t.version);
    match check_version(replica, ticket.version) {
        VersionCheck::AlreadyApplied => Ok(()),
        VersionCheck::NotYet => Err(not_yet(format!(
            "ticket {} version {} arrived before version {}",
            ticket.id,
            ticket.version,
            ticket.version - 1
        ))),
        VersionCheck::Apply if replica.is_none() => Ok(storage::insert_ticket(tx, &ticket)?),
        VersionCheck::Apply => {
            if storage::update_ticket(tx, &ticket)? {
                Ok(())
            } else {
                Err(not_yet(format!("ticket {} changed meanwhile", ticket.id)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_shared::money::Price;
    use boxoffice_shared::sql::native::NativeSqlite;
    use boxoffice_shared::testing::migrate;

    fn updated(version: i64, title: &str) -> TicketUpdated {
        TicketUpdated {
            id: "t1".into(),
            version,
            title: title.into(),
            price: Price::from_cents(100 * (version + 1)),
            user_id: "u1".into(),
            order_id: None,
        }
    }

    #[test]
    fn the_replica_follows_versions_in_order_only() {
        let db = NativeSqlite::open_in_memory().unwrap();
        migrate(&db, &storage::migrations()).unwrap();
        assert_eq!(
            ticket_updated(&db, &updated(1, "b")).unwrap_err().status(),
            503
        );
        let created = TicketCreated {
            id: "t1".into(),
            version: 0,
            title: "a".into(),
            price: Price::from_cents(100),
            user_id: "u1".into(),
        };
        ticket_created(&db, &created).unwrap();
        ticket_created(&db, &created).unwrap();
        assert_eq!(
            ticket_updated(&db, &updated(2, "c")).unwrap_err().status(),
            503
        );
        ticket_updated(&db, &updated(1, "b")).unwrap();
        ticket_updated(&db, &updated(2, "c")).unwrap();
        ticket_updated(&db, &updated(1, "b")).unwrap();
        let replica = storage::find_ticket(&db, "t1").unwrap().unwrap();
        assert_eq!((replica.title.as_str(), replica.version), ("c", 2));
        assert_eq!(replica.price.cents(), 300);
    }
}
