//! The events of the marketplace: their subjects ([`EventType`]), their payloads
//! ([`Event`]), and the CloudEvents binary-mode envelope they travel in over HTTP
//! ([`Envelope`]), signed by their publisher and verified before any use
//! ([`crate::signature`]).

use std::fmt;

use boxoffice_wire::cloudevent::{CloudEvent as WireEvent, HEADER_PREFIX, SPEC_VERSION};
use serde::{Deserialize, Serialize};

use crate::money::Price;
pub use crate::signature::Attributes;
use crate::signature::{self, PublicKeys, SigningKey};
use crate::sql::{Row, SqlError};
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
    /// `order:completed`, published by orders when a payment completes an order.
    OrderCompleted,
    /// `product:created`, published by catalog.
    ProductCreated,
    /// `product:updated`, published by catalog (an edit, or stock sold).
    ProductUpdated,
    /// `purchase:created`, published by cart when a cart is checked out.
    PurchaseCreated,
    /// `purchase:cancelled`, published by cart.
    PurchaseCancelled,
    /// `purchase:completed`, published by cart when a payment completes a purchase.
    PurchaseCompleted,
    /// `shipment:dispatched`, published by shipping when a paid purchase is sent.
    ShipmentDispatched,
}

impl EventType {
    /// Every event type.
    pub const ALL: [EventType; 13] = [
        Self::TicketCreated,
        Self::TicketUpdated,
        Self::OrderCreated,
        Self::OrderCancelled,
        Self::ExpirationComplete,
        Self::PaymentCreated,
        Self::OrderCompleted,
        Self::ProductCreated,
        Self::ProductUpdated,
        Self::PurchaseCreated,
        Self::PurchaseCancelled,
        Self::PurchaseCompleted,
        Self::ShipmentDispatched,
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
            Self::OrderCompleted => "order:completed",
            Self::ProductCreated => "product:created",
            Self::ProductUpdated => "product:updated",
            Self::PurchaseCreated => "purchase:created",
            Self::PurchaseCancelled => "purchase:cancelled",
            Self::PurchaseCompleted => "purchase:completed",
            Self::ShipmentDispatched => "shipment:dispatched",
        }
    }

    /// The event type for a subject text.
    pub fn parse(subject: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == subject)
    }

    /// The only service that publishes this type: a consumer refuses it from any other
    /// `source`, so that one service cannot speak for another.
    pub fn publisher(self) -> &'static str {
        match self {
            Self::TicketCreated | Self::TicketUpdated => "tickets",
            Self::OrderCreated | Self::OrderCancelled | Self::OrderCompleted => "orders",
            Self::ExpirationComplete => "expiration",
            Self::PaymentCreated => "payments",
            Self::ProductCreated | Self::ProductUpdated => "catalog",
            Self::PurchaseCreated | Self::PurchaseCancelled | Self::PurchaseCompleted => "cart",
            Self::ShipmentDispatched => "shipping",
        }
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

impl OrderStatus {
    /// Every status.
    pub const ALL: [OrderStatus; 4] = [
        Self::Created,
        Self::Cancelled,
        Self::AwaitingPayment,
        Self::Complete,
    ];

    /// The status text, as in JSON and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Cancelled => "cancelled",
            Self::AwaitingPayment => "awaiting:payment",
            Self::Complete => "complete",
        }
    }

    /// The status for a text.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The status an order (or a purchase) in this status moves to for `cause`; `None`
    /// when it stays as it is. Only a buyer's cancellation of a paid one is refused.
    pub fn after(self, cause: Cause) -> Result<Option<OrderStatus>, PaidCannotBeCancelled> {
        use OrderStatus::{Cancelled, Complete};
        match (cause, self) {
            (Cause::Cancellation, Complete) => Err(PaidCannotBeCancelled),
            (Cause::Cancellation | Cause::Expiry, Cancelled) | (Cause::Expiry, Complete) => {
                Ok(None)
            }
            (Cause::Cancellation | Cause::Expiry, _) => Ok(Some(Cancelled)),
            (Cause::Payment, Cancelled | Complete) => Ok(None),
            (Cause::Payment, _) => Ok(Some(Complete)),
        }
    }

    /// The status stored in `column` of `row`.
    pub fn from_row(row: &Row, column: &str) -> Result<Self, SqlError> {
        let text = row.text(column)?;
        Self::parse(&text).ok_or_else(|| SqlError::Decode(format!("order status {text}")))
    }
}

