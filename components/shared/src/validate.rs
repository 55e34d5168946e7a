//! Field validation: each helper checks one body field (absent, wrong type or invalid
//! value alike) and returns the clean value or a [`FieldError`] naming the field;
//! [`both`] gathers the errors of two fields into one 400.

use serde_json::Value;

use crate::money::Price;
use crate::{ApiError, FieldError};

/// Longest email address accepted (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Longest ticket title accepted, after trimming.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest id or token field accepted, after trimming.
pub const MAX_STRING_CHARS: usize = 256;

/// A valid email address, trimmed; compare users on [`email_key`] of it.
pub fn email(value: Option<&Value>) -> Result<String, FieldError> {
    let invalid = || FieldError::new("email", "Email must be valid");
    let email = value.and_then(Value::as_str).ok_or_else(invalid)?.trim();
    if email.chars().count() > MAX_EMAIL_CHARS || !email_address::EmailAddress::is_valid(email) {
        return Err(invalid());
    }
    Ok(email.to_owned())
}

/// The form of an email under which it is unique: trimmed and lower-cased.
pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A new password: a string of 4 to [`MAX_PASSWORD_CHARS`] characters once trimmed (4 is
/// the reference API's minimum, kept for its clients; long passphrases are welcome);
/// returns it trimmed.
pub fn new_password(value: Option<&Value>) -> Result<String, FieldError> {
    let invalid = || FieldError::new("password", "Password must be between 4 and 128 characters");
    let password = value.and_then(Value::as_str).ok_or_else(invalid)?.trim();
    if !(4..=MAX_PASSWORD_CHARS).contains(&password.chars().count()) {
        return Err(invalid());
    }
    Ok(password.to_owned())
}

/// A page size from a query's `limit`: a whole number from 1 to `max`.
pub fn limit(value: &str, max: i64) -> Result<i64, FieldError> {
    value
        .trim()
        .parse()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| {
            FieldError::new(
                "limit",
                format!("Limit must be a whole number from 1 to {max}"),
            )
        })
}

/// Where a page starts, from a query's `offset`: a whole number, 0 or more.
pub fn offset(value: &str) -> Result<i64, FieldError> {
    value
        .trim()
        .parse()
        .ok()
        .filter(|n: &i64| *n >= 0)
        .ok_or_else(|| FieldError::new("offset", "Offset must be a whole number, 0 or more"))
}

/// The longest password accepted at sign-up, in characters.
pub const MAX_PASSWORD_CHARS: usize = 128;

/// A password to check: a non-empty string once trimmed; returns it trimmed.
pub fn password(value: Option<&Value>) -> Result<String, FieldError> {
    let invalid = || FieldError::new("password", "You must supply a password");
    let password = value.and_then(Value::as_str).ok_or_else(invalid)?.trim();
    if password.is_empty() {
        return Err(invalid());
    }
    Ok(password.to_owned())
}

/// A ticket title: a string, non-empty and at most [`MAX_TITLE_CHARS`] once trimmed;
/// returns it trimmed.
pub fn title(value: Option<&Value>) -> Result<String, FieldError> {
    let title = value
        .and_then(Value::as_str)
        .ok_or_else(|| FieldError::new("title", "Title is required"))?
        .trim();
    if title.is_empty() {
        return Err(FieldError::new("title", "Title is required"));
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(FieldError::new(
            "title",
            "Title must be at most 200 characters",
        ));
    }
    Ok(title.to_owned())
}

/// A price to list: a JSON number of dollars, with at most 2 decimals, that Stripe can
/// charge (0.50 to 999,999.99: [`Price::chargeable`]).
pub fn price(value: Option<&Value>) -> Result<Price, FieldError> {
    let value = value.ok_or_else(|| FieldError::new("price", "Price must be greater than 0"))?;
    Price::from_json(value)
        .and_then(Price::chargeable)
        .map_err(|e| FieldError::new("price", e.to_string()))
}

