//! The pages of things that went wrong: nothing here, not yours, refused, unavailable.

use maud::{html, Markup};

use super::{layout, Head, Visitor};
use crate::csrf::Refusal;

/// A path, ticket or order that is not there (or not the visitor's to see).
pub fn not_found(visitor: &Visitor) -> Markup {
    layout(
        "Page not found",
        visitor,
        Head::default(),
        html! {
            p { "There is nothing here for you. " a href="/" { "See the tickets on sale." } }
        },
    )
}

/// A form post that did not come from a page of this shop, or from this session.
pub fn refused(visitor: &Visitor, why: Refusal) -> Markup {
    layout(
        "Request refused",
        visitor,
        Head::default(),
        html! {
            @match why {
                Refusal::CrossSite => p {
                    "This form was sent from another site, so nothing was done. "
                    "If you meant to do this, do it from the shop's own pages."
                },
                Refusal::BadToken => p {
                    "This form belongs to another session (you may have signed in or out "
                    "since it was shown), so nothing was done. Go back, reload the page and "
                    "try again."
                },
            }
            p { a href="/" { "Back to the tickets on sale" } }
        },
    )
}

/// A refusal of the API that the page has no better place for (such as editing someone
/// else's ticket).
pub fn message(visitor: &Visitor, title: &str, text: &str) -> Markup {
    layout(
        title,
        visitor,
        Head::default(),
        html! {
            p { (text) }
            p { a href="/" { "Back to the tickets on sale" } }
        },
    )
}

/// The page shown when the shop cannot answer.
pub fn unavailable(visitor: &Visitor) -> Markup {
    layout(
        "The shop is temporarily unavailable",
        visitor,
        Head::default(),
        html! {
            p { "Nothing was lost. Please try again in a moment." }
        },
    )
}
