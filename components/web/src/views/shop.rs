//! The goods shop: the catalog (search, categories, pages), a product's page (its rating,
//! the cart form, the rating form), and the form that lists or edits a product.

use maud::{html, Markup};

use super::{dollars, field, form_alert, layout, token_field, Field, Head, Visitor};
use crate::api::{Category, FieldError, Product, ProductInput, Rating};

/// What the catalog page shows: the search it answers and the page of products found.
#[derive(Debug, Clone, Copy)]
pub struct Catalog<'a> {
    /// The words searched for.
    pub q: &'a str,
    /// The category chosen.
    pub category: Option<&'a str>,
    /// Every category, with its count.
    pub categories: &'a [Category],
    /// The products of this page, each with its rating when ratings could say.
    pub products: &'a [(Product, Option<Rating>)],
    /// How many a page shows.
    pub limit: u64,
    /// How many came before this page.
    pub offset: u64,
}

impl Catalog<'_> {
    /// The catalog's path for the same search at `offset`.
    fn page_path(&self, offset: u64) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if !self.q.is_empty() {
            query.append_pair("q", self.q);
        }
        if let Some(category) = self.category {
            query.append_pair("category", category);
        }
        query.append_pair("limit", &self.limit.to_string());
        query.append_pair("offset", &offset.to_string());
        format!("/shop?{}", query.finish())
    }
}

/// The path of a category's products.
fn category_path(name: &str) -> String {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("category", name)
        .finish();
    format!("/shop?{query}")
}

/// A product's page.
pub fn product_path(sku: &str) -> String {
    format!("/shop/products/{sku}")
}

/// A product's stock, as shoppers read it.
fn stock(product: &Product) -> Markup {
    html! {
        @if product.stock > 0 {
            span.stock { "In stock" }
        } @else {
            span.stock.out { "Out of stock" }
        }
    }
}

/// A rating in words (a star for the eye): "4.5 out of 5 (2 ratings)", or "Not rated yet".
pub fn stars(rating: &Rating) -> Markup {
    let ratings = if rating.count == 1 {
        "rating"
    } else {
        "ratings"
    };
    html! {
        @match rating.average {
            Some(average) => span.stars {
                span aria-hidden="true" { "★ " }
                (format!("{average:.1}")) " out of 5 (" (rating.count) " " (ratings) ")"
            },
            None => span.stars { "Not rated yet" },
        }
    }
}

/// The catalog: a search form, the categories, the products as cards, and the pages.
pub fn catalog(visitor: &Visitor, catalog: &Catalog) -> Markup {
    let title = match catalog.category {
        Some(category) => format!("Shop: {category}"),
        None => "Shop".to_owned(),
    };
    let previous = catalog.offset.saturating_sub(catalog.limit);
    let has_next = catalog.products.len() as u64 >= catalog.limit && catalog.limit > 0;
    layout(
        &title,
        visitor,
        Head::default(),
        html! {
            form.search role="search" method="get" action="/shop" {
                label for="field-q" { "Search the shop" }
                div.search-row {
                    input id="field-q" name="q" type="search" value=(catalog.q) autocomplete="off";
                    @if let Some(category) = catalog.category {
                        input type="hidden" name="category" value=(category);
                    }
                    button type="submit" { "Search" }
                }
            }
            @if !catalog.categories.is_empty() {
                nav.categories aria-label="Categories" {
                    ul {
                        li {
                            a href="/shop" aria-current=[catalog.category.is_none().then_some("page")] { "All" }
                        }
                        @for category in catalog.categories {
                            li {
                                a href=(category_path(&category.name))
                                    aria-current=[(catalog.category == Some(category.name.as_str())).then_some("page")] {
                                    (category.name) " (" (category.count) ")"
                                }
                            }
                        }
                    }
                }
            }
            @if catalog.products.is_empty() {
                p.empty { "No products found." }
            } @else {
                ul.products {
                    @for (product, rating) in catalog.products {
                        li.product {
                            h2 { a href=(product_path(&product.sku)) { (product.name) } }
                            p.price { (dollars(product.price)) }
                            p { (stock(product)) }
                            @if let Some(rating) = rating {
                                p { (stars(rating)) }
                            }
                        }
                    }
                }
            }
            @if catalog.offset > 0 || has_next {
                nav.pages aria-label="Pages" {
                    @if catalog.offset > 0 {
                        a rel="prev" href=(catalog.page_path(previous)) { "Previous page" }
                    }
                    @if has_next {
                        a rel="next" href=(catalog.page_path(catalog.offset + catalog.limit)) { "Next page" }
                    }
                }
            }
            @if visitor.user.is_some() {
                p { a.button href="/shop/sell" { "Sell a product" } }
            } @else {
                p { a href="/signup" { "Sign up" } " to sell your own goods." }
            }
        },
    )
}

