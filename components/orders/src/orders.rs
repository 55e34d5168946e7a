//! The rules of orders: reserving a ticket (exactly one live order per ticket, enforced
//! by the database), who may see and cancel an order, and how cancellation, expiry and
//! payment move its status. Every change bumps the version by 1 and queues its event in
//! the same transaction.

use boxoffice_shared::consume::{never, not_yet};
pub use boxoffice_shared::events::Cause;
use boxoffice_shared::events::OrderStatus;
use boxoffice_shared::holds::{self, Terms};
use boxoffice_shared::sql::{transaction, Db, SqlError};
use boxoffice_shared::{ids, ApiError};

use crate::model::Order;
use crate::{publish, storage, SERVICE};

/// The message when a live order holds the ticket already.
pub const ALREADY_RESERVED: &str = "Ticket is already reserved";
/// The message when a paid order is cancelled (bug 2 of the old app).
pub const CANNOT_CANCEL_COMPLETE: &str = "Cannot cancel a completed order";

/// Reserves ticket `ticket_id` for `user_id` for the window of `terms`: 404 when the
/// ticket is unknown, 400 [`ALREADY_RESERVED`] when a live order holds it (the claim's
/// primary key decides, so exactly one of concurrent orders wins), 400
/// [`holds::over_cap`] when the buyer holds as many live orders as `terms` allow. The order
/// and its `order:created` commit together.
pub fn create(
    db: &dyn Db,
    user_id: &str,
    ticket_id: &str,
    terms: &Terms,
    now_ms: i64,
) -> Result<Order, ApiError> {
    let ticket = storage::find_ticket(db, ticket_id)?.ok_or(ApiError::NotFound)?;
    let order = Order {
        id: ids::new_id(),
        user_id: user_id.to_owned(),
        status: OrderStatus::Created,
        expires_at_ms: now_ms + terms.window_ms,
        updated_at_ms: now_ms,
        version: 0,
        ticket,
    };
    transaction(db, |tx| {
        holds::admit(
            tx,
            SERVICE,
            "orders_orders",
            user_id,
            terms.max_live,
            now_ms,
        )?;
        storage::claim_ticket(tx, &order.ticket.id, &order.id).map_err(|e| match e {
            SqlError::UniqueViolation(_) => ApiError::bad_request(ALREADY_RESERVED),
            other => other.into(),
        })?;
        storage::insert_order(tx, &order)?;
        publish::publish(tx, &publish::order_created(&order), now_ms)?;
        Ok(order.clone())
    })
}

/// The orders of `user_id`, oldest first.
pub fn list(db: &dyn Db, user_id: &str) -> Result<Vec<Order>, ApiError> {
    Ok(storage::list_orders(db, user_id)?)
}

/// The order `id` for `user_id`: 404 unknown (or not an id), 401 someone else's.
pub fn show(db: &dyn Db, id: &str, user_id: &str) -> Result<Order, ApiError> {
    let order = find(db, id)?;
    if order.user_id != user_id {
        return Err(ApiError::Unauthorized);
    }
    Ok(order)
}

fn find(db: &dyn Db, id: &str) -> Result<Order, ApiError> {
    if !ids::is_well_formed(id) {
        return Err(ApiError::NotFound);
    }
    storage::find_order(db, id)?.ok_or(ApiError::NotFound)
}

/// The status an order in `current` moves to for `cause` ([`OrderStatus::after`]); `None`
/// when it stays as it is. Only a buyer's cancellation of a complete order is refused.
pub fn next_status(current: OrderStatus, cause: Cause) -> Result<Option<OrderStatus>, ApiError> {
    current
        .after(cause)
        .map_err(|_| ApiError::bad_request(CANNOT_CANCEL_COMPLETE))
}

