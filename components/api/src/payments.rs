//! The payments component: payments through Stripe's PaymentIntents (docs/api.md,
//! "Payments"; docs/payments.md), Stripe's webhook, and its event route.

use serde::Serialize;
use utoipa::ToSchema;

use crate::events::event_route;
use crate::route::operations;
use crate::schemas::{Errors, Unavailable};

operations!("payments":
    /// `POST /api/payments`
    Pay in "payments",
    /// `GET /api/payments/config`
    Config in "payments",
    /// `POST /api/payments/webhook`
    Webhook in "payments",
    /// `POST /internal/events/payments`
    Deliver in "events",
);

event_route!(Deliver, "/internal/events/payments", "payments");

/// The refusal of a payment for an order (or purchase) paid already: the pages take it as
/// "paid" (the webhook may have recorded the payment while the buyer authenticated it).
pub const ALREADY_PAID: &str = "Order has already been paid";

/// A payment method and the order it pays.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentInput {
    /// A Stripe PaymentMethod id (`pm_...`; `pm_card_visa` in test mode) or a card token
    /// (`tok_...`), at most 256 characters.
    #[schema(min_length = 1, max_length = 256, example = "pm_card_visa")]
    pub token: String,
    /// The order's id: 24 lowercase hex digits.
    #[schema(pattern = "^[0-9a-f]{24}$", example = "65f1c0ffee0123456789abcd")]
    pub order_id: String,
}

/// A payment.
#[derive(Serialize, ToSchema)]
pub struct Payment {
    /// Id.
    pub id: String,
}

/// A payment that is not finished: the buyer must authenticate it with Stripe.js
/// (`requires_action`, with the intent's client secret), or Stripe is still processing it
/// (`processing`; the webhook records it).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPending {
    /// `requires_action` or `processing`.
    #[schema(pattern = "^(requires_action|processing)$")]
    pub status: String,
    /// For `stripe.handleNextAction({clientSecret})`; only with `requires_action`.
    pub client_secret: Option<String>,
}

/// That a webhook event was taken.
#[derive(Serialize, ToSchema)]
pub struct WebhookReceived {
    /// Always true.
    pub received: bool,
}

/// What browsers need to take cards.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentsConfig {
    /// Stripe's publishable key (`pk_...`) for Stripe Elements, or `null` when the shop
    /// takes test tokens. Never the secret key.
    pub publishable_key: Option<String>,
}

/// Pay for an order
///
/// Pays through the order's one Stripe PaymentIntent (price × 100 cents, usd), made on the
/// first attempt and confirmed with the payment method; a retried or repeated request
/// never charges twice. A card that needs 3-D Secure answers 202 with the client secret
/// for Stripe.js; pay again (or let the webhook record it) once authenticated. Publishes
/// `payment:created`.
#[utoipa::path(
    post,
    path = "/api/payments",
    impl_for = Pay,
    request_body = PaymentInput,
    responses(
        (status = 201, description = "Paid.", body = Payment),
        (status = 202, description = "Not finished: authenticate with Stripe.js, or wait for Stripe.", body = PaymentPending),
        (status = 400, description = "Invalid token or orderId, a declined card, or the order is cancelled, expired or paid.", body = Errors),
        (status = 401, description = "Not signed in (checked before the body), or not the buyer.", body = Errors),
        (status = 404, description = "No such order.", body = Errors),
        (status = 429, description = "Too many refused attempts: 5 for this order, or 20 of the buyer's in a day (card testing).", body = Errors),
        (status = 503, description = "Payments are not configured, Stripe is down, or a backing service is.", body = Errors),
    ),
    security(("session" = [])),
)]
#[allow(dead_code)]
fn pay() {}

/// Stripe's webhook
///
/// Stripe's events about payments, refunds and disputes, signed with the endpoint's
/// secret (`Stripe-Signature`); each applied once by its id. Not for clients.
#[utoipa::path(
    post,
    path = "/api/payments/webhook",
    impl_for = Webhook,
    request_body(content = Object, description = "A Stripe event.", content_type = "application/json"),
    params(("Stripe-Signature" = String, Header, description = "t=<unix seconds>,v1=<HMAC-SHA256 hex>")),
    responses(
        (status = 200, description = "Taken.", body = WebhookReceived),
        (status = 400, description = "No, a stale or a wrong signature, or not an event.", body = Errors),
        (status = 503, description = "No webhook secret is configured, or a backing service is down.", body = Errors),
    ),
)]
#[allow(dead_code)]
fn webhook() {}

/// The payments configuration
#[utoipa::path(
    get,
    path = "/api/payments/config",
    impl_for = Config,
    responses(
        (status = 200, description = "The publishable key, or null.", body = PaymentsConfig),
        (status = 503, response = Unavailable),
    ),
)]
#[allow(dead_code)]
fn config() {}
