//! The catalog's tables, its search on either engine, and the outbox and processed-event
//! ids that carry its events out and in.
//!
//! Money is integer cents, times unix milliseconds. A product row carries its categories
//! (sorted slugs, space-separated) for showing; `catalog_categories` holds the same pairs
//! for filtering and counting, written in the same transaction. `catalog_sold` has one row
//! per purchase and product whose units left stock: its primary key is what takes them
//! out once, whatever event brings the purchase.
//!
//! Search is the one place the engines differ (docs/catalog.md): on Postgres an expression
//! GIN index over `to_tsvector('english', name || ' ' || description)`; on SQLite an FTS5
//! table `catalog_products_fts` that triggers keep in step with `catalog_products`, inside
//! the writing transaction. [`migrations`] makes the right one and [`search`] asks it; no
//! other code knows which engine it runs on.

use boxoffice_shared::money::Price;
use boxoffice_shared::sql::{Db, Dialect, Row, SqlError, Value};
use boxoffice_shared::{consume, outbox};

use crate::model::{Category, Details, Listing, Product};
use crate::SERVICE;

/// The statements creating the catalog's tables on the engine `dialect`.
pub fn migrations(dialect: Dialect) -> Vec<String> {
    let tables = [
        "CREATE TABLE IF NOT EXISTS catalog_products (\
            sku TEXT PRIMARY KEY, \
            name TEXT NOT NULL, \
            description TEXT NOT NULL, \
            price_cents BIGINT NOT NULL, \
            stock BIGINT NOT NULL, \
            categories TEXT NOT NULL, \
            user_id TEXT NOT NULL, \
            version BIGINT NOT NULL, \
            created_at BIGINT NOT NULL, \
            updated_at BIGINT NOT NULL)",
        // The listing reads the newest products from here, without sorting them all.
        "CREATE INDEX IF NOT EXISTS catalog_products_newest \
            ON catalog_products (created_at, sku)",
        "CREATE TABLE IF NOT EXISTS catalog_categories (\
            category TEXT NOT NULL, \
            sku TEXT NOT NULL, \
            PRIMARY KEY (category, sku))",
        "CREATE INDEX IF NOT EXISTS catalog_categories_by_sku ON catalog_categories (sku)",
        "CREATE TABLE IF NOT EXISTS catalog_sold (\
            purchase_id TEXT NOT NULL, \
            sku TEXT NOT NULL, \
            quantity BIGINT NOT NULL, \
            sold_at BIGINT NOT NULL, \
            PRIMARY KEY (purchase_id, sku))",
    ];
    let search: &[&str] = match dialect {
        Dialect::Postgres => &["CREATE INDEX IF NOT EXISTS catalog_products_search \
            ON catalog_products USING GIN (to_tsvector('english', name || ' ' || description))"],
        // Porter stemming, as Postgres's `english` configuration stems. The triggers keep
        // the index in the writer's transaction; a sale (stock only) leaves it alone.
        Dialect::Sqlite => &[
            "CREATE VIRTUAL TABLE IF NOT EXISTS catalog_products_fts USING fts5(\
                sku UNINDEXED, name, description, tokenize = 'porter unicode61')",
            "CREATE TRIGGER IF NOT EXISTS catalog_products_fts_insert \
                AFTER INSERT ON catalog_products BEGIN \
                INSERT INTO catalog_products_fts (sku, name, description) \
                VALUES (new.sku, new.name, new.description); END",
            "CREATE TRIGGER IF NOT EXISTS catalog_products_fts_update \
                AFTER UPDATE OF name, description ON catalog_products \
                WHEN old.name IS NOT new.name OR old.description IS NOT new.description BEGIN \
                DELETE FROM catalog_products_fts WHERE sku = old.sku; \
                INSERT INTO catalog_products_fts (sku, name, description) \
                VALUES (new.sku, new.name, new.description); END",
        ],
    };
    tables
        .iter()
        .chain(search)
        .map(|s| (*s).to_owned())
        .chain([consume::create_processed_table(SERVICE)])
        .chain(outbox::migrations(SERVICE))
        .collect()
}

const COLUMNS: &str =
    "p.sku, p.name, p.description, p.price_cents, p.stock, p.categories, p.user_id, p.version";

fn product(row: &Row) -> Result<Product, SqlError> {
    Ok(Product {
        sku: row.text("sku")?,
        name: row.text("name")?,
        description: row.text("description")?,
        price: Price::from_cents(row.int("price_cents")?),
        stock: row.int("stock")?,
        categories: row
            .text("categories")?
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        user_id: row.text("user_id")?,
        version: row.int("version")?,
    })
}

fn write_categories(db: &dyn Db, sku: &str, categories: &[String]) -> Result<(), SqlError> {
    db.execute(
        "DELETE FROM catalog_categories WHERE sku = $1",
        &[sku.into()],
    )?;
    for category in categories {
        db.execute(
            "INSERT INTO catalog_categories (category, sku) VALUES ($1, $2)",
            &[category.into(), sku.into()],
        )?;
    }
    Ok(())
}