/// What a product's page says besides the product: the API's answer to a form of it that
/// did not go through, and what was typed.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProductNotes<'a> {
    /// Why adding to the cart was refused.
    pub cart: &'a [FieldError],
    /// The quantity typed into a refused cart form.
    pub quantity: Option<&'a str>,
    /// Why a rating was refused.
    pub rating: &'a [FieldError],
}

/// A product's page: price, stock, description, categories; the cart form while in stock;
/// an edit link for its seller; its rating, and a rating form for a signed-in shopper who
/// is not its seller (the API says whether they bought it).
pub fn product(
    visitor: &Visitor,
    product: &Product,
    rating: Option<&Rating>,
    notes: &ProductNotes,
) -> Markup {
    let path = product_path(&product.sku);
    let own = visitor.is(&product.user_id);
    let quantity = Field {
        inputmode: Some("numeric"),
        ..Field::text("quantity", "Quantity", notes.quantity.unwrap_or("1"))
    };
    layout(
        &product.name,
        visitor,
        Head::default(),
        html! {
            p.price-tag { (dollars(product.price)) }
            dl.facts {
                dt { "Availability" }
                dd {
                    (stock(product))
                    @if product.stock > 0 { " (" (product.stock) " left)" }
                }
                dt { "SKU" } dd { (product.sku) }
                @if !product.categories.is_empty() {
                    dt { "Categories" }
                    dd {
                        @for (i, category) in product.categories.iter().enumerate() {
                            @if i > 0 { ", " }
                            a href=(category_path(category)) { (category) }
                        }
                    }
                }
            }
            p.description { (product.description) }
            @if own {
                p.why { "This is your product. " a href={ (path) "/edit" } { "Edit it" } }
            }
            (form_alert(notes.cart, &["quantity"]))
            @if product.stock > 0 {
                form.stack method="post" action={ (path) "/cart" } novalidate {
                    (token_field(visitor))
                    (field(quantity, notes.cart))
                    button type="submit" { "Add to cart" }
                }
            }
            section aria-labelledby="rating-heading" {
                h2 id="rating-heading" { "Rating" }
                @match rating {
                    Some(rating) => p { (stars(rating)) },
                    None => p.why { "Ratings cannot be shown right now." },
                }
                @if visitor.user.is_none() {
                    p.why { a href={ "/signin?next=" (path) } { "Sign in" } " to rate a product you bought." }
                } @else if !own {
                    (rating_form(visitor, &path, rating.and_then(|r| r.mine), notes.rating))
                }
            }
        },
    )
}

/// Stars from 1 to 5, the shopper's own checked.
fn rating_form(visitor: &Visitor, path: &str, mine: Option<u8>, problems: &[FieldError]) -> Markup {
    html! {
        (form_alert(problems, &[]))
        form.stack.rating method="post" action={ (path) "/rating" } {
            (token_field(visitor))
            fieldset {
                legend { "Your rating" }
                @for stars in 1..=5u8 {
                    div.choice {
                        input type="radio" id={ "stars-" (stars) } name="stars" value=(stars)
                            checked[mine == Some(stars)];
                        label for={ "stars-" (stars) } {
                            (stars) @if stars == 1 { " star" } @else { " stars" }
                        }
                    }
                }
            }
            button type="submit" { "Rate" }
        }
    }
}