/// Moves `order` for `cause` inside the transaction `tx`: the new status and version + 1
/// are stored, a cancellation gives the ticket back, and `order:cancelled` or
/// `order:completed` is queued. Returns the order as it now is.
fn change(tx: &dyn Db, order: Order, cause: Cause, now_ms: i64) -> Result<Order, ApiError> {
    let Some(status) = next_status(order.status, cause)? else {
        return Ok(order);
    };
    let changed = Order {
        status,
        version: order.version + 1,
        updated_at_ms: now_ms,
        ..order
    };
    if !storage::save_order_next_version(tx, &changed)? {
        return Err(not_yet(format!(
            "order {} changed while being {cause:?}",
            changed.id
        )));
    }
    let event = match status {
        OrderStatus::Cancelled => {
            storage::free_ticket(tx, &changed.ticket.id, &changed.id)?;
            publish::order_cancelled(&changed)
        }
        _ => publish::order_completed(&changed),
    };
    publish::publish(tx, &event, now_ms)?;
    Ok(changed)
}

/// Cancels order `id` for its buyer `user_id`: 404 unknown, 401 someone else's, 400
/// [`CANNOT_CANCEL_COMPLETE`]; an order cancelled already stays as it is, with no event.
pub fn cancel(db: &dyn Db, id: &str, user_id: &str, now_ms: i64) -> Result<Order, ApiError> {
    if !ids::is_well_formed(id) {
        return Err(ApiError::NotFound);
    }
    transaction(db, |tx| {
        let order = show(tx, id, user_id)?;
        change(tx, order, Cause::Cancellation, now_ms)
    })
}