/// What asks an order (or a purchase) to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// Its buyer cancels it.
    Cancellation,
    /// Its reservation window is over.
    Expiry,
    /// It was paid (`payment:created`).
    Payment,
}

/// The refusal of [`OrderStatus::after`]: a paid order or purchase cannot be cancelled
/// (bug 2 of the old app); each service says so in its own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaidCannotBeCancelled;

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

/// `order:completed`: an order was paid (its version bumped, like every change).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderCompleted {
    /// Order id.
    pub id: String,
    /// Order version.
    pub version: i64,
    /// The sold ticket.
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
    /// Whether the paid "order" is a purchase of goods (cart) rather than a ticket order
    /// (orders): each of the two consumers applies its own and leaves the other's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub purchase: bool,
}

/// `product:created`: a seller listed a new product (version 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductCreated {
    /// The product's stock-keeping unit: its id.
    pub sku: String,
    /// Product version.
    pub version: i64,
    /// Name.
    pub name: String,
    /// Price in dollars.
    pub price: Price,
    /// Units in stock.
    pub stock: i64,
    /// The seller.
    pub user_id: String,
}

/// `product:updated`: a product changed, edited by its seller or sold by a purchase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductUpdated {
    /// The product's stock-keeping unit: its id.
    pub sku: String,
    /// Product version, one more than the previous event's.
    pub version: i64,
    /// Name.
    pub name: String,
    /// Price in dollars.
    pub price: Price,
    /// Units in stock.
    pub stock: i64,
    /// The seller.
    pub user_id: String,
    /// The completed purchase whose units this change took out of stock, when that is
    /// what it is: the cart then lets go of that purchase's hold on them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase_id: Option<String>,
}

/// A line of a purchase: how many units of which product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseLine {
    /// The product.
    pub sku: String,
    /// Units, at least 1.
    pub quantity: i64,
}

/// `purchase:created`: a cart was checked out; its units are held until it is paid or
/// its reservation window ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PurchaseCreated {
    /// Purchase id.
    pub id: String,
    /// Purchase version.
    pub version: i64,
    /// Status (`created`).
    pub status: OrderStatus,
    /// Buyer.
    pub user_id: String,
    /// When the reservation lapses, RFC 3339.
    pub expires_at: String,
    /// What the buyer pays: goods, shipping and tax, in dollars.
    pub total: Price,
    /// What was bought.
    pub lines: Vec<PurchaseLine>,
}

/// `purchase:cancelled`: a purchase ended without payment (its buyer, or expiry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseCancelled {
    /// Purchase id.
    pub id: String,
    /// Purchase version.
    pub version: i64,
}

/// `purchase:completed`: a purchase was paid; its units leave stock and it is to be
/// dispatched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PurchaseCompleted {
    /// Purchase id.
    pub id: String,
    /// Purchase version.
    pub version: i64,
    /// Buyer.
    pub user_id: String,
    /// The destination city's code (shipping's table).
    pub city: String,
    /// What was bought.
    pub lines: Vec<PurchaseLine>,
}

