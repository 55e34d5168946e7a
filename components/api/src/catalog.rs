//! The catalog component: the goods for sale, their search and their stock
//! (docs/catalog.md), and its event route.

use serde::Serialize;
use utoipa::ToSchema;

use crate::events::event_route;
use crate::route::operations;
use crate::schemas::{Errors, Unavailable};

operations!("catalog":
    /// `GET /api/products`
    List in "catalog",
    /// `GET /api/products/{sku}`
    Show in "catalog",
    /// `POST /api/products`
    Create in "catalog",
    /// `PUT /api/products/{sku}`
    Edit in "catalog",
    /// `GET /api/categories`
    Categories in "catalog",
    /// `POST /internal/events/catalog`
    Deliver in "events",
);

event_route!(Deliver, "/internal/events/catalog", "catalog");

/// A new product.
#[derive(Serialize, ToSchema)]
pub struct ProductInput {
    /// The stock-keeping unit, the product's id: 3 to 32 of `A-Z`, `0-9` and `-`, starting
    /// with a letter or digit; lower case is accepted and stored upper-cased.
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9-]{2,31}$", example = "TEE-BLK-M")]
    pub sku: String,
    /// 1 to 120 characters once trimmed.
    #[schema(min_length = 1, max_length = 120, example = "Tour T-shirt, black")]
    pub name: String,
    /// At most 2000 characters; empty when left out.
    #[schema(
        max_length = 2000,
        example = "Organic cotton, printed with the tour dates."
    )]
    pub description: Option<String>,
    /// US dollars: what Stripe can charge (0.50 to 999,999.99), at most 2 decimals.
    #[schema(minimum = 0.5, maximum = 999999.99, multiple_of = 0.01, example = 25)]
    pub price: f64,
    /// Units in stock: 0 to 1,000,000.
    #[schema(minimum = 0, maximum = 1000000, example = 40)]
    pub stock: i64,
    /// At most 5 slugs of `a-z`, `0-9` and `-` (1 to 32 characters, trimmed and
    /// lower-cased; repeats count once); none when left out.
    #[schema(max_items = 5, example = json!(["merch", "apparel"]))]
    pub categories: Option<Vec<String>>,
}

/// A product's new details: everything but its sku.
#[derive(Serialize, ToSchema)]
pub struct ProductEdit {
    /// 1 to 120 characters once trimmed.
    #[schema(min_length = 1, max_length = 120, example = "Tour T-shirt, black")]
    pub name: String,
    /// At most 2000 characters; empty when left out.
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// US dollars: what Stripe can charge (0.50 to 999,999.99), at most 2 decimals.
    #[schema(minimum = 0.5, maximum = 999999.99, multiple_of = 0.01)]
    pub price: f64,
    /// Units in stock: 0 to 1,000,000.
    #[schema(minimum = 0, maximum = 1000000)]
    pub stock: i64,
    /// At most 5 category slugs; none when left out.
    #[schema(max_items = 5)]
    pub categories: Option<Vec<String>>,
}

/// A product.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    /// The stock-keeping unit (upper case): its id.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Description (may be empty).
    pub description: String,
    /// US dollars.
    pub price: f64,
    /// Units in stock; never below 0.
    pub stock: i64,
    /// Its categories, sorted.
    pub categories: Vec<String>,
    /// The seller.
    pub user_id: String,
    /// Goes up by exactly 1 on every change, a sale included.
    pub version: i64,
}

/// A category and how many products are in it.
#[derive(Serialize, ToSchema)]
pub struct Category {
    /// The category's slug.
    pub name: String,
    /// How many products are in it.
    pub count: i64,
}

/// The products
///
/// Newest first; with `q`, the best matches of its words in the name and description first
/// (Postgres full-text search in production, SQLite FTS5 embedded).
#[utoipa::path(
    get,
    path = "/api/products",
    impl_for = List,
    params(
        ("q" = Option<String>, Query, description = "Words to search the name and description for, at most 200 characters; empty means no search."),
        ("category" = Option<String>, Query, description = "Only the products of this category."),
        ("limit" = Option<i64>, Query, description = "How many, 1 to 100 (24 by default).", minimum = 1, maximum = 100),
        ("offset" = Option<i64>, Query, description = "How many to skip (0 by default).", minimum = 0),
    ),
    responses(
        (status = 200, description = "A page of products.", body = Vec<Product>),
        (status = 400, description = "An invalid q, category, limit or offset (the field says which).", body = Errors),
        (status = 503, response = Unavailable),
    ),
)]
#[allow(dead_code)]
fn list() {}

/// A product
#[utoipa::path(
    get,
    path = "/api/products/{sku}",
    impl_for = Show,
    params(("sku" = String, Path, description = "The product's sku (any case).")),
    responses(
        (status = 200, description = "The product.", body = Product),
        (status = 404, description = "No such product.", body = Errors),
        (status = 503, response = Unavailable),
    ),
)]
#[allow(dead_code)]
fn show() {}

/// Put a product on sale
///
/// Publishes `product:created`.
#[utoipa::path(
    post,
    path = "/api/products",
    impl_for = Create,
    request_body = ProductInput,
    responses(
        (status = 201, description = "The product, at version 0.", body = Product),
        (status = 400, description = "An invalid field, or the sku is in use (\"SKU in use\").", body = Errors),
        (status = 401, description = "Not signed in (checked before the body).", body = Errors),
        (status = 503, response = Unavailable),
    ),
    security(("session" = [])),
)]
#[allow(dead_code)]
fn create() {}

/// Edit a product
///
/// Only its seller may. Publishes `product:updated`.
#[utoipa::path(
    put,
    path = "/api/products/{sku}",
    impl_for = Edit,
    params(("sku" = String, Path, description = "The product's sku (any case).")),
    request_body = ProductEdit,
    responses(
        (status = 200, description = "The product, version + 1.", body = Product),
        (status = 400, description = "An invalid field.", body = Errors),
        (status = 401, description = "Not signed in, or not the seller.", body = Errors),
        (status = 404, description = "No such product.", body = Errors),
        (status = 503, response = Unavailable),
    ),
    security(("session" = [])),
)]
#[allow(dead_code)]
fn edit() {}

/// The categories
///
/// Every category that has a product, by name, with its count of products.
#[utoipa::path(
    get,
    path = "/api/categories",
    impl_for = Categories,
    responses(
        (status = 200, description = "The categories, sorted by name.", body = Vec<Category>),
        (status = 503, response = Unavailable),
    ),
)]
#[allow(dead_code)]
fn categories() {}
