//! The cart component: shopping carts, the checkout that turns a cart into a purchase,
//! the purchases themselves (docs/cart.md), and its event route.

use serde::Serialize;
use utoipa::ToSchema;

use crate::events::event_route;
use crate::orders::OrderStatus;
use crate::route::operations;
use crate::schemas::{Errors, Unavailable};

operations!("cart":
    /// `GET /api/cart`
    ShowCart in "cart",
    /// `POST /api/cart/items`
    AddItem in "cart",
    /// `PUT /api/cart/items/{sku}`
    SetQuantity in "cart",
    /// `DELETE /api/cart/items/{sku}`
    RemoveItem in "cart",
    /// `PUT /api/cart/shipping`
    Ship in "cart",
    /// `POST /api/cart/checkout`
    Checkout in "cart",
    /// `GET /api/purchases`
    ListPurchases in "purchases",
    /// `GET /api/purchases/{id}`
    ShowPurchase in "purchases",
    /// `DELETE /api/purchases/{id}`
    Cancel in "purchases",
    /// `POST /internal/events/cart`
    Deliver in "events",
);

event_route!(Deliver, "/internal/events/cart", "cart");

/// The name of the cookie that keeps a signed-out shopper's cart.
pub const CART_COOKIE: &str = "cart";

/// A product to add.
#[derive(Serialize, ToSchema)]
pub struct CartItemInput {
    /// The product's SKU (case does not matter).
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9-]{2,31}$", example = "MUG-01")]
    pub sku: String,
    /// How many to add to what the cart holds already.
    #[schema(minimum = 1, maximum = 99)]
    pub quantity: i64,
}

/// A new quantity.
#[derive(Serialize, ToSchema)]
pub struct QuantityInput {
    /// The new quantity; 0 removes the product.
    #[schema(minimum = 0, maximum = 99)]
    pub quantity: i64,
}

/// Where to ship.
#[derive(Serialize, ToSchema)]
pub struct ShippingInput {
    /// A city's code, as `GET /api/shipping/cities` lists them.
    #[schema(example = "nyc")]
    pub city: String,
}

/// A shipping quote, as the cart keeps it.
#[derive(Serialize, ToSchema)]
pub struct CartShipping {
    /// The city's code.
    pub city: String,
    /// The city's name.
    pub name: String,
    /// Its country.
    pub country: String,
    /// What shipping there costs, in US dollars.
    pub cost: f64,
}

/// A line of a cart.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CartLine {
    /// The product.
    pub sku: String,
    /// Its name.
    pub name: String,
    /// Its price now, US dollars.
    pub price: f64,
    /// How many.
    pub quantity: i64,
    /// Price × quantity.
    pub line_total: f64,
    /// How many can still be bought (stock not held by open purchases); a line over it
    /// cannot be checked out.
    pub available: i64,
}

/// A cart with its totals.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Cart {
    /// Its lines, in the order they were added.
    pub items: Vec<CartLine>,
    /// How many units in all.
    pub count: i64,
    /// The goods, US dollars.
    pub subtotal: f64,
    /// Where it ships, once chosen.
    pub shipping: Option<CartShipping>,
    /// The sales tax rate on the goods, in percent (`sales_tax_percent`).
    pub tax_rate: f64,
    /// The tax on the goods.
    pub tax: f64,
    /// Goods, tax and shipping.
    pub total: f64,
}

/// A line of a purchase, at the price it was bought.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PurchaseLine {
    /// The product.
    pub sku: String,
    /// Its name.
    pub name: String,
    /// Its price, US dollars.
    pub price: f64,
    /// How many.
    pub quantity: i64,
    /// Price × quantity.
    pub line_total: f64,
}

/// The dispatch of a paid purchase.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PurchaseShipment {
    /// The shipment's id (shipping's).
    pub id: String,
    /// When it left (ISO 8601).
    #[schema(format = DateTime)]
    pub dispatched_at: String,
}

/// A purchase: a checked-out cart, held for the reservation window, paid through
/// `POST /api/payments` with its id as `orderId`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Purchase {
    /// Id.
    pub id: String,
    /// The buyer.
    pub user_id: String,
    /// `created` (held, to pay), `cancelled` or `complete` (paid).
    pub status: OrderStatus,
    /// When the hold lapses (ISO 8601).
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// When the status last changed (ISO 8601).
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Goes up by exactly 1 on every change.
    pub version: i64,
    /// What was bought.
    pub lines: Vec<PurchaseLine>,
    /// The goods.
    pub subtotal: f64,
    /// Where it ships, and what that costs.
    pub shipping: CartShipping,
    /// The tax on the goods.
    pub tax: f64,
    /// What the buyer pays.
    pub total: f64,
    /// Its dispatch, once paid and sent.
    pub shipment: Option<PurchaseShipment>,
}

/// My cart
///
/// The signed-in shopper's cart, or a signed-out visitor's (kept by the `cart` cookie).
/// The first cart request after signing in moves a signed-out cart into the shopper's and
/// clears the cookie. A cart left unchanged for a day is emptied.
#[utoipa::path(
    get,
    path = "/api/cart",
    impl_for = ShowCart,
    responses(
        (status = 200, description = "The cart (empty when there is none).", body = Cart),
        (status = 503, response = Unavailable),
    ),
    security((), ("session" = [])),
)]
#[allow(dead_code)]
fn show() {}