/// A required string field (an id or a token): present, a string, non-empty and at most
/// [`MAX_STRING_CHARS`] once trimmed.
pub fn required_string(field: &str, value: Option<&Value>) -> Result<String, FieldError> {
    let message = format!("{} is required", capitalised(field));
    let text = value
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| FieldError::new(field, message))?;
    if text.chars().count() > MAX_STRING_CHARS {
        return Err(FieldError::new(
            field,
            format!(
                "{} must be at most {MAX_STRING_CHARS} characters",
                capitalised(field)
            ),
        ));
    }
    Ok(text.to_owned())
}

/// A required id field (such as `ticketId`): a [`required_string`] of the shape of
/// [`crate::ids::is_well_formed`].
pub fn id(field: &str, value: Option<&Value>) -> Result<String, FieldError> {
    let id = required_string(field, value)?;
    if !crate::ids::is_well_formed(&id) {
        return Err(FieldError::new(
            field,
            format!("{} must be a valid id", capitalised(field)),
        ));
    }
    Ok(id)
}

/// Longest product SKU accepted.
pub const MAX_SKU_CHARS: usize = 32;

/// The SKU (a product's stock-keeping unit, its id) that `text` names, normalised
/// (trimmed, upper case): 3 to [`MAX_SKU_CHARS`] of A–Z, 0–9 and `-`, starting with a
/// letter or digit; `None` when it is not one (a path with such a SKU is a 404).
pub fn sku_text(text: &str) -> Option<String> {
    let sku = text.trim().to_ascii_uppercase();
    let shaped = (3..=MAX_SKU_CHARS).contains(&sku.len())
        && sku
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
        && !sku.starts_with('-');
    shaped.then_some(sku)
}

/// A required `sku` field: a string that [`sku_text`] accepts; returns it normalised.
pub fn sku(value: Option<&Value>) -> Result<String, FieldError> {
    value
        .and_then(Value::as_str)
        .and_then(sku_text)
        .ok_or_else(|| {
            FieldError::new(
                "sku",
                "SKU must be 3 to 32 letters, digits or dashes, starting with a letter or digit",
            )
        })
}

/// A `quantity` field: a whole number from `min` to `max`.
pub fn quantity(value: Option<&Value>, min: i64, max: i64) -> Result<i64, FieldError> {
    value
        .and_then(Value::as_i64)
        .filter(|q| (min..=max).contains(q))
        .ok_or_else(|| {
            FieldError::new(
                "quantity",
                format!("Quantity must be a whole number from {min} to {max}"),
            )
        })
}

