//! The events the expiration service consumes (events.toml): `order:created` schedules
//! an order's expiry, `boxoffice:tick` fires the due ones (it publishes
//! `expiration:complete {orderId}` through its outbox, see [`crate::jobs`]).

use boxoffice_shared::consume::{self, never};
use boxoffice_shared::events::{Delivery, Event};
use boxoffice_shared::sql::Db;
use boxoffice_shared::{time, ApiError};

use crate::{jobs, SERVICE};

/// Applies a delivery from the broker: events once, ticks every time.
pub fn receive(db: &dyn Db, delivery: &Delivery, now_ms: i64) -> Result<(), ApiError> {
    let event = match delivery {
        Delivery::Tick => return jobs::run_due(db, now_ms).map(drop),
        Delivery::Event(event) => event,
    };
    match &event.event {
        Event::OrderCreated(order) => {
            let expires_at = time::parse_rfc3339(&order.expires_at).ok_or_else(|| {
                never(format!(
                    "order {} expires at {:?}, not an RFC 3339 time",
                    order.id, order.expires_at
                ))
            })?;
            consume::apply_once(db, SERVICE, &event.id, now_ms, |tx| {
                jobs::schedule(tx, &order.id, expires_at)
            })
            .map(drop)
        }
        other => Err(never(format!(
            "{SERVICE} does not consume {}",
            other.event_type()
        ))),
    }
}
