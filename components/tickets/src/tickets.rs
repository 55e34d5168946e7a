//! The rules of tickets: who may create and edit them, what a change does to the
//! version, and which event announces it.

use boxoffice_shared::consume::{never, not_yet};
use boxoffice_shared::money::Price;
use boxoffice_shared::sql::{transaction, Db, SqlError};
use boxoffice_shared::{ids, ApiError};

use crate::model::Ticket;
use crate::{publish, storage};

/// How often an edit is retried when another writer changed the ticket in between
/// (possible on Postgres, whose transactions do not lock up front).
const EDIT_ATTEMPTS: usize = 3;

/// Creates a ticket (version 0) for `user_id` and queues `ticket:created`, together.
pub fn create(
    db: &dyn Db,
    user_id: &str,
    title: String,
    price: Price,
    now_ms: i64,
) -> Result<Ticket, ApiError> {
    let ticket = Ticket {
        id: ids::new_id(),
        title,
        price,
        user_id: user_id.to_owned(),
        version: 0,
        order_id: None,
    };
    transaction(db, |tx| {
        storage::insert(tx, &ticket, now_ms)?;
        publish::publish(tx, &publish::ticket_created(&ticket), now_ms)
    })?;
    Ok(ticket)
}

/// How many tickets a page of the listing holds when the client does not say: enough
/// for a client of the reference API, which does not page, to see a shop's whole listing
/// while it is small.
pub const DEFAULT_PAGE: i64 = 100;
/// The most tickets one page holds.
pub const MAX_PAGE: i64 = 200;

/// A page of the tickets on sale (those no order holds), oldest first: `limit` of them
/// from `offset`.
pub fn list_for_sale(db: &dyn Db, limit: i64, offset: i64) -> Result<Vec<Ticket>, ApiError> {
    Ok(storage::list_unreserved(db, limit, offset)?)
}

/// How many tickets are on sale.
pub fn count_for_sale(db: &dyn Db) -> Result<i64, ApiError> {
    Ok(storage::count_unreserved(db)?)
}

/// The most tickets one request may ask for by id.
pub const MAX_IDS: usize = 100;

/// The tickets of the comma-separated ids in `list` (reserved or not), in the order asked, each
/// once; unknown ones are left out. 400 on `ids` when one is not an id or there are more
/// than [`MAX_IDS`]. This is how a client with many ids asks once, not once per id.
pub fn by_ids(db: &dyn Db, list: &str) -> Result<Vec<Ticket>, ApiError> {
    let mut asked: Vec<String> = Vec::new();
    for id in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !ids::is_well_formed(id) || asked.len() == MAX_IDS {
            return Err(ApiError::Validation(vec![
                boxoffice_shared::FieldError::new(
                    "ids",
                    format!("Ids must be at most {MAX_IDS} ticket ids, separated by commas"),
                ),
            ]));
        }
        if !asked.iter().any(|a| a == id) {
            asked.push(id.to_owned());
        }
    }
    let mut found = storage::find_many(db, &asked)?;
    found.sort_by_key(|t| asked.iter().position(|a| *a == t.id));
    Ok(found)
}

