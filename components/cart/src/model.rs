//! The entities of the cart service: its replica of the catalog's products (with the
//! units its open purchases hold), the carts kept in key-value, and the purchases.

use boxoffice_shared::events::OrderStatus;
use boxoffice_shared::money::Price;
use boxoffice_shared::time;
use serde::{Deserialize, Serialize};

/// A product as the cart knows it: the catalog's (a replica), plus `held`, the units of
/// it that purchases not yet settled by the catalog hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    /// Its SKU.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Price now.
    pub price: Price,
    /// Units in stock, as the catalog last said.
    pub stock: i64,
    /// Units held by purchases open or paid but not yet taken out of `stock`.
    pub held: i64,
    /// The catalog's version of it.
    pub version: i64,
}

impl Product {
    /// How many units can still be bought.
    pub fn available(&self) -> i64 {
        (self.stock - self.held).max(0)
    }
}

/// A shipping quote for a city (the shipping service's), as a cart and a purchase keep it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shipping {
    /// The city's code.
    pub city: String,
    /// The city's name.
    pub name: String,
    /// Its country.
    pub country: String,
    /// What shipping there costs.
    pub cost: Price,
}

/// A line of a stored cart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// The product.
    pub sku: String,
    /// How many, 1 to [`crate::carts::MAX_QUANTITY`].
    pub quantity: i64,
}

/// A cart as stored in key-value, under its owner's key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cart {
    /// Its lines, in the order they were added.
    pub items: Vec<Item>,
    /// Where it ships, once chosen.
    pub shipping: Option<Shipping>,
    /// Its last change, unix milliseconds: a cart unchanged for a day is dropped.
    pub updated_at_ms: i64,
}

/// A line of a cart as shown.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CartLine {
    /// The product.
    pub sku: String,
    /// Its name.
    pub name: String,
    /// Its price now.
    pub price: Price,
    /// How many.
    pub quantity: i64,
    /// Price × quantity.
    pub line_total: Price,
    /// How many can still be bought.
    pub available: i64,
}

/// A cart as shown: `{items, count, subtotal, shipping, taxRate, tax, total}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CartView {
    /// Its lines.
    pub items: Vec<CartLine>,
    /// Units in all.
    pub count: i64,
    /// The goods.
    pub subtotal: Price,
    /// Where it ships, once chosen.
    pub shipping: Option<Shipping>,
    /// The tax rate in percent.
    pub tax_rate: f64,
    /// The tax on the goods.
    pub tax: Price,
    /// Goods, tax and shipping.
    pub total: Price,
}

/// A line of a purchase, at the price it was bought.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PurchaseLine {
    /// The product.
    pub sku: String,
    /// Its name then.
    pub name: String,
    /// Its price then.
    pub price: Price,
    /// How many.
    pub quantity: i64,
    /// Price × quantity.
    pub line_total: Price,
}

/// The dispatch of a paid purchase, as the shipping service announced it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Shipment {
    /// The shipment's id.
    pub id: String,
    /// When it left, unix milliseconds; ISO 8601 in JSON.
    #[serde(rename = "dispatchedAt", serialize_with = "time::serialize_rfc3339")]
    pub dispatched_at_ms: i64,
}

/// A purchase: a checked-out cart, paid like an order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Purchase {
    /// Id.
    pub id: String,
    /// The buyer.
    pub user_id: String,
    /// `created` (held, to pay), `cancelled` or `complete` (paid).
    pub status: OrderStatus,
    /// When the hold lapses, unix milliseconds; ISO 8601 in JSON.
    #[serde(rename = "expiresAt", serialize_with = "time::serialize_rfc3339")]
    pub expires_at_ms: i64,
    /// When its status last changed, unix milliseconds; ISO 8601 in JSON.
    #[serde(rename = "updatedAt", serialize_with = "time::serialize_rfc3339")]
    pub updated_at_ms: i64,
    /// Goes up by exactly 1 on every change.
    pub version: i64,
    /// What was bought.
    pub lines: Vec<PurchaseLine>,
    /// The goods.
    pub subtotal: Price,
    /// Where it ships.
    pub shipping: Shipping,
    /// The tax on the goods.
    pub tax: Price,
    /// Goods, tax and shipping.
    pub total: Price,
    /// Its dispatch, once sent.
    pub shipment: Option<Shipment>,
}