/// Inserts a new product and its categories; a [`SqlError::UniqueViolation`] when the
/// sku is taken.
pub fn insert(db: &dyn Db, product: &Product, now_ms: i64) -> Result<(), SqlError> {
    db.execute(
        "INSERT INTO catalog_products \
         (sku, name, description, price_cents, stock, categories, user_id, version, \
          created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        &[
            (&product.sku).into(),
            (&product.name).into(),
            (&product.description).into(),
            product.price.cents().into(),
            product.stock.into(),
            product.categories.join(" ").into(),
            (&product.user_id).into(),
            product.version.into(),
            now_ms.into(),
        ],
    )?;
    write_categories(db, &product.sku, &product.categories)
}

/// The product `sku` (as stored), if any.
pub fn find(db: &dyn Db, sku: &str) -> Result<Option<Product>, SqlError> {
    db.query(
        &format!("SELECT {COLUMNS} FROM catalog_products p WHERE p.sku = $1"),
        &[sku.into()],
    )?
    .first()
    .map(product)
    .transpose()
}

/// Stores the seller's `details` of `product` as its next version if the stored version
/// is still `product.version`; the new product, or `None` if someone changed it first.
pub fn save_details(
    db: &dyn Db,
    product: &Product,
    details: &Details,
    now_ms: i64,
) -> Result<Option<Product>, SqlError> {
    let changed = db.execute(
        "UPDATE catalog_products \
         SET name = $1, description = $2, price_cents = $3, stock = $4, categories = $5, \
             version = version + 1, updated_at = $6 \
         WHERE sku = $7 AND version = $8",
        &[
            (&details.name).into(),
            (&details.description).into(),
            details.price.cents().into(),
            details.stock.into(),
            details.categories.join(" ").into(),
            now_ms.into(),
            (&product.sku).into(),
            product.version.into(),
        ],
    )?;
    if changed != 1 {
        return Ok(None);
    }
    if details.categories != product.categories {
        write_categories(db, &product.sku, &details.categories)?;
    }
    find(db, &product.sku)
}

/// Records that purchase `purchase_id` took `quantity` units of `sku`; false when it was
/// recorded before (the purchase came again), so that its units leave stock once.
pub fn record_sale(
    db: &dyn Db,
    purchase_id: &str,
    sku: &str,
    quantity: i64,
    now_ms: i64,
) -> Result<bool, SqlError> {
    let recorded = db.execute(
        "INSERT INTO catalog_sold (purchase_id, sku, quantity, sold_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (purchase_id, sku) DO NOTHING",
        &[
            purchase_id.into(),
            sku.into(),
            quantity.into(),
            now_ms.into(),
        ],
    )?;
    Ok(recorded == 1)
}

/// Takes `quantity` units of `sku` out of stock, version + 1, if it has that many; false
/// otherwise.
pub fn take_stock(
    db: &dyn Db,
    sku: &str,
    quantity: i64,
    now_ms: i64,
) -> Result<Option<Product>, SqlError> {
    changed(
        db,
        "UPDATE catalog_products SET stock = stock - $1, version = version + 1, updated_at = $2 \
         WHERE sku = $3 AND stock >= $1",
        &[quantity.into(), now_ms.into(), sku.into()],
    )
}

/// The product as `update` (one `UPDATE` of one row) left it, read in the same statement
/// (`RETURNING`): where statements commit one by one (wasmCloud), a read after it could
/// see another sale's version, and two events would carry one version.
fn changed(db: &dyn Db, update: &str, params: &[Value]) -> Result<Option<Product>, SqlError> {
    let returning = COLUMNS.replace("p.", "");
    db.query(&format!("{update} RETURNING {returning}"), params)?
        .first()
        .map(product)
        .transpose()
}

/// Empties the stock of `sku`, version + 1, if it still holds exactly `stock` units;
/// false if it changed meanwhile.
pub fn empty_stock(
    db: &dyn Db,
    sku: &str,
    stock: i64,
    now_ms: i64,
) -> Result<Option<Product>, SqlError> {
    changed(
        db,
        "UPDATE catalog_products SET stock = 0, version = version + 1, updated_at = $1 \
         WHERE sku = $2 AND stock = $3",
        &[now_ms.into(), sku.into(), stock.into()],
    )
}

