//! The cart: its lines with their quantities, where it ships, its totals, and checkout.

use maud::{html, Markup};

use super::shop::product_path;
use super::{dollars, field, form_alert, layout, percent, token_field, Field, Head, Visitor};
use crate::api::{Cart, City, FieldError};

/// The cart page; `cities` are where it may ship (none when shipping cannot say), and
/// `problems` the API's answer to a form of the page that did not go through.
pub fn cart(
    visitor: &Visitor,
    cart: &Cart,
    cities: Option<&[City]>,
    problems: &[FieldError],
) -> Markup {
    // Without the cities there is no select to show the city's error beside.
    let beside_fields: &[&str] = if cities.is_some() { &["city"] } else { &[] };
    layout(
        "Your cart",
        visitor,
        Head::default(),
        html! {
            (form_alert(problems, beside_fields))
            @if cart.items.is_empty() {
                p.empty { "Your cart is empty. " a href="/shop" { "Browse the shop." } }
            } @else {
                ul.lines {
                    @for line in &cart.items {
                        @let action = format!("/cart/items/{}", line.sku);
                        @let input = format!("quantity-{}", line.sku);
                        li {
                            a.title href=(product_path(&line.sku)) { (line.name) }
                            span.price { (dollars(line.price)) " each" }
                            form.quantity method="post" action=(action) novalidate {
                                (token_field(visitor))
                                label for=(input) {
                                    "Quantity" span.visually-hidden { " of " (line.name) }
                                }
                                input id=(input) name="quantity" type="text" inputmode="numeric"
                                    value=(line.quantity) autocomplete="off" size="3";
                                button.secondary type="submit" {
                                    "Update" span.visually-hidden { " " (line.name) }
                                }
                            }
                            span.price.line-total { (dollars(line.line_total)) }
                            form method="post" action={ (action) "/remove" } {
                                (token_field(visitor))
                                button.link type="submit" {
                                    "Remove" span.visually-hidden { " " (line.name) }
                                }
                            }
                            @if line.available < line.quantity {
                                p.error {
                                    @if line.available > 0 {
                                        "Only " (line.available) " left"
                                    } @else {
                                        "Out of stock"
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="shipping-heading" {
                h2 id="shipping-heading" { "Shipping" }
                @if let Some(shipping) = &cart.shipping {
                    p.quote {
                        "Ships to " strong { (shipping.name) ", " (shipping.country) }
                        " for " (dollars(shipping.cost)) "."
                    }
                }
                @match cities {
                    Some(cities) => (shipping_form(visitor, cart, cities, problems)),
                    None => p.why { "Where to ship cannot be chosen right now. Please try again in a moment." },
                }
            }
            section aria-labelledby="totals-heading" {
                h2 id="totals-heading" { "Total" }
                dl.facts.totals {
                    dt { "Subtotal" } dd { (dollars(cart.subtotal)) }
                    dt { "Tax (" (percent(cart.tax_rate)) ")" } dd { (dollars(cart.tax)) }
                    dt { "Shipping" }
                    dd {
                        @match &cart.shipping {
                            Some(shipping) => (dollars(shipping.cost)),
                            None => "Not chosen yet",
                        }
                    }
                    dt { "Total" } dd { strong { (dollars(cart.total)) } }
                }
            }
            @if !cart.items.is_empty() {
                form.checkout method="post" action="/cart/checkout" {
                    (token_field(visitor))
                    button type="submit" { "Check out" }
                    @if visitor.user.is_none() {
                        p.hint { "You sign in first; your cart comes with you." }
                    }
                }
            }
        },
    )
}

fn shipping_form(
    visitor: &Visitor,
    cart: &Cart,
    cities: &[City],
    problems: &[FieldError],
) -> Markup {
    let options: Vec<(String, String)> = std::iter::once((String::new(), "Choose a city".into()))
        .chain(cities.iter().map(|city| {
            (
                city.code.clone(),
                format!("{}, {}", city.name, city.country),
            )
        }))
        .collect();
    let chosen = cart.shipping.as_ref().map_or("", |s| s.city.as_str());
    html! {
        form.stack method="post" action="/cart/shipping" novalidate {
            (token_field(visitor))
            (field(Field::select("city", "Ship to", chosen, &options), problems))
            button.secondary type="submit" { "Ship here" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{CartLine, Shipping};
    use crate::views::tests::problem;

    fn full_cart() -> Cart {
        Cart {
            items: vec![CartLine {
                sku: "MUG-01".into(),
                name: "Mug <b>".into(),
                price: 12.5,
                quantity: 3,
                line_total: 37.5,
                available: 2,
            }],
            subtotal: 37.5,
            shipping: Some(Shipping {
                city: "par".into(),
                name: "Paris".into(),
                country: "France".into(),
                cost: 9.0,
            }),
            tax_rate: 8.0,
            tax: 3.0,
            total: 49.5,
        }
    }

    fn cities() -> Vec<City> {
        ["nyc", "par"]
            .into_iter()
            .map(|code| City {
                code: code.into(),
                name: code.to_uppercase(),
                country: "Somewhere".into(),
            })
            .collect()
    }

    #[test]
    fn the_cart_shows_its_lines_shipping_and_totals() {
        let cities = cities();
        let page = cart(&Visitor::default(), &full_cart(), Some(&cities), &[]).into_string();
        assert!(page.contains(r#"action="/cart/items/MUG-01""#), "{page}");
        assert!(page.contains(r#"action="/cart/items/MUG-01/remove""#));
        assert!(page.contains(r#"value="3""#) && page.contains("Only 2 left"));
        assert!(page.contains("Mug &lt;b&gt;"));
        assert!(
            page.contains(r#"<option value="par" selected>PAR, Somewhere</option>"#),
            "{page}"
        );
        assert!(page.contains("Ships to <strong>Paris, France</strong> for $9.00."));
        assert!(page.contains("Tax (8%)") && page.contains("$3.00") && page.contains("$49.50"));
        assert!(page.contains(r#"action="/cart/checkout""#) && page.contains("You sign in first"));
    }

    #[test]
    fn an_empty_cart_says_so_and_a_refusal_shows_its_message() {
        let empty = Cart {
            items: vec![],
            subtotal: 0.0,
            shipping: None,
            tax_rate: 8.0,
            tax: 0.0,
            total: 0.0,
        };
        let problems = [problem(Some("city"), "Choose where to ship")];
        let page = cart(&Visitor::default(), &empty, None, &problems).into_string();
        assert!(page.contains("Your cart is empty") && !page.contains("/cart/checkout"));
        assert!(
            page.contains(r#"role="alert"><p>Choose where to ship</p>"#),
            "{page}"
        );
        assert!(page.contains("cannot be chosen right now") && page.contains("Not chosen yet"));
        let cities = cities();
        let refused = cart(
            &Visitor::default(),
            &full_cart(),
            Some(&cities),
            &[
                problem(None, "Only 2 of Mug left"),
                problem(Some("city"), "Choose where to ship"),
            ],
        )
        .into_string();
        assert!(
            refused.contains(r#"role="alert"><p>Only 2 of Mug left</p>"#),
            "{refused}"
        );
        assert!(
            refused.contains(r#"<p class="error" id="field-city-error">Choose where to ship</p>"#)
        );
    }
}
