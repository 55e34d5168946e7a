//! The payments component: charges through Stripe (docs/api.md, "Payments"), and its event
//! route.

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
    /// `POST /internal/events/payments`
    Deliver in "events",
);

event_route!(Deliver, "/internal/events/payments", "payments");

/// A card token and the order it pays.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentInput {
    /// A Stripe token (`tok_visa` in test mode), at most 256 characters.
    #[schema(min_length = 1, max_length = 256, example = "tok_visa")]
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
/// Charges the card through Stripe (price × 100 cents, usd, an idempotency key per order,
/// so a retried request never charges twice). Publishes `payment:created`.
#[utoipa::path(
    post,
    path = "/api/payments",
    impl_for = Pay,
    request_body = PaymentInput,
    responses(
        (status = 201, description = "Paid.", body = Payment),
        (status = 400, description = "Invalid token or orderId, a declined card, or the order is cancelled, expired or paid.", body = Errors),
        (status = 401, description = "Not signed in (checked before the body), or not the buyer.", body = Errors),
        (status = 404, description = "No such order.", body = Errors),
        (status = 503, description = "Payments are not configured, Stripe is down, or a backing service is.", body = Errors),
    ),
    security(("session" = [])),
)]
#[allow(dead_code)]
fn pay() {}

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
