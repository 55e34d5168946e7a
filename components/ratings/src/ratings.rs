//! The rules of ratings: who may vote (only a buyer of the
//! product), what a vote is (1 to 5 whole stars, one per buyer and product, which a later
//! vote replaces), and what a product's rating is (the mean of its votes, to 1 decimal).

use boxoffice_shared::sql::{transaction, Db};
use boxoffice_shared::{validate, ApiError, FieldError};
use serde::Serialize;
use serde_json::Value;

use crate::storage::{self, Tally};

/// The message when someone who has not bought a product rates it.
pub const ONLY_BUYERS: &str = "Only buyers of this product can rate it";
/// The message when `stars` is not a vote.
pub const STARS_INVALID: &str = "Stars must be a whole number from 1 to 5";
/// How many products one listing may ask for.
pub const MAX_LISTED: usize = 50;

/// The product codes of a listing: comma-separated, each a SKU ([`validate::sku_text`]), at most
/// [`MAX_LISTED`] distinct ones, in the order first given; empty for an empty text.
pub fn skus(text: &str) -> Result<Vec<String>, ApiError> {
    let mut skus: Vec<String> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let sku = validate::sku_text(part).ok_or_else(|| {
            ApiError::Validation(vec![FieldError::new(
                "skus",
                format!("{part:?} is not a product code (3 to 32 of A-Z, 0-9 and -)"),
            )])
        })?;
        if !skus.contains(&sku) {
            skus.push(sku);
        }
    }
    if skus.len() > MAX_LISTED {
        return Err(ApiError::Validation(vec![FieldError::new(
            "skus",
            format!("At most {MAX_LISTED} products at a time"),
        )]));
    }
    Ok(skus)
}

/// A vote: a JSON whole number from 1 to 5 (`4.0` is 4; `4.5`, `"4"` and anything else
/// are refused).
pub fn stars(value: Option<&Value>) -> Result<i64, FieldError> {
    let invalid = || FieldError::new("stars", STARS_INVALID);
    let number = value.and_then(Value::as_f64).ok_or_else(invalid)?;
    if number.fract() != 0.0 || !(1.0..=5.0).contains(&number) {
        return Err(invalid());
    }
    Ok(number as i64)
}

/// The mean of `tally`'s votes rounded half up to 1 decimal, in tenths of a star
/// (integer arithmetic, so 4.25 is 4.3 on every platform); `None` without votes.
pub fn average_tenths(tally: Tally) -> Option<i64> {
    (tally.votes > 0).then(|| (20 * tally.stars + tally.votes) / (2 * tally.votes))
}

/// A product's rating in a listing: `{sku, average, count}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The product.
    pub sku: String,
    /// The mean of the votes to 1 decimal; `null` without votes.
    pub average: Option<f64>,
    /// How many buyers voted.
    pub count: i64,
}

impl Summary {
    fn of(sku: String, tally: Tally) -> Self {
        Self {
            sku,
            average: average_tenths(tally).map(|tenths| tenths as f64 / 10.0),
            count: tally.votes,
        }
    }
}

/// A product's rating as the caller sees it: `{sku, average, count, mine}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rating {
    /// The product, its votes and their mean.
    #[serde(flatten)]
    pub summary: Summary,
    /// The caller's stars, when signed in and voted.
    pub mine: Option<i64>,
}

/// The rating of `sku` for the caller `user_id` (`None`: anonymous).
pub fn show(db: &dyn Db, sku: &str, user_id: Option<&str>) -> Result<Rating, ApiError> {
    let mine = match user_id {
        Some(user_id) => storage::vote_of(db, user_id, sku)?,
        None => None,
    };
    Ok(Rating {
        summary: Summary::of(sku.to_owned(), storage::tally_of(db, sku)?),
        mine,
    })
}

/// The ratings of `skus`, in their order.
pub fn list(db: &dyn Db, skus: &[String]) -> Result<Vec<Summary>, ApiError> {
    let tallies = storage::tallies_of(db, skus)?;
    Ok(skus
        .iter()
        .map(|sku| {
            let tally = tallies
                .iter()
                .find(|(voted, _)| voted == sku)
                .map_or(Tally::default(), |(_, tally)| *tally);
            Summary::of(sku.clone(), tally)
        })
        .collect())
}

/// Records `user_id`'s vote of `stars` for `sku`, replacing an earlier one: 400
/// [`ONLY_BUYERS`] unless they bought it. Returns the rating with the vote.
pub fn rate(
    db: &dyn Db,
    sku: &str,
    user_id: &str,
    stars: i64,
    now_ms: i64,
) -> Result<Rating, ApiError> {
    transaction(db, |tx| {
        if !storage::is_buyer(tx, user_id, sku)? {
            return Err(ApiError::bad_request(ONLY_BUYERS));
        }
        storage::save_vote(tx, user_id, sku, stars, now_ms)?;
        show(tx, sku, Some(user_id))
    })
}