/// The form that lists a product (`editing` none) or edits one, with what was typed and
/// the API's errors.
pub fn product_form(
    visitor: &Visitor,
    editing: Option<&str>,
    typed: &ProductInput,
    problems: &[FieldError],
) -> Markup {
    let (heading, action, button) = match editing {
        None => (
            "Sell a product".to_owned(),
            "/shop/sell".to_owned(),
            "List product",
        ),
        Some(sku) => (
            "Edit your product".to_owned(),
            format!("{}/edit", product_path(sku)),
            "Save",
        ),
    };
    let sku = Field {
        hint: Some("Letters, digits and dashes, for example MUG-01. It cannot change later."),
        ..Field::text("sku", "SKU", typed.sku.unwrap_or_default())
    };
    let description = Field {
        kind: "textarea",
        ..Field::text("description", "Description", typed.description)
    };
    let price = Field {
        inputmode: Some("decimal"),
        hint: Some("In US dollars, for example 25 or 12.50."),
        ..Field::text("price", "Price", typed.price)
    };
    let stock = Field {
        inputmode: Some("numeric"),
        hint: Some("How many you have to sell."),
        ..Field::text("stock", "Stock", typed.stock)
    };
    let categories = Field {
        hint: Some("Separated by commas, for example kitchen, gifts."),
        ..Field::text("categories", "Categories", typed.categories)
    };
    let fields = ["sku", "name", "description", "price", "stock", "categories"];
    layout(
        &heading,
        visitor,
        Head::default(),
        html! {
            (form_alert(problems, &fields))
            form.stack method="post" action=(action) novalidate {
                (token_field(visitor))
                @if editing.is_none() {
                    (field(sku, problems))
                }
                (field(Field::text("name", "Name", typed.name), problems))
                (field(description, problems))
                (field(price, problems))
                (field(stock, problems))
                (field(categories, problems))
                button type="submit" { (button) }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::User;
    use crate::views::tests::problem;

    fn product(stock: i64) -> Product {
        Product {
            sku: "MUG-01".into(),
            name: "Mug <b>".into(),
            description: "A <i>big</i> mug".into(),
            price: 12.5,
            stock,
            categories: vec!["kitchen".into(), "gifts & co".into()],
            user_id: "seller".into(),
        }
    }

    fn visitor(id: &str) -> Visitor {
        Visitor {
            user: Some(User {
                id: id.into(),
                email: format!("{id}@example.com"),
            }),
            csrf: Some("tok".into()),
        }
    }

    fn rated(average: Option<f64>, count: i64, mine: Option<u8>) -> Rating {
        Rating {
            average,
            count,
            mine,
        }
    }

    #[test]
    fn the_catalog_shows_cards_categories_and_pages() {
        let categories = [Category {
            name: "gifts & co".into(),
            count: 3,
        }];
        let products = [
            (product(2), Some(rated(Some(4.25), 4, None))),
            (product(0), None),
        ];
        let page = catalog(
            &Visitor::default(),
            &Catalog {
                q: "mug",
                category: Some("gifts & co"),
                categories: &categories,
                products: &products,
                limit: 2,
                offset: 2,
            },
        )
        .into_string();
        assert!(page.contains("Shop: gifts &amp; co"), "{page}");
        assert!(page.contains(r#"value="mug""#) && page.contains(r#"role="search""#));
        assert!(
            page.contains(
                r#"href="/shop?category=gifts+%26+co" aria-current="page">gifts &amp; co (3)</a>"#
            ),
            "{page}"
        );
        assert!(page.contains(r#"href="/shop/products/MUG-01">Mug &lt;b&gt;</a>"#));
        assert!(
            page.contains("$12.50") && page.contains("In stock") && page.contains("Out of stock")
        );
        assert!(
            page.contains("4.2 out of 5 (4 ratings)") || page.contains("4.3 out of 5 (4 ratings)")
        );
        assert!(
            page.contains(r#"rel="prev" href="/shop?q=mug&amp;category=gifts+%26+co&amp;limit=2&amp;offset=0""#),
            "{page}"
        );
        assert!(page.contains(r#"&amp;offset=4">Next page"#), "{page}");

        let last = catalog(
            &visitor("u1"),
            &Catalog {
                q: "",
                category: None,
                categories: &[],
                products: &products[..1],
                limit: 2,
                offset: 0,
            },
        )
        .into_string();
        assert!(
            !last.contains("Next page") && !last.contains("Previous page"),
            "{last}"
        );
        assert!(last.contains(r#"href="/shop/sell""#));
    }

    #[test]
    fn a_product_offers_the_cart_while_in_stock_and_rating_to_shoppers() {
        let rating = rated(Some(5.0), 1, Some(5));
        let page = super::product(
            &visitor("buyer"),
            &product(2),
            Some(&rating),
            &ProductNotes::default(),
        )
        .into_string();
        assert!(page.contains("A &lt;i&gt;big&lt;/i&gt; mug"), "{page}");
        assert!(page.contains(r#"action="/shop/products/MUG-01/cart""#));
        assert!(page.contains("(2 left)") && page.contains(r#"value="1""#));
        assert!(page.contains("5.0 out of 5 (1 rating)"), "{page}");
        assert!(
            page.contains(r#"value="5" checked"#)
                && page.contains(r#"action="/shop/products/MUG-01/rating""#),
            "{page}"
        );
        assert!(!page.contains("/edit"));

        let sold_out = super::product(
            &Visitor::default(),
            &product(0),
            None,
            &ProductNotes::default(),
        )
        .into_string();
        assert!(sold_out.contains("Out of stock") && !sold_out.contains("MUG-01/cart"));
        assert!(sold_out.contains(r#"href="/signin?next=/shop/products/MUG-01""#));
        assert!(!sold_out.contains("Your rating"));

        let own = super::product(
            &visitor("seller"),
            &product(2),
            None,
            &ProductNotes::default(),
        )
        .into_string();
        assert!(
            own.contains(r#"href="/shop/products/MUG-01/edit""#) && !own.contains("Your rating")
        );
    }

    #[test]
    fn a_products_refusals_show_beside_their_forms() {
        let cart = [problem(None, "Only 2 of Mug left")];
        let rating = [problem(None, "Only buyers of this product can rate it")];
        let notes = ProductNotes {
            cart: &cart,
            quantity: Some("3"),
            rating: &rating,
        };
        let page = super::product(&visitor("buyer"), &product(2), None, &notes).into_string();
        assert!(page.contains("Only 2 of Mug left") && page.contains(r#"value="3""#));
        assert!(page.contains("Only buyers of this product can rate it"));
    }

    #[test]
    fn the_product_form_lists_or_edits() {
        let typed = ProductInput {
            sku: Some("mug"),
            price: "0",
            ..Default::default()
        };
        let problems = [problem(Some("price"), "Price must be greater than 0")];
        let sell = product_form(&visitor("u1"), None, &typed, &problems).into_string();
        assert!(sell.contains(r#"action="/shop/sell""#) && sell.contains(r#"name="sku""#));
        assert!(sell.contains("Price must be greater than 0") && sell.contains("<textarea"));
        let edit = product_form(&visitor("u1"), Some("MUG-01"), &typed, &[]).into_string();
        assert!(edit.contains(r#"action="/shop/products/MUG-01/edit""#));
        assert!(!edit.contains(r#"name="sku""#));
    }
}
