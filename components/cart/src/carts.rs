//! The rules of carts: one per signed-in shopper and one per signed-out visitor (the
//! `cart` cookie), kept in key-value; what may be added (a known product, no more than can
//! still be bought, at most [`MAX_QUANTITY`] of one and [`MAX_LINES`] products); a cart
//! left unchanged for [`IDLE_MS`] is dropped; a visitor's cart moves into the shopper's on
//! the first cart request after signing in.
//!
//! Two requests changing one cart at the same moment: the last write wins (key-value has
//! no transaction); a cart is one shopper's, so this is two tabs racing, not a lost sale —
//! the checkout is what holds stock, in SQL.

use boxoffice_shared::kv::KeyValue;
use boxoffice_shared::sql::Db;
use boxoffice_shared::{ids, ApiError};

use boxoffice_shared::money::Price;

use crate::model::{Cart, CartLine, CartView, Item, Shipping};
use crate::{pricing, storage};

/// The most units of one product a cart holds.
pub const MAX_QUANTITY: i64 = 99;
/// The most products a cart holds.
pub const MAX_LINES: usize = 50;
/// How long a cart lives unchanged: a day.
pub const IDLE_MS: i64 = 24 * 60 * 60 * 1000;

/// Whose cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// A signed-in shopper's, by user id.
    User(String),
    /// A signed-out visitor's, by the id in the `cart` cookie.
    Visitor(String),
}

impl Owner {
    /// A new visitor's cart id.
    pub fn new_visitor() -> Self {
        Self::Visitor(ids::new_id())
    }

    fn key(&self) -> String {
        match self {
            Self::User(id) => format!("cart:user:{id}"),
            Self::Visitor(id) => format!("cart:visitor:{id}"),
        }
    }
}

/// The cart of `owner` at `now_ms`: empty when there is none, or it was left unchanged
/// for a day (then it is deleted), or what is stored cannot be read (logged).
pub fn load(kv: &dyn KeyValue, owner: &Owner, now_ms: i64) -> Result<Cart, ApiError> {
    let key = owner.key();
    let Some(bytes) = kv.get(&key)? else {
        return Ok(Cart::default());
    };
    match serde_json::from_slice::<Cart>(&bytes) {
        Ok(cart) if now_ms - cart.updated_at_ms < IDLE_MS => Ok(cart),
        Ok(_) => {
            kv.delete(&key)?;
            Ok(Cart::default())
        }
        Err(e) => {
            eprintln!("cart: dropping the unreadable cart {key}: {e}");
            kv.delete(&key)?;
            Ok(Cart::default())
        }
    }
}

/// Stores `cart` for `owner` as changed at `now_ms`; an empty cart with no shipping is
/// deleted instead.
pub fn save(
    kv: &dyn KeyValue,
    owner: &Owner,
    mut cart: Cart,
    now_ms: i64,
) -> Result<Cart, ApiError> {
    if cart.items.is_empty() && cart.shipping.is_none() {
        kv.delete(&owner.key())?;
        return Ok(Cart::default());
    }
    cart.updated_at_ms = now_ms;
    let bytes = serde_json::to_vec(&cart).map_err(ApiError::internal)?;
    kv.set(&owner.key(), &bytes)?;
    Ok(cart)
}

/// Deletes the cart of `owner`.
pub fn clear(kv: &dyn KeyValue, owner: &Owner) -> Result<(), ApiError> {
    Ok(kv.delete(&owner.key())?)
}

/// Moves the visitor's cart `visitor` into the shopper `user`'s: quantities add up (at
/// most [`MAX_QUANTITY`] each, [`MAX_LINES`] lines), the shopper's shipping stays when
/// chosen. The visitor's cart is deleted.
pub fn merge(
    kv: &dyn KeyValue,
    visitor: &Owner,
    user: &Owner,
    now_ms: i64,
) -> Result<(), ApiError> {
    let from = load(kv, visitor, now_ms)?;
    if from.items.is_empty() && from.shipping.is_none() {
        return clear(kv, visitor);
    }
    let mut into = load(kv, user, now_ms)?;
    for item in from.items {
        let lines = into.items.len();
        match into.items.iter_mut().find(|i| i.sku == item.sku) {
            Some(line) => line.quantity = (line.quantity + item.quantity).min(MAX_QUANTITY),
            None if lines < MAX_LINES => into.items.push(item),
            None => {}
        }
    }
    if into.shipping.is_none() {
        into.shipping = from.shipping;
    }
    save(kv, user, into, now_ms)?;
    clear(kv, visitor)
}