/// Applies `cause` (expiry or payment) to order `order_id` inside the event's
/// transaction `tx`. An unknown order can never be applied.
pub fn apply_event(
    tx: &dyn Db,
    order_id: &str,
    cause: Cause,
    now_ms: i64,
) -> Result<Order, ApiError> {
    let order = storage::find_order(tx, order_id)?
        .ok_or_else(|| never(format!("{cause:?} of unknown order {order_id}")))?;
    change(tx, order, cause, now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Ticket;
    use boxoffice_shared::money::Price;
    use boxoffice_shared::sql::native::NativeSqlite;
    use boxoffice_shared::testing::migrate;
    use boxoffice_shared::testing::NOW;
    const WINDOW: i64 = 900_000;
    const TERMS: Terms = Terms {
        window_ms: WINDOW,
        max_live: 3,
    };

    fn db() -> NativeSqlite {
        let db = NativeSqlite::open_in_memory().unwrap();
        migrate(&db, &storage::migrations()).unwrap();
        db
    }

    fn ticket(db: &dyn Db) -> String {
        let id = ids::new_id();
        storage::insert_ticket(
            db,
            &Ticket {
                id: id.clone(),
                title: "concert".into(),
                price: Price::from_cents(2000),
                version: 0,
            },
        )
        .unwrap();
        id
    }

    fn outbox(db: &dyn Db) -> Vec<(String, serde_json::Value)> {
        boxoffice_shared::testing::outbox_events(db, crate::SERVICE)
    }

    #[test]
    fn an_order_reserves_a_known_ticket_and_is_announced() {
        let db = db();
        let ticket_id = ticket(&db);
        let order = create(&db, "u1", &ticket_id, &TERMS, NOW).unwrap();
        assert_eq!(order.status, OrderStatus::Created);
        assert_eq!(order.version, 0);
        let json = serde_json::to_value(&order).unwrap();
        assert_eq!(json["expiresAt"], "2024-05-01T12:15:00.000Z");
        assert_eq!(
            json["ticket"],
            serde_json::json!({"id": ticket_id, "title": "concert", "price": 20, "version": 0})
        );
        assert_eq!(
            outbox(&db),
            [(
                "order:created".to_owned(),
                serde_json::json!({"id": order.id, "version": 0, "status": "created",
                    "userId": "u1", "expiresAt": "2024-05-01T12:15:00.000Z",
                    "ticket": {"id": ticket_id, "price": 20}})
            )]
        );
        assert_eq!(
            create(&db, "u1", &"f".repeat(24), &TERMS, NOW),
            Err(ApiError::NotFound)
        );
    }

    #[test]
    fn a_ticket_has_at_most_one_live_order() {
        let db = db();
        let ticket_id = ticket(&db);
        let first = create(&db, "u1", &ticket_id, &TERMS, NOW).unwrap();
        let refused = ApiError::bad_request(ALREADY_RESERVED);
        assert_eq!(
            create(&db, "u2", &ticket_id, &TERMS, NOW),
            Err(refused.clone())
        );
        assert_eq!(outbox(&db).len(), 1, "a refused order publishes nothing");
        cancel(&db, &first.id, "u1", NOW).unwrap();
        let second = create(&db, "u2", &ticket_id, &TERMS, NOW).unwrap();
        apply_event(&db, &second.id, Cause::Payment, NOW).unwrap();
        assert_eq!(
            create(&db, "u3", &ticket_id, &TERMS, NOW),
            Err(refused),
            "a complete order keeps its ticket"
        );
    }

    #[test]
    fn concurrent_orders_for_one_ticket_have_one_winner() {
        let dir = std::env::temp_dir().join(format!("orders-race-{}", ids::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("race.db");
        let setup = NativeSqlite::open(&path).unwrap();
        migrate(&setup, &storage::migrations()).unwrap();
        let ticket_id = ticket(&setup);
        let results: Vec<Result<Order, ApiError>> = std::thread::scope(|scope| {
            let racers: Vec<_> = (0..8)
                .map(|i| {
                    let (path, ticket_id) = (&path, &ticket_id);
                    scope.spawn(move || {
                        let db = NativeSqlite::open(path).unwrap();
                        create(&db, &format!("u{i}"), ticket_id, &TERMS, NOW)
                    })
                })
                .collect();
            racers.into_iter().map(|r| r.join().unwrap()).collect()
        });
        let winners = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(winners, 1, "{results:?}");
        for result in results.iter().filter(|r| r.is_err()) {
            assert_eq!(result, &Err(ApiError::bad_request(ALREADY_RESERVED)));
        }
        assert_eq!(outbox(&setup).len(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn orders_are_shown_to_their_buyer_only() {
        let db = db();
        let order = create(&db, "u1", &ticket(&db), &TERMS, NOW).unwrap();
        assert_eq!(show(&db, &order.id, "u1").unwrap(), order);
        assert_eq!(show(&db, &order.id, "u2"), Err(ApiError::Unauthorized));
        assert_eq!(show(&db, "nope", "u1"), Err(ApiError::NotFound));
        assert_eq!(show(&db, &"f".repeat(24), "u1"), Err(ApiError::NotFound));
        let second = create(&db, "u1", &ticket(&db), &TERMS, NOW + 1).unwrap();
        create(&db, "u2", &ticket(&db), &TERMS, NOW).unwrap();
        assert_eq!(list(&db, "u1").unwrap(), [order, second]);
    }

    #[test]
    fn cancelling_bumps_the_version_once_and_frees_the_ticket() {
        let db = db();
        let order = create(&db, "u1", &ticket(&db), &TERMS, NOW).unwrap();
        assert_eq!(
            cancel(&db, &order.id, "u2", NOW),
            Err(ApiError::Unauthorized)
        );
        assert_eq!(order.updated_at_ms, NOW);
        let cancelled = cancel(&db, &order.id, "u1", NOW + 5).unwrap();
        assert_eq!(
            (cancelled.status, cancelled.version, cancelled.updated_at_ms),
            (OrderStatus::Cancelled, 1, NOW + 5)
        );
        let again = cancel(&db, &order.id, "u1", NOW + 9).unwrap();
        assert_eq!(
            again, cancelled,
            "nothing changed, so neither did updatedAt"
        );
        assert_eq!(
            storage::find_order(&db, &order.id).unwrap(),
            Some(cancelled.clone())
        );
        let events = outbox(&db);
        assert_eq!(events.len(), 2, "a second cancellation publishes nothing");
        assert_eq!(
            events[1],
            (
                "order:cancelled".to_owned(),
                serde_json::json!({"id": order.id, "version": 1,
                                   "ticket": {"id": order.ticket.id}})
            )
        );
    }

    #[test]
    fn a_paid_order_cannot_be_cancelled_or_expired() {
        let db = db();
        let order = create(&db, "u1", &ticket(&db), &TERMS, NOW).unwrap();
        let paid = apply_event(&db, &order.id, Cause::Payment, NOW).unwrap();
        assert_eq!((paid.status, paid.version), (OrderStatus::Complete, 1));
        assert_eq!(
            cancel(&db, &order.id, "u1", NOW),
            Err(ApiError::bad_request(CANNOT_CANCEL_COMPLETE))
        );
        assert_eq!(
            apply_event(&db, &order.id, Cause::Expiry, NOW).unwrap(),
            paid
        );
        assert_eq!(
            apply_event(&db, &order.id, Cause::Payment, NOW).unwrap(),
            paid
        );
        let events = outbox(&db);
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[1],
            (
                "order:completed".to_owned(),
                serde_json::json!({"id": order.id, "version": 1,
                                   "ticket": {"id": order.ticket.id}})
            )
        );
    }

    #[test]
    fn expiry_cancels_unless_complete_and_a_late_payment_leaves_it_cancelled() {
        let db = db();
        let order = create(&db, "u1", &ticket(&db), &TERMS, NOW).unwrap();
        let expired = apply_event(&db, &order.id, Cause::Expiry, NOW + WINDOW).unwrap();
        assert_eq!(
            (expired.status, expired.version),
            (OrderStatus::Cancelled, 1)
        );
        assert_eq!(
            apply_event(&db, &order.id, Cause::Expiry, NOW).unwrap(),
            expired
        );
        assert_eq!(
            apply_event(&db, &order.id, Cause::Payment, NOW).unwrap(),
            expired
        );
        assert_eq!(outbox(&db).len(), 2);
        assert_eq!(
            apply_event(&db, &"f".repeat(24), Cause::Expiry, NOW)
                .unwrap_err()
                .status(),
            400
        );
    }

    #[test]
    fn status_moves() {
        use OrderStatus::*;
        let moves = [
            (Created, Cause::Cancellation, Ok(Some(Cancelled))),
            (AwaitingPayment, Cause::Cancellation, Ok(Some(Cancelled))),
            (Cancelled, Cause::Cancellation, Ok(None)),
            (
                Complete,
                Cause::Cancellation,
                Err(ApiError::bad_request(CANNOT_CANCEL_COMPLETE)),
            ),
            (Created, Cause::Expiry, Ok(Some(Cancelled))),
            (Complete, Cause::Expiry, Ok(None)),
            (Cancelled, Cause::Expiry, Ok(None)),
            (Created, Cause::Payment, Ok(Some(Complete))),
            (AwaitingPayment, Cause::Payment, Ok(Some(Complete))),
            (Cancelled, Cause::Payment, Ok(None)),
            (Complete, Cause::Payment, Ok(None)),
        ];
        for (from, cause, to) in moves {
            assert_eq!(next_status(from, cause), to, "{from:?} {cause:?}");
        }
    }

    #[test]
    fn a_buyer_holds_at_most_the_cap_of_live_orders() {
        let db = db();
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(create(&db, "u1", &ticket(&db), &TERMS, NOW).unwrap());
        }
        assert_eq!(
            create(&db, "u1", &ticket(&db), &TERMS, NOW),
            Err(holds::over_cap(3))
        );
        assert!(
            create(&db, "u2", &ticket(&db), &TERMS, NOW).is_ok(),
            "per buyer"
        );
        // One cancelled, or lapsed, frees a place.
        cancel(&db, &held[0].id, "u1", NOW).unwrap();
        assert!(create(&db, "u1", &ticket(&db), &TERMS, NOW).is_ok());
        assert!(create(&db, "u1", &ticket(&db), &TERMS, NOW + WINDOW).is_ok());
    }
}
