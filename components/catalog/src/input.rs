//! What a client sends the catalog, checked: a product's fields (each error naming its
//! field, all of them gathered into one 400) and the listing's query string.

use boxoffice_shared::http::JsonObject;
use boxoffice_shared::{validate, ApiError, FieldError};
use serde_json::Value;

use crate::model::{Details, Listing};

/// Longest product name, after trimming.
pub const MAX_NAME_CHARS: usize = 120;
/// Longest description, after trimming.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
/// Most units a product may have in stock.
pub const MAX_STOCK: i64 = 1_000_000;
/// Most categories of one product.
pub const MAX_CATEGORIES: usize = 5;
/// Longest category slug.
pub const MAX_CATEGORY_CHARS: usize = 32;
/// Longest search text.
pub const MAX_SEARCH_CHARS: usize = 200;
/// How many products a listing shows unless asked.
pub const DEFAULT_LIMIT: i64 = 24;
/// Most products one listing shows.
pub const MAX_LIMIT: i64 = 100;

/// The message when a sku is taken.
pub const SKU_IN_USE: &str = "SKU in use";
const SKU_REQUIRED: &str = "SKU is required";
const STOCK_RANGE: &str = "Stock must be a whole number from 0 to 1000000";
const CATEGORIES_LIST: &str = "Categories must be a list of at most 5";
const CATEGORY_SHAPE: &str = "Each category must be 1 to 32 of a-z, 0-9 and -";

/// The `sku` field: required, then of the shape [`validate::sku`] takes (stored upper case).
fn sku(value: Option<&Value>) -> Result<String, FieldError> {
    if value
        .and_then(Value::as_str)
        .is_none_or(|s| s.trim().is_empty())
    {
        return Err(FieldError::new("sku", SKU_REQUIRED));
    }
    validate::sku(value)
}

fn name(value: Option<&Value>) -> Result<String, FieldError> {
    let name = value
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| FieldError::new("name", "Name is required"))?;
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(FieldError::new(
            "name",
            "Name must be at most 120 characters",
        ));
    }
    Ok(name.to_owned())
}

fn description(value: Option<&Value>) -> Result<String, FieldError> {
    let description = match value {
        None | Some(Value::Null) => "",
        Some(Value::String(text)) => text.trim(),
        Some(_) => return Err(FieldError::new("description", "Description must be text")),
    };
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(FieldError::new(
            "description",
            "Description must be at most 2000 characters",
        ));
    }
    Ok(description.to_owned())
}

fn stock(value: Option<&Value>) -> Result<i64, FieldError> {
    value
        .and_then(Value::as_i64)
        .filter(|n| (0..=MAX_STOCK).contains(n))
        .ok_or_else(|| FieldError::new("stock", STOCK_RANGE))
}

/// A category slug as stored (trimmed, lower case), if `text` is one.
pub fn normal_category(text: &str) -> Option<String> {
    let slug = text.trim().to_ascii_lowercase();
    let fits = (1..=MAX_CATEGORY_CHARS).contains(&slug.len())
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    fits.then_some(slug)
}

fn categories(value: Option<&Value>) -> Result<Vec<String>, FieldError> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(FieldError::new("categories", CATEGORIES_LIST)),
    };
    let mut slugs = items
        .iter()
        .map(|item| item.as_str().and_then(normal_category))
        .collect::<Option<Vec<String>>>()
        .ok_or_else(|| FieldError::new("categories", CATEGORY_SHAPE))?;
    slugs.sort();
    slugs.dedup();
    if slugs.len() > MAX_CATEGORIES {
        return Err(FieldError::new("categories", CATEGORIES_LIST));
    }
    Ok(slugs)
}

