//! The events of the marketplace: their subjects ([`EventType`]), their payloads
//! ([`Event`]), and the CloudEvents binary-mode envelope they travel in over HTTP
//! ([`CloudEvent`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::money::Price;
use crate::{ids, time, ApiError, ApiRequest};

/// The subject of an event, as written in `ce-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// `ticket:created`, published by tickets.
    TicketCreated,
    /// `ticket:updated`, published by tickets.
    TicketUpdated,
    /// `order:created`, published by orders.
    OrderCreated,
    /// `order:cancelled`, published by orders.
    OrderCancelled,
    /// `expiration:complete`, published by expiration.
    ExpirationComplete,
    /// `payment:created`, published by payments.
    PaymentCreated,
}

impl EventType {
    /// Every event type.
    pub const ALL: [EventType; 6] = [
        Self::TicketCreated,
        Self::TicketUpdated,
        Self::OrderCreated,
        Self::OrderCancelled,
        Self::ExpirationComplete,
        Self::PaymentCreated,
    ];

    /// The subject text, e.g. `ticket:created`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TicketCreated => "ticket:created",
            Self::TicketUpdated => "ticket:updated",
            Self::OrderCreated => "order:created",
            Self::OrderCancelled => "order:cancelled",
            Self::ExpirationComplete => "expiration:complete",
            Self::PaymentCreated => "payment:created",
        }
    }

    /// The event type for a subject text.
    pub fn parse(subject: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == subject)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status of an order, as written in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderStatus {
    /// Reserved, not yet paid.
    #[serde(rename = "created")]
    Created,
    /// Cancelled by the user or expired.
    #[serde(rename = "cancelled")]
    Cancelled,
    /// Waiting for the payment.
    #[serde(rename = "awaiting:payment")]
    AwaitingPayment,
    /// Paid.
    #[serde(rename = "complete")]
    Complete,
}

/// `ticket:created`: a new ticket (version 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketCreated {
    /// Ticket id.
    pub id: String,
    /// Ticket version.
    pub version: i64,
    /// Title.
    pub title: String,
    /// Price in dollars.
    pub price: Price,
    /// Owner.
    pub user_id: String,
}

/// `ticket:updated`: a ticket changed (edited, reserved or released).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketUpdated {
    /// Ticket id.
    pub id: String,
    /// Ticket version, one more than the previous event's.
    pub version: i64,
    /// Title.
    pub title: String,
    /// Price in dollars.
    pub price: Price,
    /// Owner.
    pub user_id: String,
    /// The order holding the ticket, while reserved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
}

/// The ticket inside `order:created`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderTicket {
    /// Ticket id.
    pub id: String,
    /// Price in dollars.
    pub price: Price,
}

/// `order:created`: a ticket was reserved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderCreated {
    /// Order id.
    pub id: String,
    /// Order version.
    pub version: i64,
    /// Status (`created`).
    pub status: OrderStatus,
    /// Buyer.
    pub user_id: String,
    /// When the reservation lapses, RFC 3339.
    pub expires_at: String,
    /// The reserved ticket.
    pub ticket: OrderTicket,
}

/// A reference to a ticket by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketRef {
    /// Ticket id.
    pub id: String,
}

/// `order:cancelled`: a reservation ended without payment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderCancelled {
    /// Order id.
    pub id: String,
    /// Order version.
    pub version: i64,
    /// The released ticket.
    pub ticket: TicketRef,
}

/// `expiration:complete`: an order's reservation window is over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpirationComplete {
    /// The expired order.
    pub order_id: String,
}

/// `payment:created`: an order was paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentCreated {
    /// Payment id.
    pub id: String,
    /// The paid order.
    pub order_id: String,
    /// Stripe's charge id.
    pub stripe_id: String,
}