/// `shipment:dispatched`: the goods of a paid purchase left the warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShipmentDispatched {
    /// Shipment id.
    pub id: String,
    /// The purchase sent.
    pub purchase_id: String,
    /// Buyer.
    pub user_id: String,
    /// The destination city's code.
    pub city: String,
    /// When it left, RFC 3339.
    pub dispatched_at: String,
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
    /// `order:completed`
    OrderCompleted(OrderCompleted),
    /// `product:created`
    ProductCreated(ProductCreated),
    /// `product:updated`
    ProductUpdated(ProductUpdated),
    /// `purchase:created`
    PurchaseCreated(PurchaseCreated),
    /// `purchase:cancelled`
    PurchaseCancelled(PurchaseCancelled),
    /// `purchase:completed`
    PurchaseCompleted(PurchaseCompleted),
    /// `shipment:dispatched`
    ShipmentDispatched(ShipmentDispatched),
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
            Self::OrderCompleted(_) => EventType::OrderCompleted,
            Self::ProductCreated(_) => EventType::ProductCreated,
            Self::ProductUpdated(_) => EventType::ProductUpdated,
            Self::PurchaseCreated(_) => EventType::PurchaseCreated,
            Self::PurchaseCancelled(_) => EventType::PurchaseCancelled,
            Self::PurchaseCompleted(_) => EventType::PurchaseCompleted,
            Self::ShipmentDispatched(_) => EventType::ShipmentDispatched,
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
            Self::OrderCompleted(e) => &e.id,
            Self::ProductCreated(e) => &e.sku,
            Self::ProductUpdated(e) => &e.sku,
            Self::PurchaseCreated(e) => &e.id,
            Self::PurchaseCancelled(e) => &e.id,
            Self::PurchaseCompleted(e) => &e.id,
            Self::ShipmentDispatched(e) => &e.id,
        }
    }

    /// The entity version the event carries, for events about versioned entities.
    pub fn entity_version(&self) -> Option<i64> {
        match self {
            Self::TicketCreated(e) => Some(e.version),
            Self::TicketUpdated(e) => Some(e.version),
            Self::OrderCreated(e) => Some(e.version),
            Self::OrderCancelled(e) => Some(e.version),
            Self::OrderCompleted(e) => Some(e.version),
            Self::ProductCreated(e) => Some(e.version),
            Self::ProductUpdated(e) => Some(e.version),
            Self::PurchaseCreated(e) => Some(e.version),
            Self::PurchaseCancelled(e) => Some(e.version),
            Self::PurchaseCompleted(e) => Some(e.version),
            Self::ExpirationComplete(_) | Self::PaymentCreated(_) | Self::ShipmentDispatched(_) => {
                None
            }
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
            Self::OrderCompleted(e) => serde_json::to_value(e),
            Self::ProductCreated(e) => serde_json::to_value(e),
            Self::ProductUpdated(e) => serde_json::to_value(e),
            Self::PurchaseCreated(e) => serde_json::to_value(e),
            Self::PurchaseCancelled(e) => serde_json::to_value(e),
            Self::PurchaseCompleted(e) => serde_json::to_value(e),
            Self::ShipmentDispatched(e) => serde_json::to_value(e),
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
            EventType::OrderCompleted => Self::OrderCompleted(serde_json::from_slice(data)?),
            EventType::ProductCreated => Self::ProductCreated(serde_json::from_slice(data)?),
            EventType::ProductUpdated => Self::ProductUpdated(serde_json::from_slice(data)?),
            EventType::PurchaseCreated => Self::PurchaseCreated(serde_json::from_slice(data)?),
            EventType::PurchaseCancelled => Self::PurchaseCancelled(serde_json::from_slice(data)?),
            EventType::PurchaseCompleted => Self::PurchaseCompleted(serde_json::from_slice(data)?),
            EventType::ShipmentDispatched => {
                Self::ShipmentDispatched(serde_json::from_slice(data)?)
            }
        })
    }
}

/// The CloudEvents (1.0, binary mode) envelope of an event.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// `ce-id`: unique per event; consumers deduplicate on it.
    pub id: String,
    /// `ce-source`: `/boxoffice/<service>`.
    pub source: String,
    /// `ce-time`: RFC 3339.
    pub time: String,
    /// The event, whose type is `ce-type` and whose entity id is `ce-subject`.
    pub event: Event,
}

impl Envelope {
    /// A new envelope for `event` published by `service` at `now_ms`, with a fresh id.
    pub fn new(service: &str, event: Event, now_ms: i64) -> Self {
        Self {
            id: ids::new_id(),
            source: source(service),
            time: time::rfc3339(now_ms),
            event,
        }
    }

    /// The HTTP body: the JSON payload.
    pub fn body(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(&self.event.data()?)
    }

