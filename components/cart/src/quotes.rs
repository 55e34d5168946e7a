//! Shipping quotes, which are the shipping service's: the cart asks it through Spin
//! service chaining (`http://shipping.spin.internal`, in-process on every host that chains,
//! granted in `spin.toml`), so that the rule for what shipping costs lives in one place.

use std::future::Future;
use std::pin::Pin;

use boxoffice_shared::chain::{self, Failure};
use boxoffice_shared::{ApiError, FieldError};

use crate::model::Shipping;

/// Where the shipping service answers quotes.
pub const QUOTES: &str = "http://shipping.spin.internal/api/shipping/quotes";

/// The message for a city the shipping service does not know.
pub const UNKNOWN_CITY: &str = "Unknown city";

/// What a quote lookup answers: the quote, `None` for an unknown city, or why there was no
/// answer.
pub type Lookup<'a> = Pin<Box<dyn Future<Output = Result<Option<Shipping>, String>> + 'a>>;

/// A source of shipping quotes.
pub trait Quotes {
    /// The quote for the city whose code is `city` (already checked by [`city_code`]).
    fn quote<'a>(&'a self, city: &'a str) -> Lookup<'a>;
}

/// A city code as a cart takes it: trimmed, lower case, 1 to 16 of a–z, 0–9 and `-` (so it
/// is a path segment as it stands); 400 on the field `city` otherwise.
pub fn city_code(value: Option<&serde_json::Value>) -> Result<String, ApiError> {
    let code = value
        .and_then(serde_json::Value::as_str)
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::Validation(vec![FieldError::new("city", "City is required")]))?;
    let shaped = code.len() <= 16
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !shaped {
        return Err(ApiError::Validation(vec![FieldError::new(
            "city",
            UNKNOWN_CITY,
        )]));
    }
    Ok(code)
}

/// The quote for `city` from `quotes`: 400 [`UNKNOWN_CITY`] on the field `city`, 503 when
/// the shipping service does not answer.
pub async fn quote(quotes: &dyn Quotes, city: &str) -> Result<Shipping, ApiError> {
    match quotes.quote(city).await {
        Ok(Some(quote)) => Ok(quote),
        Ok(None) => Err(ApiError::Validation(vec![FieldError::new(
            "city",
            UNKNOWN_CITY,
        )])),
        Err(why) => {
            eprintln!("cart: no shipping quote for {city}: {why}");
            Err(ApiError::Unavailable(
                "Shipping quotes are unavailable; try again shortly".to_owned(),
            ))
        }
    }
}

/// The shipping service, reached through service chaining.
pub struct ShippingService;

impl Quotes for ShippingService {
    fn quote<'a>(&'a self, city: &'a str) -> Lookup<'a> {
        Box::pin(async move {
            let url = format!("{QUOTES}/{city}");
            let method = spin_sdk::http::Method::Get;
            match chain::send("cart", method, &url, None, false, &Default::default(), None).await {
                Ok(response) => serde_json::from_slice(response.body())
                    .map(Some)
                    .map_err(|e| format!("GET {url}: unreadable quote: {e}")),
                Err(Failure::Refused { status: 404, .. }) => Ok(None),
                Err(failure) => Err(format!("GET {url}: {failure:?}")),
            }
        })
    }
}