/// An event with its payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `ticket:created`
    TicketCreated(TicketCreated),
    /// `ticket:updated`
    TicketUpdated(TicketUpdated),
    /// `order:created`
    OrderCreated(OrderCreated),
    /// `order:cancelled`
    OrderCancelled(OrderCancelled),
    /// `expiration:complete`
    ExpirationComplete(ExpirationComplete),
    /// `payment:created`
    PaymentCreated(PaymentCreated),
}

impl Event {
    /// The subject of this event.
    pub fn event_type(&self) -> EventType {
        match self {
            Self::TicketCreated(_) => EventType::TicketCreated,
            Self::TicketUpdated(_) => EventType::TicketUpdated,
            Self::OrderCreated(_) => EventType::OrderCreated,
            Self::OrderCancelled(_) => EventType::OrderCancelled,
            Self::ExpirationComplete(_) => EventType::ExpirationComplete,
            Self::PaymentCreated(_) => EventType::PaymentCreated,
        }
    }

    /// The id of the entity the event is about (`ce-subject`).
    pub fn entity_id(&self) -> &str {
        match self {
            Self::TicketCreated(e) => &e.id,
            Self::TicketUpdated(e) => &e.id,
            Self::OrderCreated(e) => &e.id,
            Self::OrderCancelled(e) => &e.id,
            Self::ExpirationComplete(e) => &e.order_id,
            Self::PaymentCreated(e) => &e.id,
        }
    }

    /// The entity version the event carries, for events about versioned entities.
    pub fn entity_version(&self) -> Option<i64> {
        match self {
            Self::TicketCreated(e) => Some(e.version),
            Self::TicketUpdated(e) => Some(e.version),
            Self::OrderCreated(e) => Some(e.version),
            Self::OrderCancelled(e) => Some(e.version),
            Self::ExpirationComplete(_) | Self::PaymentCreated(_) => None,
        }
    }

    /// The JSON payload.
    pub fn data(&self) -> Result<serde_json::Value, serde_json::Error> {
        match self {
            Self::TicketCreated(e) => serde_json::to_value(e),
            Self::TicketUpdated(e) => serde_json::to_value(e),
            Self::OrderCreated(e) => serde_json::to_value(e),
            Self::OrderCancelled(e) => serde_json::to_value(e),
            Self::ExpirationComplete(e) => serde_json::to_value(e),
            Self::PaymentCreated(e) => serde_json::to_value(e),
        }
    }

    /// Reads the payload of an event of type `event_type`.
    pub fn from_data(event_type: EventType, data: &[u8]) -> Result<Self, serde_json::Error> {
        Ok(match event_type {
            EventType::TicketCreated => Self::TicketCreated(serde_json::from_slice(data)?),
            EventType::TicketUpdated => Self::TicketUpdated(serde_json::from_slice(data)?),
            EventType::OrderCreated => Self::OrderCreated(serde_json::from_slice(data)?),
            EventType::OrderCancelled => Self::OrderCancelled(serde_json::from_slice(data)?),
            EventType::ExpirationComplete => {
                Self::ExpirationComplete(serde_json::from_slice(data)?)
            }
            EventType::PaymentCreated => Self::PaymentCreated(serde_json::from_slice(data)?),
        })
    }
}

/// The CloudEvents (1.0, binary mode) envelope of an event.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudEvent {
    /// `ce-id`: unique per event; consumers deduplicate on it.
    pub id: String,
    /// `ce-source`: `/boxoffice/<service>`.
    pub source: String,
    /// `ce-time`: RFC 3339.
    pub time: String,
    /// The event, whose type is `ce-type` and whose entity id is `ce-subject`.
    pub event: Event,
}

impl CloudEvent {
    /// A new envelope for `event` published by `service` at `now_ms`, with a fresh id.
    pub fn new(service: &str, event: Event, now_ms: i64) -> Self {
        Self {
            id: ids::new_id(),
            source: source(service),
            time: time::rfc3339(now_ms),
            event,
        }
    }

