//! The pages, as maud templates: every value is HTML-escaped by construction. A view only
//! shows what the API answered; which page to show, and when, is up to [`crate::handlers`].

pub mod account;
pub mod cart;
pub mod docs;
pub mod errors;
pub mod orders;
pub mod purchases;
pub mod shop;
pub mod tickets;

use maud::{html, Markup, DOCTYPE};

use crate::api::{FieldError, User};
use crate::assets::{ICON_PATH, SCRIPT_PATH, STYLE_PATH};
use crate::csrf;

/// Who is looking at a page: the signed-in shopper, if any, and the token their forms
/// carry ([`csrf`]).
#[derive(Debug, Clone, Default)]
pub struct Visitor {
    /// The signed-in shopper.
    pub user: Option<User>,
    /// The token of their session.
    pub csrf: Option<String>,
}

impl Visitor {
    /// Whether the visitor is `user_id`.
    pub fn is(&self, user_id: &str) -> bool {
        self.user.as_ref().is_some_and(|u| u.id == user_id)
    }
}

/// What a page puts in its `<head>` besides the usual.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Head {
    /// Reload the page after this many seconds (while a payment is being confirmed).
    pub refresh_seconds: Option<u32>,
    /// Load Stripe.js (the payment form, when a publishable key is configured).
    pub stripe: bool,
}

/// The Stripe.js URL: the one external script, loaded only by a payment form that takes
/// cards through Stripe Elements.
pub const STRIPE_JS: &str = "https://js.stripe.com/v3/";

/// A whole page: the header with the visitor, the title as its heading, then `content`.
pub fn layout(title: &str, visitor: &Visitor, head: Head, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(seconds) = head.refresh_seconds {
                    meta http-equiv="refresh" content=(seconds);
                }
                title { (title) " · boxoffice" }
                link rel="icon" type="image/svg+xml" href=(ICON_PATH);
                link rel="stylesheet" href=(STYLE_PATH);
                @if head.stripe {
                    script src=(STRIPE_JS) {}
                }
                script src=(SCRIPT_PATH) defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.site {
                    a.brand href="/" { "boxoffice" }
                    nav aria-label="Main" {
                        ul {
                            li { a href="/" { "Tickets" } }
                            li { a href="/shop" { "Shop" } }
                            li { a href="/cart" { "Cart" } }
                            @if let Some(user) = &visitor.user {
                                li { a href="/sell" { "Sell a ticket" } }
                                li { a href="/orders" { "My orders" } }
                                li { a href="/purchases" { "My purchases" } }
                                li.user { "Signed in as " strong { (user.email) } }
                                li {
                                    form method="post" action="/signout" {
                                        (token_field(visitor))
                                        button.link type="submit" { "Sign out" }
                                    }
                                }
                            } @else {
                                li { a href="/signin" { "Sign in" } }
                                li { a href="/signup" { "Sign up" } }
                            }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    (content)
                }
            }
        }
    }
}

/// The hidden field with the visitor's form token, if they have a session.
pub fn token_field(visitor: &Visitor) -> Markup {
    html! {
        @if let Some(token) = &visitor.csrf {
            input type="hidden" name=(csrf::FIELD) value=(token);
        }
    }
}

/// A price in dollars, as shoppers read it: `$42.50`.
pub fn dollars(price: f64) -> String {
    let cents = (price * 100.0).round() as i64;
    format!("${}.{:02}", cents / 100, cents % 100)
}

/// A rate in percent, as shoppers read it: `8%`, `8.25%`.
pub fn percent(rate: f64) -> String {
    let hundredths = (rate * 100.0).round() as i64;
    let text = format!("{}.{:02}", hundredths / 100, hundredths % 100);
    format!("{}%", text.trim_end_matches('0').trim_end_matches('.'))
}

