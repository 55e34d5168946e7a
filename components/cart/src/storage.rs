//! The cart service's tables: its replica of products (with `held`, the units its open
//! purchases hold), the purchases and their lines, and the outbox and processed-event ids.
//!
//! Money is integer cents, times unix milliseconds. A checkout holds units with one
//! conditional `UPDATE ... SET held = held + n WHERE stock - held >= n` per product: the
//! database decides, so concurrent checkouts can never hold more than the stock. A line
//! is `settled` once the catalog has taken its units out of stock (`product:updated`
//! naming the purchase); its hold is let go then, or when the purchase is cancelled.

use boxoffice_shared::events::OrderStatus;
use boxoffice_shared::holds;
use boxoffice_shared::money::Price;
use boxoffice_shared::sql::{Db, Row, SqlError};
use boxoffice_shared::{consume, outbox};

use crate::model::{Product, Purchase, PurchaseLine, Shipment, Shipping};
use crate::pricing;
use crate::SERVICE;

/// The statements creating the cart service's tables.
pub fn migrations() -> Vec<String> {
    vec![
        "CREATE TABLE IF NOT EXISTS cart_products (\
            sku TEXT PRIMARY KEY, \
            name TEXT NOT NULL, \
            price_cents BIGINT NOT NULL, \
            stock BIGINT NOT NULL, \
            held BIGINT NOT NULL, \
            version BIGINT NOT NULL)"
            .to_owned(),
        "CREATE TABLE IF NOT EXISTS cart_purchases (\
            id TEXT PRIMARY KEY, \
            user_id TEXT NOT NULL, \
            status TEXT NOT NULL, \
            expires_at BIGINT NOT NULL, \
            version BIGINT NOT NULL, \
            created_at BIGINT NOT NULL, \
            updated_at BIGINT NOT NULL, \
            city TEXT NOT NULL, \
            city_name TEXT NOT NULL, \
            country TEXT NOT NULL, \
            shipping_cents BIGINT NOT NULL, \
            subtotal_cents BIGINT NOT NULL, \
            tax_cents BIGINT NOT NULL, \
            total_cents BIGINT NOT NULL, \
            shipment_id TEXT, \
            dispatched_at BIGINT)"
            .to_owned(),
        "CREATE INDEX IF NOT EXISTS cart_purchases_by_user ON cart_purchases (user_id, created_at)"
            .to_owned(),
        "CREATE INDEX IF NOT EXISTS cart_purchases_by_expiry ON cart_purchases (status, expires_at)"
            .to_owned(),
        "CREATE TABLE IF NOT EXISTS cart_purchase_lines (\
            purchase_id TEXT NOT NULL, \
            sku TEXT NOT NULL, \
            name TEXT NOT NULL, \
            price_cents BIGINT NOT NULL, \
            quantity BIGINT NOT NULL, \
            settled INTEGER NOT NULL, \
            PRIMARY KEY (purchase_id, sku))"
            .to_owned(),
        consume::create_processed_table(SERVICE),
        holds::create_buyers_table(SERVICE),
    ]
    .into_iter()
    .chain(outbox::migrations(SERVICE))
    .collect()
}

fn product(row: &Row) -> Result<Product, SqlError> {
    Ok(Product {
        sku: row.text("sku")?,
        name: row.text("name")?,
        price: Price::from_cents(row.int("price_cents")?),
        stock: row.int("stock")?,
        held: row.int("held")?,
        version: row.int("version")?,
    })
}

/// The replica of product `sku`, if known.
pub fn find_product(db: &dyn Db, sku: &str) -> Result<Option<Product>, SqlError> {
    db.query(
        "SELECT sku, name, price_cents, stock, held, version FROM cart_products WHERE sku = $1",
        &[sku.into()],
    )?
    .first()
    .map(product)
    .transpose()
}

/// Adds a product to the replica, nothing held.
pub fn insert_product(db: &dyn Db, product: &Product) -> Result<(), SqlError> {
    db.execute(
        "INSERT INTO cart_products (sku, name, price_cents, stock, held, version) \
         VALUES ($1, $2, $3, $4, 0, $5)",
        &[
            (&product.sku).into(),
            (&product.name).into(),
            product.price.cents().into(),
            product.stock.into(),
            product.version.into(),
        ],
    )?;
    Ok(())
}