/// The refusal when `wanted` units of `sku` are more than can be bought.
fn short(db: &dyn Db, sku: &str, wanted: i64) -> Result<(), ApiError> {
    let product = storage::find_product(db, sku)?.ok_or(ApiError::NotFound)?;
    let available = product.available();
    if wanted <= available {
        return Ok(());
    }
    Err(ApiError::bad_request(if available == 0 {
        format!("{} is out of stock", product.name)
    } else {
        format!("Only {available} of {} left", product.name)
    }))
}

/// Adds `quantity` of `sku` to `cart`: 404 unknown product; 400 out of stock, more than
/// left, more than [`MAX_QUANTITY`] in all, or a new line past [`MAX_LINES`].
pub fn add(db: &dyn Db, mut cart: Cart, sku: &str, quantity: i64) -> Result<Cart, ApiError> {
    storage::find_product(db, sku)?.ok_or(ApiError::NotFound)?;
    let held = cart
        .items
        .iter()
        .find(|i| i.sku == sku)
        .map_or(0, |i| i.quantity);
    let wanted = held + quantity;
    if wanted > MAX_QUANTITY {
        return Err(ApiError::bad_request(format!(
            "A cart holds at most {MAX_QUANTITY} of one product"
        )));
    }
    if held == 0 && cart.items.len() >= MAX_LINES {
        return Err(ApiError::bad_request(format!(
            "A cart holds at most {MAX_LINES} products"
        )));
    }
    short(db, sku, wanted)?;
    match cart.items.iter_mut().find(|i| i.sku == sku) {
        Some(line) => line.quantity = wanted,
        None => cart.items.push(Item {
            sku: sku.to_owned(),
            quantity,
        }),
    }
    Ok(cart)
}

/// Sets the quantity of `sku` in `cart` (0 removes it): 404 when the cart does not hold
/// it; 400 more than left.
pub fn set_quantity(
    db: &dyn Db,
    mut cart: Cart,
    sku: &str,
    quantity: i64,
) -> Result<Cart, ApiError> {
    if quantity == 0 {
        return remove(cart, sku);
    }
    let line = cart
        .items
        .iter_mut()
        .find(|i| i.sku == sku)
        .ok_or(ApiError::NotFound)?;
    if quantity > line.quantity {
        short(db, sku, quantity)?;
    }
    line.quantity = quantity;
    Ok(cart)
}

/// Removes `sku` from `cart`: 404 when the cart does not hold it.
pub fn remove(mut cart: Cart, sku: &str) -> Result<Cart, ApiError> {
    let position = cart
        .items
        .iter()
        .position(|i| i.sku == sku)
        .ok_or(ApiError::NotFound)?;
    cart.items.remove(position);
    Ok(cart)
}

/// `cart` shipping with `quote`.
pub fn ship(mut cart: Cart, quote: Shipping) -> Cart {
    cart.shipping = Some(quote);
    cart
}

/// `cart` as shown: each line at its product's price now and with how many are left, and
/// the totals with tax at `tax_basis_points`. A line whose product the replica has lost
/// is left out.
pub fn view(db: &dyn Db, cart: &Cart, tax_basis_points: i64) -> Result<CartView, ApiError> {
    let mut items = Vec::with_capacity(cart.items.len());
    for item in &cart.items {
        let Some(product) = storage::find_product(db, &item.sku)? else {
            continue;
        };
        items.push(CartLine {
            line_total: pricing::line_total(product.price, item.quantity),
            available: product.available(),
            sku: product.sku,
            name: product.name,
            price: product.price,
            quantity: item.quantity,
        });
    }
    let subtotal = Price::from_cents(items.iter().map(|l| l.line_total.cents()).sum());
    let shipping_cost = cart.shipping.as_ref().map(|s| s.cost);
    let (tax, total) = pricing::totals(subtotal, shipping_cost, tax_basis_points);
    Ok(CartView {
        count: items.iter().map(|l| l.quantity).sum(),
        items,
        subtotal,
        shipping: cart.shipping.clone(),
        tax_rate: pricing::percent(tax_basis_points),
        tax,
        total,
    })
}