/// One input of a form, with its label, and the API's errors about it beside it.
#[derive(Debug, Clone, Copy)]
pub struct Field<'a> {
    /// The body field it fills (the API names it in its errors).
    pub name: &'a str,
    /// What the shopper reads.
    pub label: &'a str,
    /// The input type, or `textarea`, or `select` (of [`Field::options`]).
    pub kind: &'a str,
    /// The value to show (what was typed, after a refusal).
    pub value: &'a str,
    /// The `autocomplete` token.
    pub autocomplete: &'a str,
    /// The `inputmode`, for phone keyboards.
    pub inputmode: Option<&'a str>,
    /// A line of help under the label.
    pub hint: Option<&'a str>,
    /// A select's choices: (value, what the shopper reads).
    pub options: &'a [(String, String)],
}

impl<'a> Field<'a> {
    /// A text field.
    pub fn text(name: &'a str, label: &'a str, value: &'a str) -> Self {
        Self {
            name,
            label,
            kind: "text",
            value,
            autocomplete: "off",
            inputmode: None,
            hint: None,
            options: &[],
        }
    }

    /// A select of `options`, `value` chosen.
    pub fn select(
        name: &'a str,
        label: &'a str,
        value: &'a str,
        options: &'a [(String, String)],
    ) -> Self {
        Self {
            kind: "select",
            options,
            ..Self::text(name, label, value)
        }
    }
}

/// `field` as a labelled input. Its errors are announced with it (`aria-describedby`,
/// `aria-invalid`), and the first field in error takes the focus.
pub fn field(field: Field, problems: &[FieldError]) -> Markup {
    let id = format!("field-{}", field.name);
    let errors: Vec<&str> = problems
        .iter()
        .filter(|p| p.field.as_deref() == Some(field.name))
        .map(|p| p.message.as_str())
        .collect();
    let first_in_error = problems
        .iter()
        .find(|p| p.field.is_some())
        .and_then(|p| p.field.as_deref())
        == Some(field.name);
    let hint_id = format!("{id}-hint");
    let error_id = format!("{id}-error");
    let described: Vec<&str> = [
        field.hint.map(|_| hint_id.as_str()),
        (!errors.is_empty()).then_some(error_id.as_str()),
    ]
    .into_iter()
    .flatten()
    .collect();
    html! {
        div.field.invalid[!errors.is_empty()] {
            label for=(id) { (field.label) }
            @if let Some(hint) = field.hint {
                p.hint id=(hint_id) { (hint) }
            }
            @let invalid = (!errors.is_empty()).then_some("true");
            @let described = (!described.is_empty()).then(|| described.join(" "));
            @match field.kind {
                "textarea" => textarea id=(id) name=(field.name) rows="4"
                    autocomplete=(field.autocomplete) aria-invalid=[invalid]
                    aria-describedby=[described] autofocus[first_in_error] { (field.value) },
                "select" => select id=(id) name=(field.name) aria-invalid=[invalid]
                    aria-describedby=[described] autofocus[first_in_error] {
                    @for (value, text) in field.options {
                        option value=(value) selected[value == field.value] { (text) }
                    }
                },
                kind => input id=(id) name=(field.name) type=(kind) value=(field.value)
                    autocomplete=(field.autocomplete) inputmode=[field.inputmode]
                    aria-invalid=[invalid] aria-describedby=[described]
                    autofocus[first_in_error];,
            }
            @if !errors.is_empty() {
                p.error id=(error_id) { (errors.join(". ")) }
            }
        }
    }
}

/// The API's errors that are about no field of the form (`Invalid credentials`), as an
/// alert above it.
pub fn form_alert(problems: &[FieldError], fields: &[&str]) -> Markup {
    let general: Vec<&str> = problems
        .iter()
        .filter(|p| p.field.as_deref().is_none_or(|f| !fields.contains(&f)))
        .map(|p| p.message.as_str())
        .collect();
    html! {
        @if !general.is_empty() {
            div.alert role="alert" {
                @for message in general { p { (message) } }
            }
        }
    }
}