/// Stores the catalog's next version of a product if the replica is still at the one
/// before (its holds stay as they are); false otherwise.
pub fn update_product(db: &dyn Db, product: &Product) -> Result<bool, SqlError> {
    Ok(db.execute(
        "UPDATE cart_products SET name = $1, price_cents = $2, stock = $3, version = $4 \
         WHERE sku = $5 AND version = $6",
        &[
            (&product.name).into(),
            product.price.cents().into(),
            product.stock.into(),
            product.version.into(),
            (&product.sku).into(),
            (product.version - 1).into(),
        ],
    )? == 1)
}

/// Holds `quantity` units of `sku` if that many are not held yet; false when fewer are
/// left (or the product is unknown).
pub fn hold(db: &dyn Db, sku: &str, quantity: i64) -> Result<bool, SqlError> {
    Ok(db.execute(
        "UPDATE cart_products SET held = held + $1 WHERE sku = $2 AND stock - held >= $1",
        &[quantity.into(), sku.into()],
    )? == 1)
}

/// Lets go of `quantity` held units of `sku`.
pub fn release(db: &dyn Db, sku: &str, quantity: i64) -> Result<(), SqlError> {
    db.execute(
        "UPDATE cart_products \
         SET held = CASE WHEN held >= $1 THEN held - $1 ELSE 0 END WHERE sku = $2",
        &[quantity.into(), sku.into()],
    )?;
    Ok(())
}

/// Marks the line of `sku` in purchase `purchase_id` settled; its quantity when this call
/// settled it, `None` when there is no such line or it was settled already.
pub fn settle_line(db: &dyn Db, purchase_id: &str, sku: &str) -> Result<Option<i64>, SqlError> {
    let changed = db.execute(
        "UPDATE cart_purchase_lines SET settled = 1 \
         WHERE purchase_id = $1 AND sku = $2 AND settled = 0",
        &[purchase_id.into(), sku.into()],
    )?;
    if changed == 0 {
        return Ok(None);
    }
    db.query(
        "SELECT quantity FROM cart_purchase_lines WHERE purchase_id = $1 AND sku = $2",
        &[purchase_id.into(), sku.into()],
    )?
    .first()
    .map(|row| row.int("quantity"))
    .transpose()
}

/// Inserts a new purchase and its lines.
pub fn insert_purchase(db: &dyn Db, purchase: &Purchase) -> Result<(), SqlError> {
    db.execute(
        "INSERT INTO cart_purchases (id, user_id, status, expires_at, version, created_at, \
         updated_at, city, city_name, country, shipping_cents, subtotal_cents, tax_cents, \
         total_cents) VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10, $11, $12, $13)",
        &[
            (&purchase.id).into(),
            (&purchase.user_id).into(),
            purchase.status.as_str().into(),
            purchase.expires_at_ms.into(),
            purchase.version.into(),
            purchase.updated_at_ms.into(),
            (&purchase.shipping.city).into(),
            (&purchase.shipping.name).into(),
            (&purchase.shipping.country).into(),
            purchase.shipping.cost.cents().into(),
            purchase.subtotal.cents().into(),
            purchase.tax.cents().into(),
            purchase.total.cents().into(),
        ],
    )?;
    for line in &purchase.lines {
        db.execute(
            "INSERT INTO cart_purchase_lines (purchase_id, sku, name, price_cents, quantity, \
             settled) VALUES ($1, $2, $3, $4, $5, 0)",
            &[
                (&purchase.id).into(),
                (&line.sku).into(),
                (&line.name).into(),
                line.price.cents().into(),
                line.quantity.into(),
            ],
        )?;
    }
    Ok(())
}

const PURCHASE_COLUMNS: &str = "id, user_id, status, expires_at, updated_at, version, city, \
     city_name, country, shipping_cents, subtotal_cents, tax_cents, total_cents, shipment_id, \
     dispatched_at";

