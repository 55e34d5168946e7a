//! The explorer: a page to write a query and read its result, served by the component
//! itself. It needs no script and loads nothing from anywhere: the form sends the query
//! with GET to this page, which runs it (queries only; a mutation is refused) and shows
//! the result under the form.

use maud::{html, Markup, DOCTYPE};
use spin_sdk::http::Response;

/// An example to start from.
pub const EXAMPLE: &str =
    "{\n  tickets(limit: 5) {\n    total\n    items { id title price }\n  }\n  me { email }\n}";

/// The page's fields, as the query string gave them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Form {
    /// The query.
    pub query: String,
    /// Its variables, as JSON text.
    pub variables: String,
}

impl Form {
    /// The fields of the query string `query`.
    pub fn read(query: &str) -> Self {
        let mut form = Form::default();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match name.as_ref() {
                "query" => form.query = value.into_owned(),
                "variables" => form.variables = value.into_owned(),
                _ => {}
            }
        }
        form
    }
}

/// The page's policy: nothing but itself, no script at all.
pub const POLICY: &str = "default-src 'none'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";

/// The explorer with `form` filled in and `result` (pretty JSON, or why the request was
/// refused) under it.
pub fn page(form: &Form, result: Option<&str>) -> Response {
    let query = if form.query.trim().is_empty() {
        EXAMPLE
    } else {
        form.query.as_str()
    };
    let markup: Markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "GraphQL explorer · boxoffice" }
            }
            body {
                header { a href="/" { "boxoffice" } " · " a href="/api/docs" { "API documentation" } }
                main {
                    h1 { "GraphQL explorer" }
                    p {
                        "Queries run as you (your session cookie goes with them). Mutations "
                        "are POSTed to " code { "/api/graphql" } " as JSON, not sent from here."
                    }
                    form method="get" action="/api/graphql/explorer" {
                        p {
                            label for="query" { "Query" } br;
                            textarea id="query" name="query" rows="14" cols="72" spellcheck="false" { (query) }
                        }
                        p {
                            label for="variables" { "Variables (JSON)" } br;
                            textarea id="variables" name="variables" rows="3" cols="72" spellcheck="false" { (form.variables) }
                        }
                        p { button type="submit" { "Run" } }
                    }
                    @if let Some(result) = result {
                        section aria-labelledby="result" {
                            h2 id="result" { "Result" }
                            pre tabindex="0" { code { (result) } }
                        }
                    }
                }
            }
        }
    };
    Response::builder()
        .status(200)
        .header("content-type", "text/html; charset=utf-8")
        .header("content-security-policy", POLICY)
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "same-origin")
        .body(markup.into_string())
        .build()
}