/// `ms` (unix milliseconds) as `HH:MM UTC`, in a `<time>` that carries the exact instant.
pub fn clock(ms: i64) -> Markup {
    let iso = boxoffice_shared::time::rfc3339(ms);
    let hh_mm = iso.get(11..16).unwrap_or_default().to_owned();
    html! { time datetime=(iso) { (hh_mm) " UTC" } }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn problem(field: Option<&str>, message: &str) -> FieldError {
        FieldError {
            message: message.into(),
            field: field.map(str::to_owned),
        }
    }

    #[test]
    fn prices_read_as_dollars_and_cents() {
        assert_eq!(dollars(20.0), "$20.00");
        assert_eq!(dollars(42.5), "$42.50");
        assert_eq!(dollars(0.1 + 0.2), "$0.30");
    }

    #[test]
    fn rates_read_as_percent_without_trailing_zeros() {
        assert_eq!(percent(8.0), "8%");
        assert_eq!(percent(8.25), "8.25%");
        assert_eq!(percent(7.5), "7.5%");
        assert_eq!(percent(0.0), "0%");
    }

    #[test]
    fn a_field_may_be_a_text_area_or_a_select() {
        let area = field(
            Field {
                kind: "textarea",
                ..Field::text("description", "Description", "a <b>")
            },
            &[],
        )
        .into_string();
        assert!(
            area.contains(r#"<textarea id="field-description" name="description""#)
                && area.contains(">a &lt;b&gt;</textarea>"),
            "{area}"
        );
        let cities = [
            ("nyc".to_owned(), "New York".to_owned()),
            ("par".to_owned(), "Paris".to_owned()),
        ];
        let problems = [problem(Some("city"), "Choose where to ship")];
        let select =
            field(Field::select("city", "Ship to", "par", &cities), &problems).into_string();
        assert!(
            select.contains(r#"<option value="par" selected>Paris</option>"#)
                && select.contains(r#"<option value="nyc">New York</option>"#),
            "{select}"
        );
        assert!(select.contains("Choose where to ship") && select.contains("aria-invalid"));
    }

    #[test]
    fn a_field_in_error_says_so_beside_itself_and_takes_the_focus() {
        let problems = [
            problem(Some("email"), "Email must be valid"),
            problem(None, "Something else"),
        ];
        let email = field(Field::text("email", "Email", "a<b"), &problems).into_string();
        assert!(
            email.contains(r#"<label for="field-email">Email</label>"#),
            "{email}"
        );
        assert!(email.contains(r#"value="a&lt;b""#), "{email}");
        assert!(email.contains(r#"aria-invalid="true""#), "{email}");
        assert!(
            email.contains(r#"aria-describedby="field-email-error""#),
            "{email}"
        );
        assert!(
            email.contains(r#"<p class="error" id="field-email-error">Email must be valid</p>"#),
            "{email}"
        );
        assert!(email.contains("autofocus"), "{email}");
        let password = field(Field::text("password", "Password", ""), &problems).into_string();
        assert!(
            !password.contains("aria-invalid") && !password.contains("autofocus"),
            "{password}"
        );
        let alert = form_alert(&problems, &["email", "password"]).into_string();
        assert!(
            alert.contains("Something else") && !alert.contains("Email must be valid"),
            "{alert}"
        );
    }

    #[test]
    fn the_header_offers_what_the_visitor_can_do() {
        let anonymous = layout("T", &Visitor::default(), Head::default(), html! {}).into_string();
        assert!(anonymous.starts_with("<!DOCTYPE html><html lang=\"en\">"));
        assert!(anonymous.contains("<title>T · boxoffice</title>"));
        assert!(anonymous.contains(r#"href="/signin""#) && !anonymous.contains("/signout"));
        assert!(!anonymous.contains(STRIPE_JS) && !anonymous.contains("refresh"));

        let visitor = Visitor {
            user: Some(User {
                id: "u1".into(),
                email: "ada@example.com".into(),
            }),
            csrf: Some("t0k3n".into()),
        };
        let head = Head {
            refresh_seconds: Some(2),
            stripe: true,
        };
        let signed_in = layout("T", &visitor, head, html! {}).into_string();
        assert!(
            signed_in.contains("Signed in as <strong>ada@example.com</strong>"),
            "{signed_in}"
        );
        assert!(
            signed_in.contains(r#"<input type="hidden" name="csrf" value="t0k3n">"#),
            "{signed_in}"
        );
        assert!(
            signed_in.contains(r#"action="/signout""#) && !signed_in.contains(r#"href="/signin""#)
        );
        assert!(signed_in.contains(STRIPE_JS) && signed_in.contains(r#"content="2""#));
    }
}
