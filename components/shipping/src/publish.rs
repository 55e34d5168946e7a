//! The event the shipping service publishes (`shipment:dispatched`), written to its
//! outbox in the same transaction as the shipment it announces.

use boxoffice_shared::events::{Event, ShipmentDispatched};
use boxoffice_shared::sql::{Db, SqlError};
use boxoffice_shared::{outbox, time};

use crate::model::Shipment;
use crate::SERVICE;

/// `shipment:dispatched` for a shipment that just left.
pub fn shipment_dispatched(shipment: &Shipment) -> Event {
    Event::ShipmentDispatched(ShipmentDispatched {
        id: shipment.id.clone(),
        purchase_id: shipment.purchase_id.clone(),
        user_id: shipment.user_id.clone(),
        city: shipment.city.clone(),
        dispatched_at: time::rfc3339(shipment.dispatched_at_ms),
    })
}

/// Queues `event` in the shipping outbox, inside the caller's transaction `tx`.
pub fn publish(tx: &dyn Db, event: &Event, now_ms: i64) -> Result<(), SqlError> {
    outbox::enqueue(tx, SERVICE, event, now_ms).map(drop)
}