/// Everything but the sku, from a create or edit body; the errors of every bad field.
fn details(body: &JsonObject) -> Result<Details, Vec<FieldError>> {
    let name = name(body.get("name"));
    let description = description(body.get("description"));
    let price = validate::price(body.get("price"));
    let stock = stock(body.get("stock"));
    let categories = categories(body.get("categories"));
    match (name, description, price, stock, categories) {
        (Ok(name), Ok(description), Ok(price), Ok(stock), Ok(categories)) => Ok(Details {
            name,
            description,
            price,
            stock,
            categories,
        }),
        (name, description, price, stock, categories) => Err([
            name.err(),
            description.err(),
            price.err(),
            stock.err(),
            categories.err(),
        ]
        .into_iter()
        .flatten()
        .collect()),
    }
}

/// The sku and details of a new product (`POST /api/products`).
pub fn new_product(body: &JsonObject) -> Result<(String, Details), ApiError> {
    match (sku(body.get("sku")), details(body)) {
        (Ok(sku), Ok(details)) => Ok((sku, details)),
        (sku, details) => Err(ApiError::Validation(
            sku.err()
                .into_iter()
                .chain(details.err().into_iter().flatten())
                .collect(),
        )),
    }
}

/// The new details of a product (`PUT /api/products/{sku}`).
pub fn edited_product(body: &JsonObject) -> Result<Details, ApiError> {
    details(body).map_err(ApiError::Validation)
}

fn query_error(field: &str, message: &str) -> ApiError {
    ApiError::BadRequest {
        message: message.to_owned(),
        field: Some(field.to_owned()),
    }
}