fn purchase(db: &dyn Db, row: &Row) -> Result<Purchase, SqlError> {
    let id = row.text("id")?;
    let lines = db
        .query(
            "SELECT sku, name, price_cents, quantity FROM cart_purchase_lines \
             WHERE purchase_id = $1 ORDER BY sku",
            &[(&id).into()],
        )?
        .iter()
        .map(|line| {
            let price = Price::from_cents(line.int("price_cents")?);
            let quantity = line.int("quantity")?;
            Ok(PurchaseLine {
                sku: line.text("sku")?,
                name: line.text("name")?,
                price,
                quantity,
                line_total: pricing::line_total(price, quantity),
            })
        })
        .collect::<Result<_, SqlError>>()?;
    let shipment = match (row.opt_text("shipment_id")?, row.opt_int("dispatched_at")?) {
        (Some(id), Some(dispatched_at_ms)) => Some(Shipment {
            id,
            dispatched_at_ms,
        }),
        _ => None,
    };
    Ok(Purchase {
        id,
        user_id: row.text("user_id")?,
        status: OrderStatus::from_row(row, "status")?,
        expires_at_ms: row.int("expires_at")?,
        updated_at_ms: row.int("updated_at")?,
        version: row.int("version")?,
        lines,
        subtotal: Price::from_cents(row.int("subtotal_cents")?),
        shipping: Shipping {
            city: row.text("city")?,
            name: row.text("city_name")?,
            country: row.text("country")?,
            cost: Price::from_cents(row.int("shipping_cents")?),
        },
        tax: Price::from_cents(row.int("tax_cents")?),
        total: Price::from_cents(row.int("total_cents")?),
        shipment,
    })
}

/// The purchase `id` with its lines, if any.
pub fn find_purchase(db: &dyn Db, id: &str) -> Result<Option<Purchase>, SqlError> {
    db.query(
        &format!("SELECT {PURCHASE_COLUMNS} FROM cart_purchases WHERE id = $1"),
        &[id.into()],
    )?
    .first()
    .map(|row| purchase(db, row))
    .transpose()
}

/// The purchases of `user_id`, oldest first.
pub fn list_purchases(db: &dyn Db, user_id: &str) -> Result<Vec<Purchase>, SqlError> {
    db.query(
        &format!(
            "SELECT {PURCHASE_COLUMNS} FROM cart_purchases WHERE user_id = $1 \
             ORDER BY created_at, id"
        ),
        &[user_id.into()],
    )?
    .iter()
    .map(|row| purchase(db, row))
    .collect()
}

/// Stores the next status and version of a purchase if the stored version is still the
/// one before; false if another writer changed it first.
pub fn save_purchase_next_version(db: &dyn Db, purchase: &Purchase) -> Result<bool, SqlError> {
    Ok(db.execute(
        "UPDATE cart_purchases SET status = $1, version = $2, updated_at = $3 \
         WHERE id = $4 AND version = $5",
        &[
            purchase.status.as_str().into(),
            purchase.version.into(),
            purchase.updated_at_ms.into(),
            (&purchase.id).into(),
            (purchase.version - 1).into(),
        ],
    )? == 1)
}

/// Records the dispatch of purchase `id` (once: a second one changes nothing); false when
/// there is no such purchase.
pub fn record_shipment(db: &dyn Db, id: &str, shipment: &Shipment) -> Result<bool, SqlError> {
    db.execute(
        "UPDATE cart_purchases SET shipment_id = $1, dispatched_at = $2 \
         WHERE id = $3 AND shipment_id IS NULL",
        &[
            (&shipment.id).into(),
            shipment.dispatched_at_ms.into(),
            id.into(),
        ],
    )?;
    Ok(!db
        .query("SELECT id FROM cart_purchases WHERE id = $1", &[id.into()])?
        .is_empty())
}

/// The ids of purchases still `created` whose hold lapsed at `now_ms`, soonest first, at
/// most `limit`.
pub fn lapsed_purchases(db: &dyn Db, now_ms: i64, limit: i64) -> Result<Vec<String>, SqlError> {
    db.query(
        "SELECT id FROM cart_purchases WHERE status = $1 AND expires_at <= $2 \
         ORDER BY expires_at, id LIMIT $3",
        &[
            OrderStatus::Created.as_str().into(),
            now_ms.into(),
            limit.into(),
        ],
    )?
    .iter()
    .map(|row| row.text("id"))
    .collect()
}
