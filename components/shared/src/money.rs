//! Money: an amount of US dollars with at most 2 decimals, held as integer cents and
//! written in JSON as a number of dollars (`20`, `12.5`, `0.99`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The largest amount read, in dollars: what an event or a stored row may carry.
pub const MAX_DOLLARS: i64 = 1_000_000;

/// The least a price may be when it is listed: Stripe's minimum charge in US dollars
/// (Stripe's docs, "Supported currencies", minimum and maximum charge amounts: $0.50).
pub const MIN_LISTED_CENTS: i64 = 50;

/// The most a price may be when it is listed: Stripe's largest USD charge ($999,999.99,
/// an amount of at most eight digits in cents; same page).
pub const MAX_LISTED_CENTS: i64 = 99_999_999;

/// An amount of money in cents, always > 0 and at most [`MAX_DOLLARS`] when it comes
/// from [`Price::from_json`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price(i64);

/// Why a JSON value is not a price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    /// Not a JSON number (strings are refused).
    #[error("Price must be a number")]
    NotANumber,
    /// Zero or negative.
    #[error("Price must be greater than 0")]
    NotPositive,
    /// Over what Stripe can charge ([`MAX_LISTED_CENTS`]; [`MAX_DOLLARS`] when read).
    #[error("Price must be at most 999999.99")]
    TooLarge,
    /// Under Stripe's minimum charge ([`MIN_LISTED_CENTS`]).
    #[error("Price must be at least 0.5, the least Stripe charges")]
    BelowStripesMinimum,
    /// More than 2 decimals.
    #[error("Price must have at most 2 decimals")]
    TooPrecise,
}

impl Price {
    /// Whether Stripe can charge this amount (see [`MIN_LISTED_CENTS`] and
    /// [`MAX_LISTED_CENTS`]): what a seller may list, so that no buyer is shown a price the
    /// shop cannot take.
    pub fn chargeable(self) -> Result<Self, PriceError> {
        if self.0 < MIN_LISTED_CENTS {
            Err(PriceError::BelowStripesMinimum)
        } else if self.0 > MAX_LISTED_CENTS {
            Err(PriceError::TooLarge)
        } else {
            Ok(self)
        }
    }

    /// A price of `cents` cents, as stored.
    pub fn from_cents(cents: i64) -> Self {
        Self(cents)
    }

    /// The amount in cents.
    pub fn cents(self) -> i64 {
        self.0
    }

    /// Reads a price from a JSON value in dollars.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, PriceError> {
        let dollars = value.as_f64().ok_or(PriceError::NotANumber)?;
        if !dollars.is_finite() {
            return Err(PriceError::NotANumber);
        }
        if dollars <= 0.0 {
            return Err(PriceError::NotPositive);
        }
        if dollars > MAX_DOLLARS as f64 {
            return Err(PriceError::TooLarge);
        }
        let cents = dollars * 100.0;
        let rounded = cents.round();
        // Binary floats cannot hold 0.1 exactly; anything this close is a whole cent. A
        // positive amount that close to no cent at all (5e-324) has more than 2 decimals,
        // not a price of 0.
        if (cents - rounded).abs() > 1e-6 || rounded < 1.0 {
            return Err(PriceError::TooPrecise);
        }
        Ok(Self(rounded as i64))
    }

    /// The amount as a JSON number of dollars: an integer when whole.
    pub fn to_json(self) -> serde_json::Value {
        if self.0 % 100 == 0 {
            serde_json::Value::from(self.0 / 100)
        } else {
            serde_json::Value::from(self.0 as f64 / 100.0)
        }
    }
}

impl Serialize for Price {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Price {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Self::from_json(&value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prices_are_read_in_dollars() {
        assert_eq!(Price::from_json(&json!(20)).unwrap().cents(), 2000);
        assert_eq!(Price::from_json(&json!(12.5)).unwrap().cents(), 1250);
        assert_eq!(Price::from_json(&json!(0.1)).unwrap().cents(), 10);
        assert_eq!(Price::from_json(&json!(19.99)).unwrap().cents(), 1999);
        assert_eq!(
            Price::from_json(&json!(1_000_000)).unwrap().cents(),
            100_000_000
        );
    }

    #[test]
    fn bad_prices_are_refused() {
        assert_eq!(Price::from_json(&json!("10")), Err(PriceError::NotANumber));
        assert_eq!(Price::from_json(&json!(null)), Err(PriceError::NotANumber));
        assert_eq!(Price::from_json(&json!(0)), Err(PriceError::NotPositive));
        assert_eq!(Price::from_json(&json!(-10)), Err(PriceError::NotPositive));
        assert_eq!(
            Price::from_json(&json!(12.345)),
            Err(PriceError::TooPrecise)
        );
        assert_eq!(Price::from_json(&json!(0.001)), Err(PriceError::TooPrecise));
        // Found by schemathesis: a positive amount too small for a cent was a price of 0.
        for tiny in [5e-324, 1e-9, 4.9e-9] {
            assert_eq!(
                Price::from_json(&json!(tiny)),
                Err(PriceError::TooPrecise),
                "{tiny}"
            );
        }
        assert_eq!(Price::from_json(&json!(1e300)), Err(PriceError::TooLarge));
    }

    #[test]
    fn a_listed_price_is_one_stripe_can_charge() {
        let chargeable = |cents| Price::from_cents(cents).chargeable();
        assert_eq!(chargeable(49), Err(PriceError::BelowStripesMinimum));
        assert_eq!(chargeable(1), Err(PriceError::BelowStripesMinimum));
        assert!(chargeable(50).is_ok());
        assert!(chargeable(99_999_999).is_ok());
        assert_eq!(chargeable(100_000_000), Err(PriceError::TooLarge));
        // What events and rows carry is read as it is.
        assert_eq!(Price::from_json(&json!(0.1)).unwrap().cents(), 10);
    }

    #[test]
    fn prices_are_written_in_dollars() {
        assert_eq!(Price::from_cents(2000).to_json().to_string(), "20");
        assert_eq!(Price::from_cents(1250).to_json().to_string(), "12.5");
        assert_eq!(Price::from_cents(1234).to_json().to_string(), "12.34");
        assert_eq!(Price::from_cents(99).to_json().to_string(), "0.99");
        let back: Price = serde_json::from_str("12.34").unwrap();
        assert_eq!(back.cents(), 1234);
    }
}