/// Add a product
///
/// Adds to the quantity the cart holds already. A product out of stock, or more than
/// can still be bought, is refused with a message saying how many are left. A signed-out
/// visitor gets the `cart` cookie.
#[utoipa::path(
    post,
    path = "/api/cart/items",
    impl_for = AddItem,
    request_body = CartItemInput,
    responses(
        (status = 200, description = "The cart.", body = Cart),
        (status = 400, description = "Invalid sku or quantity, out of stock, too many.", body = Errors),
        (status = 404, description = "No such product.", body = Errors),
        (status = 503, response = Unavailable),
    ),
    security((), ("session" = [])),
)]
#[allow(dead_code)]
fn add_item() {}

/// Change a quantity
///
/// 0 removes the product.
#[utoipa::path(
    put,
    path = "/api/cart/items/{sku}",
    impl_for = SetQuantity,
    params(("sku" = String, Path, description = "The product's SKU.")),
    request_body = QuantityInput,
    responses(
        (status = 200, description = "The cart.", body = Cart),
        (status = 400, description = "Invalid quantity, or more than can be bought.", body = Errors),
        (status = 404, description = "The cart holds no such product.", body = Errors),
        (status = 503, response = Unavailable),
    ),
    security((), ("session" = [])),
)]
#[allow(dead_code)]
fn set_quantity() {}

/// Remove a product
#[utoipa::path(
    delete,
    path = "/api/cart/items/{sku}",
    impl_for = RemoveItem,
    params(("sku" = String, Path, description = "The product's SKU.")),
    responses(
        (status = 200, description = "The cart.", body = Cart),
        (status = 404, description = "The cart holds no such product.", body = Errors),
        (status = 503, response = Unavailable),
    ),
    security((), ("session" = [])),
)]
#[allow(dead_code)]
fn remove_item() {}

/// Choose where to ship
///
/// Puts the shipping component's quote for the city in the cart.
#[utoipa::path(
    put,
    path = "/api/cart/shipping",
    impl_for = Ship,
    request_body = ShippingInput,
    responses(
        (status = 200, description = "The cart, with its shipping.", body = Cart),
        (status = 400, description = "No city, or an unknown one.", body = Errors),
        (status = 503, response = Unavailable),
    ),
    security((), ("session" = [])),
)]
#[allow(dead_code)]
fn ship() {}

/// Check out
///
/// Turns the signed-in shopper's cart into a purchase at today's prices: its units are
/// held for the reservation window (15 minutes by default) while it is paid, and the cart
/// is emptied. When any product has fewer units left than the cart asks for, nothing is
/// held and the answer says which. Publishes `purchase:created`.
#[utoipa::path(
    post,
    path = "/api/cart/checkout",
    impl_for = Checkout,
    responses(
        (status = 201, description = "The purchase, `created`.", body = Purchase),
        (status = 400, description = "Empty cart, no shipping chosen, not enough left, or the buyer holds max_live_reservations (10) live purchases already.", body = Errors),
        (status = 401, description = "Not signed in.", body = Errors),
        (status = 503, response = Unavailable),
    ),
    security(("session" = [])),
)]
#[allow(dead_code)]
fn checkout() {}

/// My purchases
///
/// Oldest first.
#[utoipa::path(
    get,
    path = "/api/purchases",
    impl_for = ListPurchases,
    responses(
        (status = 200, description = "The caller's purchases.", body = Vec<Purchase>),
        (status = 401, description = "Not signed in.", body = Errors),
        (status = 503, response = Unavailable),
    ),
    security(("session" = [])),
)]
#[allow(dead_code)]
fn purchases() {}

/// A purchase
#[utoipa::path(
    get,
    path = "/api/purchases/{id}",
    impl_for = ShowPurchase,
    params(("id" = String, Path, description = "The purchase's id.")),
    responses(
        (status = 200, description = "The purchase.", body = Purchase),
        (status = 401, description = "Not signed in, or not the buyer.", body = Errors),
        (status = 404, description = "No such purchase.", body = Errors),
        (status = 503, response = Unavailable),
    ),
    security(("session" = [])),
)]
#[allow(dead_code)]
fn purchase() {}

/// Cancel a purchase
///
/// Lets go of its units; a paid purchase cannot be cancelled. Publishes
/// `purchase:cancelled`.
#[utoipa::path(
    delete,
    path = "/api/purchases/{id}",
    impl_for = Cancel,
    params(("id" = String, Path, description = "The purchase's id.")),
    responses(
        (status = 204, description = "Cancelled."),
        (status = 400, description = "The purchase is paid.", body = Errors),
        (status = 401, description = "Not signed in, or not the buyer.", body = Errors),
        (status = 404, description = "No such purchase.", body = Errors),
        (status = 503, response = Unavailable),
    ),
    security(("session" = [])),
)]
#[allow(dead_code)]
fn cancel() {}
