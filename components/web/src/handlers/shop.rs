//! The goods shop: the catalog, a product's page, adding to the cart, rating, and listing
//! or editing a product.

use spin_sdk::http::Response;

use super::Visit;
use crate::api::{Failure, Product, ProductInput, Search};
use crate::form::Form;
use crate::respond;
use crate::views::errors;
use crate::views::shop::{self as views, product_path, Catalog, ProductNotes};

/// How many products a page of the catalog shows, unless its query says.
const PAGE_SIZE: u64 = 12;

/// The catalog: the products the query's search finds, a page at a time, with their
/// ratings and the categories (both left out when their service cannot say).
pub async fn catalog(visit: &Visit, query: &Form) -> Response {
    let page_size = PAGE_SIZE.to_string();
    let given = |name| query.get(name).filter(|v: &&str| !v.trim().is_empty());
    let search = Search {
        q: query.get("q"),
        category: given("category"),
        limit: given("limit").unwrap_or(&page_size),
        offset: given("offset").unwrap_or("0"),
    };
    let found = match visit.api.products(&search).await {
        Ok(found) => found,
        Err(failure) => return visit.failed(failure, "/shop"),
    };
    let categories = visit.api.categories().await.unwrap_or_default();
    // The page's ratings in one call per 50 products (the most ratings answers at once),
    // not one per product.
    let skus: Vec<&str> = found.iter().map(|p| p.sku.as_str()).collect();
    let mut ratings = Vec::new();
    for batch in skus.chunks(50) {
        ratings.extend(visit.api.ratings(batch).await.unwrap_or_default());
    }
    let products: Vec<_> = found
        .into_iter()
        .map(|product| {
            let rating = ratings
                .iter()
                .position(|r| r.sku == product.sku)
                .map(|i| ratings.swap_remove(i).rating);
            (product, rating)
        })
        .collect();
    // The catalog took both, so both read as numbers.
    let catalog = Catalog {
        q: search.q.unwrap_or_default(),
        category: search.category,
        categories: &categories,
        products: &products,
        limit: search.limit.trim().parse().unwrap_or(PAGE_SIZE),
        offset: search.offset.trim().parse().unwrap_or(0),
    };
    respond::page(200, views::catalog(&visit.visitor, &catalog))
}

/// A product's page.
pub async fn product(visit: &Visit, sku: &str) -> Response {
    show(visit, sku, 200, &ProductNotes::default()).await
}

async fn show(visit: &Visit, sku: &str, status: u16, notes: &ProductNotes<'_>) -> Response {
    match visit.api.product(sku).await {
        Ok(product) => {
            let rating = visit.api.rating(&product.sku).await.ok();
            let page = views::product(&visit.visitor, &product, rating.as_ref(), notes);
            respond::page(status, page)
        }
        Err(failure) => visit.failed(failure, &product_path(sku)),
    }
}

/// Adds the posted quantity to the cart and shows the cart (a new visitor gets their
/// `cart` cookie); a refusal (out of stock, too many) shows on the product's page.
pub async fn add_to_cart(visit: &Visit, sku: &str, posted: &Form) -> Response {
    let quantity = posted.text("quantity");
    match visit.api.add_to_cart(sku, quantity).await {
        Ok(carted) => respond::see_other("/cart", carted.set_cookie.as_deref()),
        Err(Failure::Refused {
            status: 400,
            problems,
        }) => {
            let notes = ProductNotes {
                cart: &problems,
                quantity: Some(quantity),
                ..Default::default()
            };
            show(visit, sku, 400, &notes).await
        }
        Err(failure) => visit.failed(failure, &product_path(sku)),
    }
}

/// Rates the product with the posted stars and shows it again; a refusal (not a buyer,
/// no stars) shows beside the rating form.
pub async fn rate(visit: &Visit, sku: &str, posted: &Form) -> Response {
    let back = product_path(sku);
    if visit.visitor.user.is_none() {
        return visit.sign_in_first(&back);
    }
    match visit.api.rate(sku, posted.text("stars")).await {
        Ok(_) => respond::see_other(&back, None),
        Err(Failure::Refused {
            status: 400,
            problems,
        }) => {
            let notes = ProductNotes {
                rating: &problems,
                ..Default::default()
            };
            show(visit, sku, 400, &notes).await
        }
        Err(failure) => visit.failed(failure, &back),
    }
}

/// What the product form posted (`sku` on the selling form only).
fn typed<'a>(posted: &'a Form, sku: Option<&'a str>) -> ProductInput<'a> {
    ProductInput {
        sku,
        name: posted.text("name"),
        description: posted.text("description"),
        price: posted.text("price"),
        stock: posted.text("stock"),
        categories: posted.text("categories"),
    }
}

/// The form that lists a product.
pub fn sell_form(visit: &Visit) -> Response {
    if visit.visitor.user.is_none() {
        return visit.sign_in_first("/shop/sell");
    }
    let form = views::product_form(&visit.visitor, None, &ProductInput::default(), &[]);
    respond::page(200, form)
}

/// Lists the posted product and shows it; a refusal shows beside the fields.
pub async fn sell(visit: &Visit, posted: &Form) -> Response {
    let input = typed(posted, Some(posted.text("sku")));
    let listed = visit.api.list_product(&input).await;
    saved(visit, None, &input, listed, "/shop/sell")
}

/// After listing or editing: the product's page, or the form again with the API's errors
/// beside what was typed.
fn saved(
    visit: &Visit,
    editing: Option<&str>,
    input: &ProductInput,
    result: Result<Product, Failure>,
    back: &str,
) -> Response {
    match result {
        Ok(product) => respond::see_other(&product_path(&product.sku), None),
        Err(Failure::Refused {
            status: 400,
            problems,
        }) => {
            let form = views::product_form(&visit.visitor, editing, input, &problems);
            respond::page(400, form)
        }
        Err(failure) => visit.failed(failure, back),
    }
}

/// The form that edits one's own product, filled in.
pub async fn edit_form(visit: &Visit, sku: &str) -> Response {
    let back = format!("{}/edit", product_path(sku));
    if visit.visitor.user.is_none() {
        return visit.sign_in_first(&back);
    }
    match visit.api.product(sku).await {
        Ok(product) if visit.visitor.is(&product.user_id) => {
            let (price, stock) = (product.price.to_string(), product.stock.to_string());
            let categories = product.categories.join(", ");
            let input = ProductInput {
                sku: None,
                name: &product.name,
                description: &product.description,
                price: &price,
                stock: &stock,
                categories: &categories,
            };
            let form = views::product_form(&visit.visitor, Some(&product.sku), &input, &[]);
            respond::page(200, form)
        }
        Ok(_) => not_yours(visit),
        Err(failure) => visit.failed(failure, &back),
    }
}

/// Saves the posted edit and shows the product; a refusal shows beside the fields.
pub async fn edit(visit: &Visit, sku: &str, posted: &Form) -> Response {
    let input = typed(posted, None);
    match visit.api.edit_product(sku, &input).await {
        Err(Failure::Refused { status: 401, .. }) if visit.visitor.user.is_some() => {
            not_yours(visit)
        }
        edited => {
            let back = format!("{}/edit", product_path(sku));
            saved(visit, Some(sku), &input, edited, &back)
        }
    }
}

fn not_yours(visit: &Visit) -> Response {
    let text = "Only the seller of a product can edit it.";
    respond::page(
        403,
        errors::message(&visit.visitor, "Not your product", text),
    )
}