    /// The HTTP headers of the binary-mode envelope of `body` (see [`Self::body`]),
    /// signed with `key`.
    pub fn headers(&self, body: &[u8], key: &SigningKey) -> Vec<(String, String)> {
        binary_headers(
            &Attributes {
                id: &self.id,
                event_type: self.event.event_type().as_str(),
                source: &self.source,
                time: &self.time,
                subject: self.event.entity_id(),
            },
            body,
            key,
        )
    }
}

/// The `ce-type` of the broker's clock: timed work is due (see `events.toml`).
pub use boxoffice_wire::cloudevent::TICK_TYPE as TICK;

/// What the broker pushes to a service's event route: an event, or its clock's tick.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// `boxoffice:tick`: run the timed work and re-send the outbox.
    Tick,
    /// A marketplace event.
    Event(Envelope),
}

impl Inbound {
    /// Reads what the broker pushed to a service's event route, in binary mode (`ce-*`
    /// headers, JSON body) or structured mode (`application/cloudevents+json`).
    ///
    /// A tick (`boxoffice:tick`, or a Knative PingSource's `dev.knative.sources.ping` in
    /// Kubernetes) needs no id, source, data or signature: it carries nothing a handler
    /// trusts, only "timed work may be due", which each handler judges by its own clock.
    /// An event must come from the service that publishes its type, signed with that
    /// service's key (one of its `keys`); otherwise it is a 403. An event that can never
    /// be applied (not a CloudEvent, unknown type, bad payload) is a 400. Either 4xx sends
    /// it to the dead-letter queue.
    pub fn read(request: &ApiRequest, keys: &PublicKeys) -> Result<Self, ApiError> {
        let envelope = Unverified::read(request)?;
        if boxoffice_wire::cloudevent::is_tick(&envelope.event_type) {
            return Ok(Self::Tick);
        }
        envelope.verify(keys)?;
        envelope.into_event().map(Self::Event)
    }

    /// Whether `request` is the broker's tick, in either mode (what [`Inbound::read`] would
    /// read as [`Inbound::Tick`]); anything that is not a CloudEvent is not.
    pub fn is_tick(request: &ApiRequest) -> bool {
        Unverified::read(request)
            .is_ok_and(|envelope| boxoffice_wire::cloudevent::is_tick(&envelope.event_type))
    }
}

/// The attributes and data of a CloudEvent, either mode.
struct Unverified {
    id: Option<String>,
    event_type: String,
    source: Option<String>,
    subject: String,
    time: String,
    signature: Option<String>,
    data: Vec<u8>,
}

fn missing(name: &str) -> ApiError {
    ApiError::bad_request(format!("Missing the CloudEvents attribute {name}"))
}

impl Unverified {
    fn read(request: &ApiRequest) -> Result<Self, ApiError> {
        let headers = request
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()));
        let event = WireEvent::from_http(headers, &request.body)
            .map_err(|e| ApiError::bad_request(format!("Invalid CloudEvent: {e}")))?;
        event.check().map_err(ApiError::bad_request)?;
        let get = |name: &str| event.attribute(name).map(str::to_owned);
        Ok(Self {
            id: get("id"),
            event_type: get("type").unwrap_or_default(),
            source: get("source"),
            subject: get("subject").unwrap_or_default(),
            time: get("time").unwrap_or_default(),
            signature: get(signature::ATTRIBUTE),
            data: event.data,
        })
    }

    /// Checks that the source is the type's publisher, then the signature against that
    /// publisher's public keys; logs why an event is refused, since a forged event is
    /// something an operator must hear about.
    fn verify(&self, keys: &PublicKeys) -> Result<(), ApiError> {
        let (Some(id), Some(from)) = (&self.id, &self.source) else {
            return Err(missing(if self.id.is_none() { "id" } else { "source" }));
        };
        let publisher = EventType::parse(&self.event_type)
            .ok_or_else(|| {
                ApiError::bad_request(format!("Unknown event type {}", self.event_type))
            })?
            .publisher();
        let refused = |why: String| {
            eprintln!(
                "refused event {id:?} ({}) from {from:?}: {why}",
                self.event_type
            );
            ApiError::Forbidden(format!("Event refused: {why}"))
        };
        let expected = source(publisher);
        if *from != expected {
            return Err(refused(format!(
                "{} events come only from {expected}",
                self.event_type
            )));
        }
        let attributes = Attributes {
            id,
            event_type: &self.event_type,
            source: from,
            subject: &self.subject,
            time: &self.time,
        };
        keys.verify(
            publisher,
            &attributes,
            &self.data,
            self.signature.as_deref(),
        )
        .map_err(|e| refused(e.to_string()))
    }

    fn into_event(self) -> Result<Envelope, ApiError> {
        let event_type = EventType::parse(&self.event_type).ok_or_else(|| {
            ApiError::bad_request(format!("Unknown event type {}", self.event_type))
        })?;
        let event = Event::from_data(event_type, &self.data)
            .map_err(|e| ApiError::bad_request(format!("Invalid {event_type} payload: {e}")))?;
        Ok(Envelope {
            id: self.id.ok_or_else(|| missing("id"))?,
            source: self.source.ok_or_else(|| missing("source"))?,
            time: self.time,
            event,
        })
    }
}

