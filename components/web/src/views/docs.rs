//! The API document as a page (`/api/docs`): every operation grouped by tag, with its
//! parameters, body, answers and the schemas they name, rendered here on the server from
//! the document itself, so that the page needs no script and nothing from elsewhere.

use maud::{html, Markup};
use serde_json::{Map, Value};

use super::{layout, Head, Visitor};

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// The page of `document` (the OpenAPI document as JSON).
pub fn page(visitor: &Visitor, document: &Value) -> Markup {
    let empty = Map::new();
    let paths = document["paths"].as_object().unwrap_or(&empty);
    let tags = document["tags"].as_array().map_or(&[][..], Vec::as_slice);
    let schemas = document["components"]["schemas"]
        .as_object()
        .unwrap_or(&empty);
    let shared = document["components"]["responses"]
        .as_object()
        .unwrap_or(&empty);
    layout(
        "The boxoffice API",
        visitor,
        Head::default(),
        html! {
            p { (prose(text(&document["info"]["description"]))) }
            p {
                "OpenAPI " (text(&document["openapi"])) " document: "
                a href=(boxoffice_api::DOCUMENT_PATH) { code { (boxoffice_api::DOCUMENT_PATH) } }
                "."
            }
            nav aria-label="Sections" {
                ul {
                    @for tag in tags {
                        li { a href={ "#tag-" (text(&tag["name"])) } { (text(&tag["name"])) } }
                    }
                    li { a href="#schemas" { "schemas" } }
                }
            }
            @for tag in tags {
                section.api-tag aria-labelledby={ "tag-" (text(&tag["name"])) } {
                    h2 id={ "tag-" (text(&tag["name"])) } { (text(&tag["name"])) }
                    p { (prose(text(&tag["description"]))) }
                    @for (path, item) in paths {
                        @for method in METHODS {
                            @if let Some(operation) = item.get(method).filter(|o| tagged(o, &tag["name"])) {
                                (operation_view(method, path, operation, shared))
                            }
                        }
                    }
                }
            }
            section aria-labelledby="schemas" {
                h2 id="schemas" { "schemas" }
                @for (name, schema) in schemas {
                    h3 id={ "schema-" (name) } { (name) }
                    // Focusable, so that a keyboard can scroll a schema wider than the page.
                    pre.api-schema tabindex="0" aria-labelledby={ "schema-" (name) } { (pretty(schema)) }
                }
            }
        },
    )
}

fn tagged(operation: &Value, tag: &Value) -> bool {
    operation["tags"]
        .as_array()
        .is_some_and(|tags| tags.contains(tag))
}

fn operation_view(
    method: &str,
    path: &str,
    operation: &Value,
    shared: &Map<String, Value>,
) -> Markup {
    let id = text(&operation["operationId"]);
    html! {
        article.api-operation id=(id) {
            h3 { code { (method.to_uppercase()) " " (path) } }
            p { strong { (text(&operation["summary"])) } }
            @if let Some(description) = operation["description"].as_str() {
                p { (prose(description)) }
            }
            p.hint { "Operation " code { (id) } ". " (prose(security(&operation["security"]))) }
            @if let Some(parameters) = operation["parameters"].as_array() {
                table {
                    caption { "Parameters" }
                    thead { tr { th { "Name" } th { "In" } th { "Required" } th { "Description" } } }
                    tbody {
                        @for parameter in parameters {
                            tr {
                                td { code { (text(&parameter["name"])) } }
                                td { (text(&parameter["in"])) }
                                td { @if parameter["required"] == Value::Bool(true) { "yes" } @else { "no" } }
                                td { (prose(text(&parameter["description"]))) }
                            }
                        }
                    }
                }
            }
            @if let Some(content) = operation["requestBody"]["content"].as_object() {
                p { "Body: " (contents(content)) }
            }
            table {
                caption { "Answers" }
                thead { tr { th { "Status" } th { "Description" } th { "Body" } } }
                tbody {
                    @for (status, response) in operation["responses"].as_object().into_iter().flatten() {
                        tr {
                            td { (status) }
                            td { (prose(text(&response["description"]))) (reference(response, shared)) }
                            td {
                                @if let Some(content) = response["content"].as_object() {
                                    (contents(content))
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Who may call an operation, from its security requirements.
fn security(requirements: &Value) -> &'static str {
    let Some(requirements) = requirements.as_array() else {
        return "Public.";
    };
    let optional = requirements
        .iter()
        .any(|r| r.as_object().is_some_and(Map::is_empty));
    let scheme = |name: &str| requirements.iter().any(|r| r.get(name).is_some());
    match (optional, scheme("session"), scheme("eventSignature")) {
        (false, true, _) => "Needs a session (the `session` cookie).",
        (true, true, _) => "A session is used when there is one.",
        (_, _, true) => "Events must be signed (`ce-boxofficesig`); ticks need not be.",
        _ => "Public.",
    }
}

/// The description of a shared response, for an answer given by reference.
fn reference(response: &Value, shared: &Map<String, Value>) -> Markup {
    let name = response["$ref"].as_str().and_then(|r| r.rsplit('/').next());
    let description = name
        .and_then(|name| shared.get(name))
        .map(|r| text(&r["description"]));
    html! {
        @if let (Some(name), Some(description)) = (name, description) {
            (prose(description)) " (" code { (name) } ")"
        }
    }
}

/// Each media type with the schema it carries.
fn contents(content: &Map<String, Value>) -> Markup {
    html! {
        @for (media_type, media) in content {
            span.api-media {
                code { (media_type) } " "
                (schema_link(&media["schema"]))
            }
            " "
        }
    }
}

fn schema_link(schema: &Value) -> Markup {
    let named = |s: &Value| {
        s["$ref"]
            .as_str()
            .and_then(|r| r.rsplit('/').next())
            .map(str::to_owned)
    };
    html! {
        @if let Some(name) = named(schema) {
            a href={ "#schema-" (name) } { (name) }
        } @else if let Some(name) = named(&schema["items"]) {
            "array of " a href={ "#schema-" (name) } { (name) }
        } @else if schema.as_object().is_some_and(|s| !s.is_empty()) {
            code { (schema.to_string()) }
        }
    }
}

/// A description as the document writes it: text, with `backquoted` spans as code.
fn prose(text: &str) -> Markup {
    html! {
        @for (i, part) in text.split('`').enumerate() {
            @if i % 2 == 1 { code { (part) } } @else { (part) }
        }
    }
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backquoted_spans_are_code_and_the_rest_is_escaped() {
        assert_eq!(
            prose("Who owns it, or `null` <b>").into_string(),
            "Who owns it, or <code>null</code> &lt;b&gt;"
        );
    }

    #[test]
    fn every_operation_is_on_the_page_once_escaped() {
        let document = serde_json::to_value(boxoffice_api::openapi()).unwrap();
        let html = page(&Visitor::default(), &document).into_string();
        for route in boxoffice_api::routes() {
            let heading = format!("<code>{} {}</code>", route.method, route.path);
            assert_eq!(html.matches(&heading).count(), 1, "{heading}");
        }
        assert!(!html.contains("<script>"), "no inline script");
        assert!(!html.contains("style="), "no inline style");
        assert!(html.contains(r#"id="schema-Errors""#));
    }
}