/// The page of products `listing` asks for: newest first, or with a search the best
/// matches first, on whichever engine `db` is.
pub fn search(db: &dyn Db, listing: &Listing) -> Result<Vec<Product>, SqlError> {
    let mut params: Vec<Value> = Vec::new();
    let mut bind = |value: Value| {
        params.push(value);
        format!("${}", params.len())
    };
    let (from, mut conditions, rank) = match listing.search.as_deref() {
        None => ("catalog_products p".to_owned(), Vec::new(), String::new()),
        Some(words) => match db.dialect() {
            Dialect::Postgres => {
                let query = format!("websearch_to_tsquery('english', {})", bind(words.into()));
                (
                    "catalog_products p".to_owned(),
                    vec![format!(
                        "to_tsvector('english', p.name || ' ' || p.description) @@ {query}"
                    )],
                    // The name weighs more than the description, as on SQLite.
                    format!(
                        "ts_rank(setweight(to_tsvector('english', p.name), 'A') || \
                         setweight(to_tsvector('english', p.description), 'B'), {query}) DESC, "
                    ),
                )
            }
            Dialect::Sqlite => {
                let Some(query) = fts5_query(words) else {
                    return Ok(Vec::new());
                };
                (
                    "catalog_products_fts JOIN catalog_products p \
                     ON p.sku = catalog_products_fts.sku"
                        .to_owned(),
                    vec![format!("catalog_products_fts MATCH {}", bind(query.into()))],
                    "bm25(catalog_products_fts, 0.0, 10.0, 1.0), ".to_owned(),
                )
            }
        },
    };
    if let Some(category) = &listing.category {
        conditions.push(format!(
            "p.sku IN (SELECT sku FROM catalog_categories WHERE category = {})",
            bind(category.into())
        ));
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let (limit, offset) = (bind(listing.limit.into()), bind(listing.offset.into()));
    let sql = format!(
        "SELECT {COLUMNS} FROM {from} {filter} \
         ORDER BY {rank}p.created_at DESC, p.sku DESC LIMIT {limit} OFFSET {offset}"
    );
    db.query(&sql, &params)?.iter().map(product).collect()
}

/// `words` as an FTS5 query that is never FTS5 syntax: each whitespace-separated word a
/// quoted phrase (its `"` doubled), all of them required. Words with no letter or digit
/// would be empty phrases and are left out; `None` when nothing is left to search for.
pub fn fts5_query(words: &str) -> Option<String> {
    let phrases: Vec<String> = words
        .split_whitespace()
        .filter(|word| word.chars().any(char::is_alphanumeric))
        .map(|word| format!("\"{}\"", word.replace('"', "\"\"")))
        .collect();
    (!phrases.is_empty()).then(|| phrases.join(" "))
}

/// Every category that has a product, by name, with its count.
pub fn categories(db: &dyn Db) -> Result<Vec<Category>, SqlError> {
    db.query(
        "SELECT category, COUNT(*) AS products FROM catalog_categories \
         GROUP BY category ORDER BY category",
        &[],
    )?
    .iter()
    .map(|row| {
        Ok(Category {
            name: row.text("category")?,
            count: row.int("products")?,
        })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_shared::sql::native::NativeSqlite;
    use boxoffice_shared::testing::migrate;

    fn db() -> NativeSqlite {
        let db = NativeSqlite::open_in_memory().unwrap();
        migrate(&db, &migrations(Dialect::Sqlite)).unwrap();
        db
    }

    fn listing(search: Option<&str>) -> Listing {
        Listing {
            search: search.map(str::to_owned),
            category: None,
            limit: 24,
            offset: 0,
        }
    }

    #[test]
    fn user_text_becomes_quoted_phrases() {
        assert_eq!(
            fts5_query("red shirt").as_deref(),
            Some("\"red\" \"shirt\"")
        );
        assert_eq!(
            fts5_query("t-shirt \"big\" NOT*").as_deref(),
            Some("\"t-shirt\" \"\"\"big\"\"\" \"NOT*\"")
        );
        assert_eq!(fts5_query(" * \" ' % "), None);
        assert_eq!(fts5_query(""), None);
    }

    #[test]
    fn the_newest_listing_reads_its_index() {
        let db = db();
        let sql = format!(
            "SELECT {COLUMNS} FROM catalog_products p \
             ORDER BY p.created_at DESC, p.sku DESC LIMIT 24 OFFSET 0"
        );
        boxoffice_shared::testing::assert_reads_index(&db, &sql, &[], "catalog_products_newest");
    }

    #[test]
    fn hostile_words_never_break_the_engine() {
        let db = db();
        let product = Product {
            sku: "ABC-1".into(),
            name: "Red shirt".into(),
            description: "Soft \"cotton\" AND more".into(),
            price: Price::from_cents(100),
            stock: 1,
            categories: vec![],
            user_id: "u".into(),
            version: 0,
        };
        insert(&db, &product, 1).unwrap();
        for words in [
            "\"",
            "*",
            "'",
            "AND OR NOT",
            "%",
            "NEAR(a b)",
            "name:red",
            "red*",
            "(",
            "^red",
            "\u{301}",
            "a\"b",
            "-red",
            "+",
            "{sku}: x",
            "ünïcödé 红色",
        ] {
            assert!(search(&db, &listing(Some(words))).is_ok(), "{words}");
        }
        let long = "word ".repeat(40);
        assert!(search(&db, &listing(Some(&long))).is_ok());
        let found = |words: &str| search(&db, &listing(Some(words))).unwrap().len();
        assert_eq!(found("\"cotton\""), 1);
        assert_eq!(found("AND"), 1, "AND is a word, not an operator");
        assert_eq!(found("red*"), 1, "* is punctuation, not a prefix search");
        assert_eq!(found("re*"), 0, "* is punctuation, not a prefix search");
        assert_eq!(found("shirts"), 1, "stemmed, as on Postgres");
    }
}