/// The HTTP headers of a binary-mode CloudEvent with the JSON body `data`, signed with
/// `key`.
pub fn binary_headers(
    attributes: &Attributes<'_>,
    data: &[u8],
    key: &SigningKey,
) -> Vec<(String, String)> {
    let signature = key.sign(attributes, data);
    let event = WireEvent {
        attributes: [
            ("specversion", SPEC_VERSION),
            ("id", attributes.id),
            ("type", attributes.event_type),
            ("source", attributes.source),
            ("time", attributes.time),
            ("subject", attributes.subject),
            (signature::ATTRIBUTE, &signature),
        ]
        .into_iter()
        .map(|(name, value)| (format!("{HEADER_PREFIX}{name}"), value.to_owned()))
        .collect(),
        content_type: Some("application/json".to_owned()),
        data: Vec::new(),
    };
    event.binary_headers()
}

/// The `ce-source` of a service's events.
pub fn source(service: &str) -> String {
    format!("/boxoffice/{service}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;
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
        let created = Event::OrderCreated(testing::order_created("o1", "t1", 2000));
        assert_eq!(
            created.data().unwrap(),
            json!({"id":"o1","version":0,"status":"created","userId":"u1",
                   "expiresAt":"2024-05-01T12:15:00.000Z","ticket":{"id":"t1","price":20}})
        );
    }

    fn signed(event: &Envelope) -> ApiRequest {
        let body = event.body().unwrap();
        let mut request = ApiRequest::new(Method::Post, "/events");
        for (name, value) in event.headers(
            &body,
            &testing::signing_key(event.event.event_type().publisher()),
        ) {
            request = request.with_header(&name, &value);
        }
        request.body = body;
        request
    }

    fn read(request: &ApiRequest) -> Result<Envelope, ApiError> {
        match Inbound::read(request, &testing::public_keys())? {
            Inbound::Event(event) => Ok(event),
            Inbound::Tick => panic!("not an event"),
        }
    }

    #[test]
    fn envelopes_round_trip_over_http() {
        let event = Envelope::new("tickets", ticket_updated(), 0);
        let request = signed(&event);
        let get = |n: &str| request.header(n).unwrap().to_owned();
        assert_eq!(get("ce-type"), "ticket:updated");
        assert_eq!(get("ce-source"), "/boxoffice/tickets");
        assert_eq!(get("ce-subject"), "t1");
        assert_eq!(get("ce-time"), "1970-01-01T00:00:00.000Z");
        assert!(get("ce-boxofficesig").starts_with("v3="));
        assert_eq!(read(&request).unwrap(), event);

        let untyped = ApiRequest::new(Method::Post, "/events").with_header("ce-specversion", "1.0");
        assert_eq!(read(&untyped).unwrap_err().status(), 400);
    }

    #[test]
    fn unsigned_forged_or_misattributed_events_are_refused() {
        let event = Envelope::new("tickets", ticket_updated(), 0);
        let good = signed(&event);

        let mut unsigned = good.clone();
        unsigned
            .headers
            .retain(|(name, _)| name != "ce-boxofficesig");
        let mut tampered = good.clone();
        tampered.body =
            br#"{"id":"t1","version":2,"title":"free","price":0.5,"userId":"u1"}"#.to_vec();
        // Signed by a key the shop never had, and by another publisher of the shop (payments
        // holds its own key, and can sign with it, but not speak for tickets).
        let resigned = |key: &SigningKey| {
            let mut forged = good.clone();
            forged.headers.retain(|(name, _)| name != "ce-boxofficesig");
            for (name, value) in event.headers(&event.body().unwrap(), key) {
                if name == "ce-boxofficesig" {
                    forged = forged.with_header(&name, &value);
                }
            }
            forged
        };
        let stranger = resigned(&SigningKey::from_seed([7; 32]));
        let by_payments = resigned(&testing::signing_key("payments"));
        for forged in [unsigned, tampered, stranger, by_payments] {
            let refused = read(&forged).unwrap_err();
            assert_eq!(refused.status(), 403, "{refused}");
        }

        // Signed by payments with its own key, as from itself, but of a type it does not
        // publish.
        let misattributed = Envelope::new("payments", ticket_updated(), 0);
        let refused = read(&signed(&misattributed)).unwrap_err();
        assert_eq!(refused.status(), 403);
        assert!(
            refused.to_string().contains("/boxoffice/tickets"),
            "{refused}"
        );
    }

    #[test]
    fn a_signature_survives_the_move_to_structured_mode() {
        let event = Envelope::new("tickets", ticket_updated(), 0);
        let binary = signed(&event);
        let h = |n: &str| binary.header(n).unwrap();
        let structured = ApiRequest::new(Method::Post, "/events")
            .with_header("content-type", "application/cloudevents+json")
            .with_json(&json!({
                "specversion": "1.0", "id": h("ce-id"), "type": h("ce-type"),
                "source": h("ce-source"), "subject": h("ce-subject"), "time": h("ce-time"),
                "boxofficesig": h("ce-boxofficesig"),
                "datacontenttype": "application/json",
                // Re-serialized with other key order and spacing, as a broker may.
                "data": {"userId": "u1", "price": 12.5, "title": "concert", "version": 2, "id": "t1"}
            }));
        let mut structured = structured;
        structured
            .headers
            .retain(|(n, v)| n != "content-type" || v != "application/json");
        assert_eq!(read(&structured).unwrap(), event);
    }

    /// What a broker that parses an event and writes it again sends on: the event `request`
    /// carries, read and written by the CloudEvents Rust SDK (the CNCF's, not ours), in
    /// binary and in structured mode.
    fn re_encoded(request: &ApiRequest) -> [ApiRequest; 2] {
        use cloudevents::message::BinaryDeserializer as _;
        let mut headers = http::HeaderMap::new();
        for (name, value) in &request.headers {
            headers.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                http::HeaderValue::from_str(value).unwrap(),
            );
        }
        let event = cloudevents::binding::http::to_event(&headers, request.body.clone())
            .expect("the SDK reads our event");
        let binary: http::Request<Option<Vec<u8>>> = event
            .clone()
            .deserialize_binary(http::Request::builder())
            .expect("the SDK writes binary mode");
        let mut binary_request = ApiRequest::new(Method::Post, "/events");
        for (name, value) in binary.headers() {
            binary_request = binary_request.with_header(name.as_str(), value.to_str().unwrap());
        }
        binary_request.body = binary.into_body().unwrap_or_default();
        let mut structured = ApiRequest::new(Method::Post, "/events")
            .with_header("content-type", "application/cloudevents+json");
        structured.body = serde_json::to_vec(&event).expect("the SDK writes structured mode");
        [binary_request, structured]
    }

    #[test]
    fn a_signature_survives_re_encoding_by_another_cloudevents_implementation() {
        let events = [
            ticket_updated(),
            Event::OrderCreated(testing::order_created("o1", "t1", 2000)),
            Event::PaymentCreated(PaymentCreated {
                id: "p1".into(),
                order_id: "o1".into(),
                stripe_id: "ch_1".into(),
                purchase: false,
            }),
        ];
        // Times whose milliseconds end in 0 (written differently by every SDK), and one that
        // does not.
        let times = [
            0,
            120,
            100,
            1_714_564_800_500,
            1_714_564_800_000,
            1_714_564_800_123,
        ];
        let mut rewritten = std::collections::BTreeSet::new();
        for event in &events {
            for ms in times {
                let envelope = Envelope::new(event.event_type().publisher(), event.clone(), ms);
                let request = signed(&envelope);
                let written = request.header("ce-time").unwrap().to_owned();
                let mut go = request.clone();
                for (name, value) in &mut go.headers {
                    if name == "ce-time" {
                        *value = testing::as_go_writes_it(value);
                    }
                }
                let [binary, structured] = re_encoded(&request);
                for (how, carried) in [("go", go), ("binary", binary), ("structured", structured)] {
                    let time = match how {
                        "structured" => serde_json::from_slice::<serde_json::Value>(&carried.body)
                            .unwrap()["time"]
                            .as_str()
                            .unwrap()
                            .to_owned(),
                        _ => carried.header("ce-time").unwrap().to_owned(),
                    };
                    if time != written {
                        rewritten.insert(format!("{written} as {time}"));
                    }
                    let read = read(&carried)
                        .unwrap_or_else(|e| panic!("{how}, {written} as {time}: {e}"));
                    assert_eq!(
                        (read.id.as_str(), &read.event),
                        (envelope.id.as_str(), &envelope.event)
                    );
                }
            }
        }
        // The SDKs did write the times their own way (the test would prove nothing if not).
        for expected in [
            "1970-01-01T00:00:00.120Z as 1970-01-01T00:00:00.12Z",
            "1970-01-01T00:00:00.000Z as 1970-01-01T00:00:00Z",
        ] {
            assert!(rewritten.contains(expected), "{rewritten:#?}");
        }
        assert!(
            rewritten.iter().any(|r| r.contains("+00:00")),
            "the Rust SDK writes +00:00: {rewritten:#?}"
        );
    }

    #[test]
    fn statuses_round_trip() {
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                json!(status.as_str())
            );
        }
        assert_eq!(OrderStatus::parse("paid"), None);
    }

    #[test]
    fn the_shop_events_read_back_what_they_write() {
        let line = PurchaseLine {
            sku: "MUG-1".into(),
            quantity: 2,
        };
        let events = [
            (
                Event::ProductUpdated(ProductUpdated {
                    sku: "MUG-1".into(),
                    version: 3,
                    name: "Mug".into(),
                    price: Price::from_cents(1250),
                    stock: 8,
                    user_id: "u1".into(),
                    purchase_id: Some("p1".into()),
                }),
                json!({"sku":"MUG-1","version":3,"name":"Mug","price":12.5,"stock":8,
                       "userId":"u1","purchaseId":"p1"}),
            ),
            (
                Event::PurchaseCreated(PurchaseCreated {
                    id: "p1".into(),
                    version: 0,
                    status: OrderStatus::Created,
                    user_id: "u1".into(),
                    expires_at: "2024-05-01T12:15:00.000Z".into(),
                    total: Price::from_cents(3000),
                    lines: vec![line.clone()],
                }),
                json!({"id":"p1","version":0,"status":"created","userId":"u1",
                       "expiresAt":"2024-05-01T12:15:00.000Z","total":30,
                       "lines":[{"sku":"MUG-1","quantity":2}]}),
            ),
            (
                Event::PaymentCreated(PaymentCreated {
                    id: "pay1".into(),
                    order_id: "p1".into(),
                    stripe_id: "ch_1".into(),
                    purchase: true,
                }),
                json!({"id":"pay1","orderId":"p1","stripeId":"ch_1","purchase":true}),
            ),
        ];
        for (event, data) in events {
            assert_eq!(event.data().unwrap(), data);
            let bytes = serde_json::to_vec(&data).unwrap();
            assert_eq!(Event::from_data(event.event_type(), &bytes).unwrap(), event);
        }
        let ticket_payment = json!({"id":"pay1","orderId":"o1","stripeId":"ch_1"});
        let read = Event::from_data(
            EventType::PaymentCreated,
            &serde_json::to_vec(&ticket_payment).unwrap(),
        )
        .unwrap();
        assert_eq!(
            read.data().unwrap(),
            ticket_payment,
            "a ticket order's payment is as before"
        );
        assert_eq!(EventType::PurchaseCompleted.publisher(), "cart");
        assert_eq!(EventType::ProductUpdated.publisher(), "catalog");
        assert_eq!(EventType::ShipmentDispatched.publisher(), "shipping");
    }

    #[test]
    fn order_completed_is_the_seventh_subject() {
        let completed = Event::OrderCompleted(OrderCompleted {
            id: "o1".into(),
            version: 1,
            ticket: TicketRef { id: "t1".into() },
        });
        assert_eq!(completed.event_type().as_str(), "order:completed");
        assert_eq!(completed.entity_version(), Some(1));
        assert_eq!(
            completed.data().unwrap(),
            json!({"id":"o1","version":1,"ticket":{"id":"t1"}})
        );
    }

    #[test]
    fn structured_mode_and_ticks_are_read_too() {
        let structured = ApiRequest::new(Method::Post, "/internal/events/orders").with_header(
            "content-type",
            "application/cloudevents+json; charset=utf-8",
        );
        let mut request = structured.clone();
        let attributes = Attributes {
            id: "e1",
            event_type: "expiration:complete",
            source: "/boxoffice/expiration",
            subject: "",
            time: "",
        };
        let signature =
            testing::signing_key("expiration").sign(&attributes, br#"{"orderId":"o1"}"#);
        request.body = json!({"specversion": "1.0", "id": "e1", "type": "expiration:complete",
                              "source": "/boxoffice/expiration", "data": {"orderId": "o1"},
                              "boxofficesig": signature})
        .to_string()
        .into_bytes();
        let Inbound::Event(event) = Inbound::read(&request, &testing::public_keys()).unwrap()
        else {
            panic!("not an event")
        };
        assert_eq!(event.id, "e1");
        assert_eq!(
            event.event,
            Event::ExpirationComplete(ExpirationComplete {
                order_id: "o1".into()
            })
        );

        let binary_tick = ApiRequest::new(Method::Post, "/internal/events/orders")
            .with_header("ce-specversion", "1.0")
            .with_header("ce-type", "boxoffice:tick");
        assert_eq!(
            Inbound::read(&binary_tick, &testing::public_keys()).unwrap(),
            Inbound::Tick
        );
        let mut structured_tick = structured.clone();
        structured_tick.body = br#"{"specversion":"1.0","type":"boxoffice:tick"}"#.to_vec();
        assert_eq!(
            Inbound::read(&structured_tick, &testing::public_keys()).unwrap(),
            Inbound::Tick
        );
        // Knative's PingSource, unsigned, with its own type and payload.
        let mut ping = structured.clone();
        ping.body = br#"{"specversion":"1.0","id":"p1","source":"/apis/v1/namespaces/shop/pingsources/tick","type":"dev.knative.sources.ping","data":{}}"#.to_vec();
        assert_eq!(
            Inbound::read(&ping, &testing::public_keys()).unwrap(),
            Inbound::Tick
        );

        let mut unsigned = structured;
        unsigned.body =
            br#"{"specversion":"1.0","id":"e2","source":"/boxoffice/orders","type":"order:cancelled"}"#.to_vec();
        assert_eq!(
            Inbound::read(&unsigned, &testing::public_keys())
                .unwrap_err()
                .status(),
            403
        );
        let unknown = testing::delivery("/", "e2", "order:lost", &json!({}));
        let refused = Inbound::read(&unknown, &testing::public_keys()).unwrap_err();
        assert_eq!(refused.status(), 400, "{refused}");
        let no_id = ApiRequest::new(Method::Post, "/")
            .with_header("ce-specversion", "1.0")
            .with_header("ce-type", "expiration:complete")
            .with_header("ce-source", "x")
            .with_json(&json!({"orderId": "o1"}));
        assert_eq!(
            Inbound::read(&no_id, &testing::public_keys())
                .unwrap_err()
                .status(),
            400
        );
    }
}
