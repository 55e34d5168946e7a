//! The expiration component: it cancels orders whose reservation window has passed, and
//! has only its event route.

use crate::events::event_route;
use crate::route::operations;

operations!("expiration":
    /// `POST /internal/events/expiration`
    Deliver in "events",
);

event_route!(Deliver, "/internal/events/expiration", "expiration");
