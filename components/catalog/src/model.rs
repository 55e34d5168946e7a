//! The entities of the catalog.

use boxoffice_shared::money::Price;
use serde::Serialize;

/// A product, as stored and as shown: `{sku, name, description, price, stock,
/// categories, userId, version}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    /// The stock-keeping unit, upper case: its id.
    pub sku: String,
    /// Name, trimmed.
    pub name: String,
    /// Description, trimmed; may be empty.
    pub description: String,
    /// Price.
    pub price: Price,
    /// Units in stock, never below 0.
    pub stock: i64,
    /// Its category slugs, sorted, each once.
    pub categories: Vec<String>,
    /// The seller.
    pub user_id: String,
    /// Goes up by exactly 1 on every change, a sale included.
    pub version: i64,
}

/// What a seller says about a product, checked: everything but its sku.
#[derive(Debug, Clone, PartialEq)]
pub struct Details {
    /// Name, trimmed.
    pub name: String,
    /// Description, trimmed.
    pub description: String,
    /// Price.
    pub price: Price,
    /// Units in stock.
    pub stock: i64,
    /// Category slugs, sorted, each once.
    pub categories: Vec<String>,
}

/// A category and how many products are in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Category {
    /// The slug.
    pub name: String,
    /// How many products are in it.
    pub count: i64,
}

/// Which page of which products a listing shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// Words to search the name and description for; `None` lists newest first.
    pub search: Option<String>,
    /// Only this category's products.
    pub category: Option<String>,
    /// How many, 1 to 100.
    pub limit: i64,
    /// How many to skip.
    pub offset: i64,
}