fn capitalised(field: &str) -> String {
    let mut chars = field.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// Both values, or a 400 listing the errors of both fields.
pub fn both<A, B>(a: Result<A, FieldError>, b: Result<B, FieldError>) -> Result<(A, B), ApiError> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (a, b) => Err(ApiError::Validation(
            [a.err(), b.err()].into_iter().flatten().collect(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus_are_normalised_and_shaped() {
        assert_eq!(sku_text(" mug-01 "), Some("MUG-01".into()));
        assert_eq!(sku_text("ABC"), Some("ABC".into()));
        for bad in ["", "AB", "-AB", "A B", "ÄBC", "a/b/c", &"A".repeat(33)] {
            assert_eq!(sku_text(bad), None, "{bad:?}");
        }
        assert_eq!(sku(Some(&Value::from("tee-xl"))), Ok("TEE-XL".into()));
        assert_eq!(
            sku(Some(&Value::from(7))).unwrap_err().field.as_deref(),
            Some("sku")
        );
        assert!(sku(None).is_err());
    }

    #[test]
    fn quantities_are_whole_numbers_in_range() {
        assert_eq!(quantity(Some(&Value::from(3)), 1, 99), Ok(3));
        assert_eq!(quantity(Some(&Value::from(0)), 0, 99), Ok(0));
        for bad in [
            Value::from(0),
            Value::from(100),
            Value::from(1.5),
            Value::from("2"),
            Value::Null,
        ] {
            let error = quantity(Some(&bad), 1, 99).unwrap_err();
            assert_eq!(
                error.message,
                "Quantity must be a whole number from 1 to 99"
            );
        }
    }
    use serde_json::json;

    #[test]
    fn emails() {
        assert_eq!(
            email(Some(&json!(" Test@Test.com "))).unwrap(),
            "Test@Test.com"
        );
        assert_eq!(email_key(" Test@Test.COM "), "test@test.com");
        for bad in [json!("nope"), json!(""), json!(5), json!(null), json!("a@")] {
            assert_eq!(
                email(Some(&bad)).unwrap_err().field.as_deref(),
                Some("email")
            );
        }
        assert!(email(None).is_err());
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(email(Some(&json!(long))).is_err());
    }

    #[test]
    fn passwords() {
        assert_eq!(new_password(Some(&json!("  pass  "))).unwrap(), "pass");
        assert!(new_password(Some(&json!(" abc "))).is_err());
        let passphrase = "correct horse battery staple ".repeat(4);
        assert_eq!(
            new_password(Some(&json!(passphrase))).unwrap(),
            passphrase.trim()
        );
        assert!(new_password(Some(&json!("a".repeat(MAX_PASSWORD_CHARS)))).is_ok());
        assert!(new_password(Some(&json!("a".repeat(MAX_PASSWORD_CHARS + 1)))).is_err());
        assert!(new_password(Some(&json!(1234))).is_err());
        assert!(password(Some(&json!("   "))).is_err());
        assert_eq!(password(Some(&json!("x"))).unwrap(), "x");
    }

    #[test]
    fn titles() {
        assert_eq!(title(Some(&json!("  concert "))).unwrap(), "concert");
        assert_eq!(
            title(Some(&json!("   "))).unwrap_err().message,
            "Title is required"
        );
        assert!(title(Some(&json!(12))).is_err());
        assert!(title(None).is_err());
        assert!(title(Some(&json!("é".repeat(200)))).is_ok());
        assert!(title(Some(&json!("a".repeat(201)))).is_err());
    }

    #[test]
    fn prices_name_their_field() {
        assert_eq!(price(Some(&json!(10))).unwrap().cents(), 1000);
        let e = price(Some(&json!(-10))).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("price"));
        assert_eq!(e.message, "Price must be greater than 0");
        assert!(price(None).is_err());
        assert!(price(Some(&json!("10"))).is_err());
        let cheap = price(Some(&json!(0.49))).unwrap_err();
        assert_eq!(
            cheap.message,
            "Price must be at least 0.5, the least Stripe charges"
        );
        assert_eq!(price(Some(&json!(0.5))).unwrap().cents(), 50);
        assert_eq!(price(Some(&json!(999_999.99))).unwrap().cents(), 99_999_999);
        let dear = price(Some(&json!(1_000_000))).unwrap_err();
        assert_eq!(dear.message, "Price must be at most 999999.99");
    }

    #[test]
    fn both_gathers_every_error() {
        let e = both(title(None), price(None)).unwrap_err();
        let ApiError::Validation(errors) = e else {
            panic!()
        };
        assert_eq!(errors.len(), 2);
        assert_eq!(
            both(Ok::<_, FieldError>(1), Ok::<_, FieldError>(2)).unwrap(),
            (1, 2)
        );
        assert_eq!(
            required_string("ticketId", Some(&json!(" ")))
                .unwrap_err()
                .message,
            "TicketId is required"
        );
        let long = "t".repeat(MAX_STRING_CHARS + 1);
        assert_eq!(
            required_string("token", Some(&json!(long)))
                .unwrap_err()
                .message,
            "Token must be at most 256 characters"
        );
        assert!(required_string("token", Some(&json!(&long[1..]))).is_ok());
        let id = crate::ids::new_id();
        assert_eq!(self::id("orderId", Some(&json!(id))), Ok(id));
        for bad in [json!("../x"), json!("f"), json!(42), json!(null)] {
            assert_eq!(
                self::id("orderId", Some(&bad))
                    .unwrap_err()
                    .field
                    .as_deref(),
                Some("orderId")
            );
        }
        assert_eq!(
            self::id("ticketId", Some(&json!("nope")))
                .unwrap_err()
                .message,
            "TicketId must be a valid id"
        );
    }
}
