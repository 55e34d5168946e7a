//! What a cart costs: the goods at their prices, the sales tax on the goods
//! (`sales_tax_percent`), and the shipping quote. Money is whole cents throughout; the tax
//! is rounded half up to the cent.

use boxoffice_shared::money::Price;

/// The tax rate when `sales_tax_percent` is unset: 8 %, in basis points.
pub const DEFAULT_TAX_BASIS_POINTS: i64 = 800;

/// The tax rate that `sales_tax_percent` says, in basis points (1/100 of a percent): a
/// number from 0 to 100 with at most 2 decimals. Empty or unset is the default; anything
/// else is logged and the default used, so that a typo is seen and never charged.
pub fn tax_basis_points(text: Option<&str>) -> i64 {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return DEFAULT_TAX_BASIS_POINTS;
    };
    parse_percent(text).unwrap_or_else(|| {
        eprintln!(
            "sales_tax_percent={text:?} is not a percentage from 0 to 100 with at most 2 \
             decimals; using {}",
            DEFAULT_TAX_BASIS_POINTS as f64 / 100.0
        );
        DEFAULT_TAX_BASIS_POINTS
    })
}

fn parse_percent(text: &str) -> Option<i64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || whole.len() > 3
        || fraction.len() > 2
        || !digits(whole)
        || !digits(fraction)
    {
        return None;
    }
    let points =
        whole.parse::<i64>().ok()? * 100 + format!("{fraction:0<2}").parse::<i64>().ok()?;
    (points <= 10_000).then_some(points)
}

/// The tax on `goods` at `basis_points`, rounded half up to the cent.
pub fn tax(goods: Price, basis_points: i64) -> Price {
    Price::from_cents((goods.cents() * basis_points + 5_000) / 10_000)
}

/// `price` × `quantity`.
pub fn line_total(price: Price, quantity: i64) -> Price {
    Price::from_cents(price.cents() * quantity)
}

/// What a buyer pays for `goods` with `shipping`, and the tax in it.
pub fn totals(goods: Price, shipping: Option<Price>, basis_points: i64) -> (Price, Price) {
    let tax = tax(goods, basis_points);
    let total = goods.cents() + tax.cents() + shipping.map_or(0, Price::cents);
    (tax, Price::from_cents(total))
}

/// A tax rate as a JSON percentage: `8.25` for 825 basis points.
pub fn percent(basis_points: i64) -> f64 {
    basis_points as f64 / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_read_as_a_percentage_with_two_decimals_at_most() {
        for (text, points) in [
            (Some("8"), 800),
            (Some(" 8.25 "), 825),
            (Some("0"), 0),
            (Some("0.5"), 50),
            (Some("100"), 10_000),
            (None, DEFAULT_TAX_BASIS_POINTS),
            (Some(""), DEFAULT_TAX_BASIS_POINTS),
        ] {
            assert_eq!(tax_basis_points(text), points, "{text:?}");
        }
        for bad in ["-1", "100.01", "8.255", "eight", "1e2", ".5", "12,5"] {
            assert_eq!(
                tax_basis_points(Some(bad)),
                DEFAULT_TAX_BASIS_POINTS,
                "{bad}"
            );
        }
    }

    #[test]
    fn tax_rounds_half_up_to_the_cent_and_totals_add_up() {
        assert_eq!(tax(Price::from_cents(1000), 825).cents(), 83);
        assert_eq!(
            tax(Price::from_cents(200), 825).cents(),
            17,
            "16.5 rounds up"
        );
        assert_eq!(tax(Price::from_cents(199), 825).cents(), 16);
        assert_eq!(tax(Price::from_cents(1999), 0).cents(), 0);
        let (tax, total) = totals(Price::from_cents(2500), Some(Price::from_cents(499)), 800);
        assert_eq!((tax.cents(), total.cents()), (200, 3199));
        assert_eq!(totals(Price::from_cents(0), None, 800).1.cents(), 0);
        assert_eq!(line_total(Price::from_cents(1250), 3).cents(), 3750);
    }
}