/// The ticket `id`; 404 when unknown or not an id at all.
pub fn show(db: &dyn Db, id: &str) -> Result<Ticket, ApiError> {
    if !ids::is_well_formed(id) {
        return Err(ApiError::NotFound);
    }
    storage::find(db, id)?.ok_or(ApiError::NotFound)
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

/// Edits the title and price of ticket `id` for `user_id`: 404 unknown, 400 "Cannot edit
/// a reserved ticket", 401 not the owner (in that order); the version goes up by 1 and
/// `ticket:updated` is queued in the same transaction.
pub fn edit(
    db: &dyn Db,
    id: &str,
    user_id: &str,
    title: &str,
    price: Price,
    now_ms: i64,
) -> Result<Ticket, ApiError> {
    if !ids::is_well_formed(id) {
        return Err(ApiError::NotFound);
    }
    for _ in 0..EDIT_ATTEMPTS {
        let attempt = transaction(db, |tx| {
            let current = storage::find(tx, id)?.ok_or(EditFailure::Refused(ApiError::NotFound))?;
            if current.order_id.is_some() {
                return Err(EditFailure::Refused(ApiError::bad_request(
                    "Cannot edit a reserved ticket",
                )));
            }
            if current.user_id != user_id {
                return Err(EditFailure::Refused(ApiError::Unauthorized));
            }
            let edited = Ticket {
                title: title.to_owned(),
                price,
                version: current.version + 1,
                ..current
            };
            if !storage::save_next_version(tx, &edited, now_ms)? {
                return Err(EditFailure::Raced);
            }
            publish::publish(tx, &publish::ticket_updated(&edited), now_ms)?;
            Ok(edited)
        });
        match attempt {
            Ok(ticket) => return Ok(ticket),
            Err(EditFailure::Refused(e)) => return Err(e),
            Err(EditFailure::Raced) => continue,
        }
    }
    Err(ApiError::BackendDown(format!(
        "ticket {id} kept changing during {EDIT_ATTEMPTS} edit attempts"
    )))
}

/// Reserves ticket `ticket_id` for order `order_id` (`order:created`), inside the
/// event's transaction `tx`: the ticket gets the order id and version + 1, and
/// `ticket:updated` with `orderId` is queued. Applying it twice changes nothing. A ticket
/// still held by another order is "not yet" (that order's cancellation comes first);
/// an unknown ticket is "never".
pub fn reserve(tx: &dyn Db, ticket_id: &str, order_id: &str, now_ms: i64) -> Result<(), ApiError> {
    if storage::find_reservation(tx, order_id)?.is_some() {
        return Ok(());
    }
    let current = storage::find(tx, ticket_id)?.ok_or_else(|| {
        never(format!(
            "order {order_id} reserves unknown ticket {ticket_id}"
        ))
    })?;
    if let Some(holder) = current.order_id.as_deref().filter(|h| *h != order_id) {
        return Err(not_yet(format!(
            "ticket {ticket_id} is still held by order {holder}, not yet by {order_id}"
        )));
    }
    let reserved = Ticket {
        order_id: Some(order_id.to_owned()),
        version: current.version + 1,
        ..current
    };
    save_and_announce(tx, &reserved, now_ms)?;
    storage::insert_reservation(tx, order_id, ticket_id, now_ms)?;
    Ok(())
}

/// Releases ticket `ticket_id` from order `order_id` (`order:cancelled`), inside the
/// event's transaction `tx`: if the order holds it, the order id is cleared, version + 1,
/// and `ticket:updated` without `orderId` is queued. A cancellation whose reservation was
/// not applied yet is "not yet"; applying it twice changes nothing.
pub fn release(tx: &dyn Db, ticket_id: &str, order_id: &str, now_ms: i64) -> Result<(), ApiError> {
    let reservation = storage::find_reservation(tx, order_id)?.ok_or_else(|| {
        not_yet(format!(
            "order {order_id} is cancelled but its reservation of {ticket_id} is not applied yet"
        ))
    })?;
    if reservation.released {
        return Ok(());
    }
    let held = storage::find(tx, &reservation.ticket_id)?
        .filter(|ticket| ticket.order_id.as_deref() == Some(order_id));
    if let Some(current) = held {
        let released = Ticket {
            order_id: None,
            version: current.version + 1,
            ..current
        };
        save_and_announce(tx, &released, now_ms)?;
    }
    storage::mark_released(tx, order_id, now_ms)?;
    Ok(())
}

/// Stores the next version of a ticket and queues its `ticket:updated`; a concurrent
/// change (possible on Postgres) is "not yet", so the event comes again.
fn save_and_announce(tx: &dyn Db, ticket: &Ticket, now_ms: i64) -> Result<(), ApiError> {
    if !storage::save_next_version(tx, ticket, now_ms)? {
        return Err(not_yet(format!(
            "ticket {} changed while applying an event",
            ticket.id
        )));
    }
    publish::publish(tx, &publish::ticket_updated(ticket), now_ms)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_shared::sql::native::NativeSqlite;
    use boxoffice_shared::testing::migrate;

    fn db() -> NativeSqlite {
        let db = NativeSqlite::open_in_memory().unwrap();
        migrate(&db, &storage::migrations()).unwrap();
        db
    }

    fn outbox(db: &dyn Db) -> Vec<(String, i64, String)> {
        db.query(
            "SELECT event_type, entity_version, data FROM tickets_outbox ORDER BY created_at, seq",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.text("event_type").unwrap(),
                r.int("entity_version").unwrap(),
                r.text("data").unwrap(),
            )
        })
        .collect()
    }

    fn hold(db: &dyn Db, id: &str) {
        db.execute(
            "UPDATE tickets_tickets SET order_id = $1 WHERE id = $2",
            &["o".repeat(24).into(), id.into()],
        )
        .unwrap();
    }

    #[test]
    fn a_new_ticket_is_version_0_and_announced() {
        let db = db();
        let ticket = create(&db, "u1", "concert".into(), Price::from_cents(2000), 1).unwrap();
        assert_eq!(ticket.version, 0);
        assert_eq!(show(&db, &ticket.id).unwrap(), ticket);
        let events = outbox(&db);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].0, "ticket:created");
        assert_eq!(events[0].1, 0);
        let data: serde_json::Value = serde_json::from_str(&events[0].2).unwrap();
        assert_eq!(
            data,
            serde_json::json!({"id": ticket.id, "version": 0, "title": "concert",
                               "price": 20, "userId": "u1"})
        );
    }

    #[test]
    fn edits_bump_the_version_and_are_announced() {
        let db = db();
        let ticket = create(&db, "u1", "concert".into(), Price::from_cents(2000), 1).unwrap();
        let edited = edit(&db, &ticket.id, "u1", "opera", Price::from_cents(1250), 2).unwrap();
        assert_eq!((edited.version, edited.title.as_str()), (1, "opera"));
        assert_eq!(show(&db, &ticket.id).unwrap(), edited);
        let events = outbox(&db);
        assert_eq!(events[1].0, "ticket:updated");
        assert_eq!(events[1].1, 1);
    }

    #[test]
    fn edits_check_existence_then_reservation_then_ownership() {
        let db = db();
        let missing = "f".repeat(24);
        let price = Price::from_cents(100);
        assert_eq!(
            edit(&db, &missing, "u1", "x", price, 2),
            Err(ApiError::NotFound)
        );
        assert_eq!(
            edit(&db, "bad id", "u1", "x", price, 2),
            Err(ApiError::NotFound)
        );
        let ticket = create(&db, "u1", "concert".into(), price, 1).unwrap();
        assert_eq!(
            edit(&db, &ticket.id, "u2", "x", price, 2),
            Err(ApiError::Unauthorized)
        );
        hold(&db, &ticket.id);
        assert_eq!(
            edit(&db, &ticket.id, "u2", "x", price, 2),
            Err(ApiError::bad_request("Cannot edit a reserved ticket"))
        );
        assert_eq!(outbox(&db).len(), 1, "refused edits publish nothing");
    }

    #[test]
    fn only_unreserved_tickets_are_for_sale() {
        let db = db();
        let price = Price::from_cents(100);
        let a = create(&db, "u1", "a".into(), price, 1).unwrap();
        let b = create(&db, "u1", "b".into(), price, 2).unwrap();
        hold(&db, &a.id);
        let ids: Vec<String> = list_for_sale(&db, DEFAULT_PAGE, 0)
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(ids, [b.id]);
        assert_eq!(show(&db, &a.id).unwrap().order_id, Some("o".repeat(24)));
    }

    fn order_events(db: &dyn Db) -> Vec<serde_json::Value> {
        outbox(db)
            .into_iter()
            .filter(|(kind, _, _)| kind == "ticket:updated")
            .map(|(_, _, data)| serde_json::from_str(&data).unwrap())
            .collect()
    }

    #[test]
    fn reserving_bumps_the_version_and_announces_the_order_once() {
        let db = db();
        let ticket = create(&db, "u1", "concert".into(), Price::from_cents(2000), 1).unwrap();
        reserve(&db, &ticket.id, "o1", 2).unwrap();
        reserve(&db, &ticket.id, "o1", 3).unwrap();
        let reserved = show(&db, &ticket.id).unwrap();
        assert_eq!(reserved.order_id.as_deref(), Some("o1"));
        assert_eq!(reserved.version, 1);
        let updates = order_events(&db);
        assert_eq!(updates.len(), 1);
        assert_eq!(updates[0]["orderId"], "o1");
        assert_eq!(updates[0]["version"], 1);
        assert!(list_for_sale(&db, DEFAULT_PAGE, 0).unwrap().is_empty());
    }

    #[test]
    fn releasing_waits_for_the_reservation_and_happens_once() {
        let db = db();
        let ticket = create(&db, "u1", "concert".into(), Price::from_cents(2000), 1).unwrap();
        assert_eq!(release(&db, &ticket.id, "o1", 2).unwrap_err().status(), 503);
        reserve(&db, &ticket.id, "o1", 3).unwrap();
        release(&db, &ticket.id, "o1", 4).unwrap();
        release(&db, &ticket.id, "o1", 5).unwrap();
        let released = show(&db, &ticket.id).unwrap();
        assert_eq!((released.order_id, released.version), (None, 2));
        let updates = order_events(&db);
        assert_eq!(updates.len(), 2);
        assert!(updates[1].get("orderId").is_none());
        assert_eq!(updates[1]["version"], 2);
        // A late redelivery of the creation does not reserve a released ticket again.
        reserve(&db, &ticket.id, "o1", 6).unwrap();
        assert_eq!(show(&db, &ticket.id).unwrap().order_id, None);
    }

    #[test]
    fn a_ticket_held_by_another_order_waits_for_its_release() {
        let db = db();
        let ticket = create(&db, "u1", "concert".into(), Price::from_cents(2000), 1).unwrap();
        reserve(&db, &ticket.id, "o1", 2).unwrap();
        assert_eq!(reserve(&db, &ticket.id, "o2", 3).unwrap_err().status(), 503);
        release(&db, &ticket.id, "o1", 4).unwrap();
        reserve(&db, &ticket.id, "o2", 5).unwrap();
        let ticket = show(&db, &ticket.id).unwrap();
        assert_eq!(
            (ticket.order_id.as_deref(), ticket.version),
            (Some("o2"), 3)
        );
        assert_eq!(
            reserve(&db, &"f".repeat(24), "o3", 6).unwrap_err().status(),
            400,
            "an unknown ticket can never be reserved"
        );
    }

    #[test]
    fn tickets_are_found_by_ids_in_the_order_asked_reserved_or_not() {
        let db = NativeSqlite::open_in_memory().unwrap();
        migrate(&db, &storage::migrations()).unwrap();
        let a = create(&db, "u1", "a".into(), Price::from_cents(100), 1).unwrap();
        let b = create(&db, "u1", "b".into(), Price::from_cents(200), 2).unwrap();
        let unknown = "f".repeat(24);
        let list = format!("{}, {unknown},{},{}", b.id, a.id, b.id);
        let found: Vec<String> = by_ids(&db, &list)
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(found, [b.id.clone(), a.id.clone()]);
        assert!(by_ids(&db, "").unwrap().is_empty());
        assert_eq!(
            by_ids(&db, "nope").unwrap_err().errors()[0]
                .field
                .as_deref(),
            Some("ids")
        );
        let too_many = vec![unknown; MAX_IDS + 1].join(",");
        assert!(
            by_ids(&db, &too_many).is_ok(),
            "the same id twice counts once"
        );
        let many: Vec<String> = (0..=MAX_IDS).map(|n| format!("{n:024x}")).collect();
        assert_eq!(by_ids(&db, &many.join(",")).unwrap_err().status(), 400);
    }
}