/// Learns that `user_id` bought each product of `skus` (a completed purchase); a buyer
/// known already stays one row.
pub fn learn_buyer<'a>(
    tx: &dyn Db,
    user_id: &str,
    skus: impl IntoIterator<Item = &'a str>,
) -> Result<(), ApiError> {
    for sku in skus {
        storage::add_buyer(tx, user_id, sku)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_shared::sql::native::NativeSqlite;
    use boxoffice_shared::testing::{migrate, NOW};
    use serde_json::json;

    fn db() -> NativeSqlite {
        let db = NativeSqlite::open_in_memory().unwrap();
        migrate(&db, &storage::migrations()).unwrap();
        db
    }

    #[test]
    fn listings_take_up_to_fifty_distinct_codes_in_order() {
        assert_eq!(skus("").unwrap(), Vec::<String>::new());
        assert_eq!(
            skus("tee-2, MUG-1,,tee-2").unwrap(),
            ["TEE-2".to_owned(), "MUG-1".to_owned()]
        );
        let fifty: Vec<String> = (0..50).map(|n| format!("SKU-{n}")).collect();
        assert_eq!(skus(&fifty.join(",")).unwrap(), fifty);
        let too_many = format!("{},SKU-50", fifty.join(","));
        let refused = skus(&too_many).unwrap_err();
        assert_eq!(
            refused,
            ApiError::Validation(vec![FieldError::new(
                "skus",
                "At most 50 products at a time"
            )])
        );
        let ApiError::Validation(errors) = skus("MUG-1,x").unwrap_err() else {
            panic!("a validation error")
        };
        assert_eq!(errors[0].field.as_deref(), Some("skus"));
    }

    #[test]
    fn stars_are_whole_numbers_from_one_to_five() {
        for good in [1, 3, 5] {
            assert_eq!(stars(Some(&json!(good))), Ok(good));
        }
        assert_eq!(stars(Some(&json!(4.0))), Ok(4));
        for bad in [
            json!(0),
            json!(6),
            json!(-1),
            json!(4.5),
            json!("4"),
            json!(null),
            json!([4]),
        ] {
            assert_eq!(
                stars(Some(&bad)),
                Err(FieldError::new("stars", STARS_INVALID)),
                "{bad}"
            );
        }
        assert_eq!(stars(None), Err(FieldError::new("stars", STARS_INVALID)));
    }

    #[test]
    fn averages_round_half_up_to_one_decimal() {
        let avg = |votes, stars| average_tenths(Tally { votes, stars });
        assert_eq!(avg(0, 0), None);
        assert_eq!(avg(1, 5), Some(50));
        assert_eq!(avg(2, 9), Some(45));
        assert_eq!(avg(3, 13), Some(43), "4.333");
        assert_eq!(avg(3, 5), Some(17), "1.667");
        assert_eq!(avg(4, 17), Some(43), "4.25 rounds up");
        assert_eq!(avg(4, 9), Some(23), "2.25 rounds up");
        assert_eq!(avg(7, 8), Some(11), "1.143");
    }

    #[test]
    fn only_buyers_rate_and_a_second_vote_replaces_the_first() {
        let db = db();
        assert_eq!(
            rate(&db, "MUG-1", "u1", 4, NOW),
            Err(ApiError::bad_request(ONLY_BUYERS))
        );
        learn_buyer(&db, "u1", ["MUG-1", "TEE-2"]).unwrap();
        learn_buyer(&db, "u1", ["MUG-1"]).unwrap();
        assert_eq!(
            rate(&db, "MUG-1", "u2", 4, NOW),
            Err(ApiError::bad_request(ONLY_BUYERS)),
            "someone else's purchase"
        );
        assert_eq!(
            rate(&db, "CUP-3", "u1", 4, NOW),
            Err(ApiError::bad_request(ONLY_BUYERS)),
            "another product"
        );
        let first = rate(&db, "MUG-1", "u1", 2, NOW).unwrap();
        assert_eq!(
            serde_json::to_value(&first).unwrap(),
            json!({"sku": "MUG-1", "average": 2.0, "count": 1, "mine": 2})
        );
        let changed = rate(&db, "MUG-1", "u1", 5, NOW + 1).unwrap();
        assert_eq!((changed.summary.count, changed.mine), (1, Some(5)));
        assert_eq!(changed.summary.average, Some(5.0));
        assert_eq!(storage::vote_of(&db, "u1", "MUG-1").unwrap(), Some(5));
    }

    #[test]
    fn ratings_average_the_votes_of_every_buyer() {
        let db = db();
        for (user, stars) in [("u1", 4), ("u2", 4), ("u3", 5)] {
            learn_buyer(&db, user, ["MUG-1"]).unwrap();
            rate(&db, "MUG-1", user, stars, NOW).unwrap();
        }
        let anonymous = show(&db, "MUG-1", None).unwrap();
        assert_eq!(
            serde_json::to_value(&anonymous).unwrap(),
            json!({"sku": "MUG-1", "average": 4.3, "count": 3, "mine": null})
        );
        assert_eq!(show(&db, "MUG-1", Some("u3")).unwrap().mine, Some(5));
        assert_eq!(show(&db, "MUG-1", Some("u9")).unwrap().mine, None);
        assert_eq!(
            serde_json::to_value(show(&db, "NEVER-SOLD", Some("u1")).unwrap()).unwrap(),
            json!({"sku": "NEVER-SOLD", "average": null, "count": 0, "mine": null})
        );
        let listed = list(&db, &["NEVER-SOLD".into(), "MUG-1".into()]).unwrap();
        assert_eq!(
            serde_json::to_value(listed).unwrap(),
            json!([{"sku": "NEVER-SOLD", "average": null, "count": 0},
                   {"sku": "MUG-1", "average": 4.3, "count": 3}])
        );
        assert_eq!(list(&db, &[]).unwrap(), []);
    }
}