    /// The HTTP headers of the binary-mode envelope.
    pub fn headers(&self) -> Vec<(String, String)> {
        [
            ("ce-specversion", "1.0"),
            ("ce-id", &self.id),
            ("ce-type", self.event.event_type().as_str()),
            ("ce-source", &self.source),
            ("ce-time", &self.time),
            ("ce-subject", self.event.entity_id()),
            ("content-type", "application/json"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
    }

    /// The HTTP body: the JSON payload.
    pub fn body(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(&self.event.data()?)
    }

    /// Reads a binary-mode CloudEvent pushed to a service's event route. An event that
    /// can never be applied (not a CloudEvent, unknown type, bad payload) is a 400, which
    /// sends it to the dead-letter queue.
    pub fn parse(request: &ApiRequest) -> Result<Self, ApiError> {
        let header = |name: &str| {
            request
                .header(name)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ApiError::bad_request(format!("Missing the {name} header")))
        };
        if header("ce-specversion")? != "1.0" {
            return Err(ApiError::bad_request("Unsupported CloudEvents specversion"));
        }
        let type_text = header("ce-type")?;
        let event_type = EventType::parse(type_text)
            .ok_or_else(|| ApiError::bad_request(format!("Unknown event type {type_text}")))?;
        let event = Event::from_data(event_type, &request.body)
            .map_err(|e| ApiError::bad_request(format!("Invalid {event_type} payload: {e}")))?;
        Ok(Self {
            id: header("ce-id")?.to_owned(),
            source: header("ce-source")?.to_owned(),
            time: request.header("ce-time").unwrap_or_default().to_owned(),
            event,
        })
    }
}

/// The `ce-source` of a service's events.
pub fn source(service: &str) -> String {
    format!("/boxoffice/{service}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use spin_sdk::http::Method;

    fn ticket_updated() -> Event {
        Event::TicketUpdated(TicketUpdated {
            id: "t1".into(),
            version: 2,
            title: "concert".into(),
            price: Price::from_cents(1250),
            user_id: "u1".into(),
            order_id: None,
        })
    }

    #[test]
    fn subjects_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(EventType::parse("ticket:deleted"), None);
    }

    #[test]
    fn payloads_use_the_api_names() {
        assert_eq!(
            ticket_updated().data().unwrap(),
            json!({"id":"t1","version":2,"title":"concert","price":12.5,"userId":"u1"})
        );
        let created = Event::OrderCreated(OrderCreated {
            id: "o1".into(),
            version: 0,
            status: OrderStatus::Created,
            user_id: "u1".into(),
            expires_at: "2024-05-01T12:15:00.000Z".into(),
            ticket: OrderTicket {
                id: "t1".into(),
                price: Price::from_cents(2000),
            },
        });
        assert_eq!(
            created.data().unwrap(),
            json!({"id":"o1","version":0,"status":"created","userId":"u1",
                   "expiresAt":"2024-05-01T12:15:00.000Z","ticket":{"id":"t1","price":20}})
        );
    }

    #[test]
    fn envelopes_round_trip_over_http() {
        let event = CloudEvent::new("tickets", ticket_updated(), 0);
        let headers = event.headers();
        let get = |n: &str| headers.iter().find(|(k, _)| k == n).unwrap().1.clone();
        assert_eq!(get("ce-type"), "ticket:updated");
        assert_eq!(get("ce-source"), "/boxoffice/tickets");
        assert_eq!(get("ce-subject"), "t1");
        assert_eq!(get("ce-time"), "1970-01-01T00:00:00.000Z");

        let mut request = ApiRequest::new(Method::Post, "/events");
        for (name, value) in &headers {
            request = request.with_header(name, value);
        }
        request.body = event.body().unwrap();
        assert_eq!(CloudEvent::parse(&request).unwrap(), event);

        request.body = b"{}".to_vec();
        assert_eq!(CloudEvent::parse(&request).unwrap_err().status(), 400);
        let untyped = ApiRequest::new(Method::Post, "/events").with_header("ce-specversion", "1.0");
        assert_eq!(CloudEvent::parse(&untyped).unwrap_err().status(), 400);
    }
}
