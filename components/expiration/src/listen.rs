//! The events the expiration service consumes (events.toml): `order:created` schedules
//! an order's expiry, `boxoffice:tick` fires the due ones (it publishes
//! `expiration:complete {orderId}` through its outbox, see [`crate::jobs`]).

use boxoffice_shared::consume::{self, never};
use boxoffice_shared::events::{Event, Inbound};
use boxoffice_shared::sql::Db;
use boxoffice_shared::{time, ApiError};

use crate::{jobs, SERVICE};

/// Applies a delivery from the broker: events once, ticks every time.
pub fn receive(db: &dyn Db, delivery: &Inbound, now_ms: i64) -> Result<(), ApiError> {
    let on_tick = || jobs::run_due(db, now_ms).map(drop);
    consume::receive(
        db,
        SERVICE,
        delivery,
        now_ms,
        on_tick,
        |tx, event| match event {
            Event::OrderCreated(order) => {
                let expires_at = time::parse_rfc3339(&order.expires_at).ok_or_else(|| {
                    never(format!(
                        "order {} expires at {:?}, not an RFC 3339 time",
                        order.id, order.expires_at
                    ))
                })?;
                jobs::schedule(tx, &order.id, expires_at)
            }
            other => Err(consume::not_consumed(SERVICE, other)),
        },
    )
}