/// The listing a query string asks for (`q`, `category`, `limit`, `offset`; the first of
/// each counts, others are ignored). Empty `q` or `category` is none.
pub fn listing(query: &str) -> Result<Listing, ApiError> {
    let mut listing = Listing {
        search: None,
        category: None,
        limit: DEFAULT_LIMIT,
        offset: 0,
    };
    let mut seen = Vec::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        if seen.contains(&key) {
            continue;
        }
        match key.as_ref() {
            "q" => {
                if value.chars().count() > MAX_SEARCH_CHARS {
                    return Err(query_error("q", "Search must be at most 200 characters"));
                }
                // Control characters (NUL above all) mean nothing to a search, and
                // Postgres refuses NUL in text.
                let words: String = value
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect();
                listing.search = Some(words.trim().to_owned()).filter(|s| !s.is_empty());
            }
            "category" if !value.trim().is_empty() => {
                listing.category = Some(
                    normal_category(&value)
                        .ok_or_else(|| query_error("category", CATEGORY_SHAPE))?,
                );
            }
            "limit" => {
                listing.limit = validate::limit(&value, MAX_LIMIT)
                    .map_err(|e| query_error("limit", &e.message))?;
            }
            "offset" => {
                listing.offset =
                    validate::offset(&value).map_err(|e| query_error("offset", &e.message))?;
            }
            _ => {}
        }
        seen.push(key);
    }
    Ok(listing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(value: Value) -> JsonObject {
        JsonObject(value.as_object().unwrap().clone())
    }

    fn fields(e: ApiError) -> Vec<(String, String)> {
        e.errors()
            .into_iter()
            .map(|e| (e.field.unwrap_or_default(), e.message))
            .collect()
    }

    fn good() -> Value {
        json!({"sku": " tee-blk-m ", "name": "  Tour T-shirt ", "price": 25, "stock": 40,
               "categories": [" Merch", "apparel", "merch"]})
    }

    #[test]
    fn a_good_product_is_cleaned_up() {
        let (sku, details) = new_product(&body(good())).unwrap();
        assert_eq!(sku, "TEE-BLK-M");
        assert_eq!(details.name, "Tour T-shirt");
        assert_eq!(details.description, "");
        assert_eq!(details.price.cents(), 2500);
        assert_eq!(details.stock, 40);
        assert_eq!(details.categories, ["apparel", "merch"]);
    }

    #[test]
    fn every_bad_field_is_named_with_its_message() {
        let bad = json!({"sku": "-x", "name": " ", "description": 5, "price": 12.345,
                         "stock": 1.5, "categories": ["ok", "Not OK"]});
        assert_eq!(
            fields(new_product(&body(bad)).unwrap_err()),
            [
                (
                    "sku",
                    "SKU must be 3 to 32 letters, digits or dashes, starting with a letter or digit"
                ),
                ("name", "Name is required"),
                ("description", "Description must be text"),
                ("price", "Price must have at most 2 decimals"),
                ("stock", STOCK_RANGE),
                ("categories", CATEGORY_SHAPE),
            ]
            .map(|(f, m)| (f.to_owned(), m.to_owned()))
        );
        let missing = fields(new_product(&body(json!({}))).unwrap_err());
        let named: Vec<&str> = missing.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(named, ["sku", "name", "price", "stock"]);
        assert_eq!(missing[0].1, SKU_REQUIRED);
        assert_eq!(missing[2].1, "Price must be greater than 0");
    }

    #[test]
    fn limits_of_each_field() {
        let with = |field: &str, value: Value| {
            let mut product = good();
            product[field] = value;
            edited_product(&body(product))
        };
        assert!(with("name", json!("n".repeat(120))).is_ok());
        assert_eq!(
            fields(with("name", json!("n".repeat(121))).unwrap_err())[0].1,
            "Name must be at most 120 characters"
        );
        assert!(with("description", json!("d".repeat(2000))).is_ok());
        assert_eq!(
            fields(with("description", json!("d".repeat(2001))).unwrap_err())[0].0,
            "description"
        );
        assert!(with("stock", json!(0)).is_ok());
        assert!(with("stock", json!(1_000_000)).is_ok());
        for bad in [json!(-1), json!(1_000_001), json!("3"), json!(null)] {
            assert_eq!(fields(with("stock", bad).unwrap_err())[0].0, "stock");
        }
        assert!(with("categories", json!(["a", "b", "c", "d", "e", "E"])).is_ok());
        for bad in [
            json!(["a", "b", "c", "d", "e", "f"]),
            json!("merch"),
            json!([""]),
            json!(["x".repeat(33)]),
            json!([1]),
        ] {
            assert_eq!(
                fields(with("categories", bad).unwrap_err())[0].0,
                "categories"
            );
        }
        assert_eq!(
            edited_product(&body(json!({"name": "x", "price": 1, "stock": 0})))
                .unwrap()
                .categories,
            Vec::<String>::new()
        );
    }

    #[test]
    fn listings_read_their_query_string() {
        assert_eq!(
            listing("").unwrap(),
            Listing {
                search: None,
                category: None,
                limit: 24,
                offset: 0
            }
        );
        let asked = listing("q=red+t%2Dshirt%20&category=Merch&limit=100&offset=48&x=1").unwrap();
        assert_eq!(asked.search.as_deref(), Some("red t-shirt"));
        assert_eq!(asked.category.as_deref(), Some("merch"));
        assert_eq!((asked.limit, asked.offset), (100, 48));
        assert_eq!(listing("q=+++&category=").unwrap().search, None);
        assert_eq!(listing("q=a%00b").unwrap().search.as_deref(), Some("a b"));
        assert_eq!(listing("limit=5&limit=500").unwrap().limit, 5);
        for (query, field) in [
            ("limit=0", "limit"),
            ("limit=101", "limit"),
            ("limit=ten", "limit"),
            ("offset=-1", "offset"),
            ("offset=99999999999999999999", "offset"),
            ("category=no%20way", "category"),
        ] {
            let e = listing(query).unwrap_err();
            assert_eq!(e.errors()[0].field.as_deref(), Some(field), "{query}");
        }
        let long = format!("q={}", "x".repeat(201));
        assert_eq!(
            listing(&long).unwrap_err().errors()[0].field.as_deref(),
            Some("q")
        );
        assert!(listing(&format!("q={}", "é".repeat(200))).is_ok());
    }
}
