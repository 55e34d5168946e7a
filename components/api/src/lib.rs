//! The shopper API of boxoffice as an OpenAPI 3.1 document, made from the code: each
//! component's module declares its operations ([`utoipa::path`] descriptions and
//! [`utoipa::ToSchema`] bodies), and the component's router dispatches on the same
//! declaration ([`route`]), so that an operation cannot be documented without being
//! served, nor served without being documented.
//!
//! No spin-sdk here: the `web` component serves the document and its page
//! (`GET /api/openapi.json`, `GET /api/docs`) without importing anything new.

pub mod auth;
pub mod cart;
pub mod catalog;
pub mod events;
pub mod expiration;
pub mod graphql;
pub mod health;
pub mod orders;
pub mod payments;
pub mod ratings;
pub mod route;
pub mod schemas;
pub mod shipping;
pub mod tickets;
pub mod web;

use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::path::{HttpMethod, Operation, PathItem};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, Ref, RefOr};
use utoipa::{Modify, OpenApi, ToResponse};

use route::{method_name, Operations};

/// The path of the document.
pub const DOCUMENT_PATH: &str = "/api/openapi.json";
/// The path of its page.
pub const DOCS_PATH: &str = "/api/docs";
/// The extension of each operation naming the component that serves it.
pub const COMPONENT_EXTENSION: &str = "x-component";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "boxoffice",
        description = "The shopper API of the boxoffice ticket marketplace (the \"ticketing\" \
            app's API, its known bugs fixed), its event routes, its pages, and the operations \
            routes. JSON in, JSON out; every error is `{\"errors\":[{\"message\",\"field\"?}]}`; \
            an unknown route is a JSON 404 \"Route not found\", whatever the method. \
            A request head over 64 KiB or 100 headers gets a 431 from the runtime.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(
        schemas(
            schemas::Errors, schemas::FieldError, schemas::Empty,
            auth::Credentials, auth::SignOutScope, auth::User, auth::SessionUser, auth::CurrentUser,
            tickets::TicketInput, tickets::Ticket,
            orders::OrderInput, orders::Order, orders::OrderStatus, orders::OrderTicket,
            payments::PaymentInput, payments::Payment, payments::PaymentPending,
            payments::PaymentsConfig, payments::WebhookReceived,
            ratings::RatingInput, ratings::Rating, ratings::RatingSummary,
            shipping::City, shipping::Quote, shipping::Shipment, shipping::ShipmentStatus,
            catalog::ProductInput, catalog::ProductEdit, catalog::Product, catalog::Category,
            events::CloudEvent,
            web::CredentialsForm, web::TokenForm, web::TicketForm, web::PayForm, web::CancelForm,
            web::ProductForm, web::QuantityForm, web::RatingForm, web::ShippingForm,
            health::Alive, health::Check, health::Readiness,
            graphql::GraphQlRequest, graphql::GraphQlResponse,
            cart::CartItemInput, cart::QuantityInput, cart::ShippingInput, cart::CartShipping,
            cart::CartLine, cart::Cart, cart::PurchaseLine, cart::PurchaseShipment, cart::Purchase,
        ),
        responses(schemas::TooLarge, schemas::Unavailable),
    ),
    tags(
        (name = "users", description = "Sign-up, sign-in, sessions (the auth component)."),
        (name = "tickets", description = "The tickets for sale."),
        (name = "orders", description = "Reservations of tickets."),
        (name = "payments", description = "Payments through Stripe."),
        (name = "cart", description = "Shopping carts and their checkout (the cart component)."),
        (name = "purchases", description = "Checked-out carts, paid like orders (the cart component)."),
        (name = "ratings", description = "Stars that the buyers of a product give it."),
        (name = "shipping", description = "Where the shop ships, what it costs, and the shipments of paid purchases."),
        (name = "catalog", description = "The goods for sale, their search and their stock."),
        (name = "graphql", description = "The ticket shop as one GraphQL endpoint, each field resolved by the service that owns it (the graphql component)."),
        (name = "events", description = "Where the broker pushes signed CloudEvents; keep off the public network."),
        (name = "pages", description = "The shop in a browser: HTML pages and form posts (the web component)."),
        (name = "documentation", description = "This document and its page."),
        (name = "operations", description = "Liveness and readiness probes."),
    ),
    modifiers(&SecuritySchemes),
)]
struct Base;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let session = ApiKeyValue::with_description(
            auth::SESSION_COOKIE,
            "The session cookie that sign-up and sign-in set: a signed JWT with `{id, email}`.",
        );
        components.add_security_scheme("session", SecurityScheme::ApiKey(ApiKey::Cookie(session)));
        let signature = ApiKeyValue::with_description(
            "ce-boxofficesig",
            "Ed25519 by the publishing service with its own `<service>_events_key`, over the \
             event's id, type, source, subject, time and canonical JSON data: `v3=<hex>`, \
             verified with `events_public_keys` (`boxofficesig` in structured mode).",
        );
        components.add_security_scheme(
            events::SIGNATURE_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(signature)),
        );
    }
}

/// One documented operation, and the component that serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The component of `spin.toml`.
    pub component: &'static str,
    /// `GET`, `POST`, ...
    pub method: &'static str,
    /// The path template.
    pub path: String,
}

/// Every route of every component with its method and description, in the document's
/// order.
fn described() -> Vec<(Route, HttpMethod, Operation)> {
    fn of<O: Operations>() -> impl Iterator<Item = (Route, HttpMethod, Operation)> {
        O::ALL.iter().map(|&operation| {
            let method = operation.method();
            let route = Route {
                component: O::COMPONENT,
                method: method_name(&method),
                path: operation.path(),
            };
            (route, method, operation.describe())
        })
    }
    of::<auth::Operation>()
        .chain(of::<tickets::Operation>())
        .chain(of::<orders::Operation>())
        .chain(of::<payments::Operation>())
        .chain(of::<catalog::Operation>())
        .chain(of::<expiration::Operation>())
        .chain(of::<ratings::Operation>())
        .chain(of::<shipping::Operation>())
        .chain(of::<web::Operation>())
        .chain(of::<health::Operation>())
        .chain(of::<cart::Operation>())
        .chain(of::<graphql::Operation>())
        .collect()
}

/// Every route the components serve: exactly the operations of the document.
pub fn routes() -> Vec<Route> {
    described().into_iter().map(|(route, ..)| route).collect()
}

/// The whole document.
pub fn openapi() -> Document {
    let mut document = Base::openapi();
    let too_large = RefOr::Ref(Ref::from_response_name(schemas::TooLarge::response().0));
    for (route, method, mut operation) in described() {
        // Every component reads the body, bounded, before it routes.
        operation
            .responses
            .responses
            .entry("413".to_owned())
            .or_insert_with(|| too_large.clone());
        // Which component of spin.toml answers it: the tests hold the runtime's routes to it.
        let component = ExtensionsBuilder::new().add(COMPONENT_EXTENSION, route.component);
        operation
            .extensions
            .get_or_insert_with(Default::default)
            .merge(component.build());
        let item = PathItem::new(method, operation);
        match document.paths.paths.get_mut(&route.path) {
            Some(existing) => existing.merge_operations(item),
            None => {
                document.paths.paths.insert(route.path.clone(), item);
            }
        }
    }
    document
}

/// The document as JSON, as `GET /api/openapi.json` serves it.
pub fn json() -> String {
    serde_json::to_string(&openapi()).expect("the document serializes")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

    fn document() -> Value {
        serde_json::from_str(&json()).unwrap()
    }

    #[test]
    fn the_document_is_openapi_3_1_with_one_operation_per_route() {
        let document = document();
        assert_eq!(document["openapi"], "3.1.0");
        let mut ids = BTreeSet::new();
        let mut operations = 0;
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                operations += 1;
                let id = operation["operationId"].as_str().unwrap().to_owned();
                assert!(ids.insert(id.clone()), "{id} twice");
                assert!(
                    operation["tags"][0].is_string(),
                    "{method} {path} has no tag"
                );
                assert!(operation["responses"]["413"].is_object(), "{id}");
                let route = routes()
                    .into_iter()
                    .find(|r| r.path == *path && r.method.eq_ignore_ascii_case(method));
                assert!(route.is_some(), "{method} {path} is served by no component");
            }
        }
        assert_eq!(
            operations,
            routes().len(),
            "a method and path declared twice"
        );
    }

    #[test]
    fn every_reference_resolves() {
        fn refs(value: &Value, found: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(r)) = map.get("$ref") {
                        found.push(r.clone());
                    }
                    map.values().for_each(|v| refs(v, found));
                }
                Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
                _ => {}
            }
        }
        let document = document();
        let mut found = Vec::new();
        refs(&document, &mut found);
        assert!(!found.is_empty());
        for reference in found {
            let pointer = reference.strip_prefix('#').unwrap();
            assert!(
                document.pointer(pointer).is_some(),
                "{reference} does not resolve"
            );
        }
    }

    #[test]
    fn each_route_table_finds_its_own_operations_and_nothing_else() {
        fn check<O: Operations + PartialEq>() {
            for &operation in O::ALL {
                let path = operation
                    .path()
                    .replace("{id}", "abc")
                    .replace("{file}", "x.css")
                    .replace("{sku}", "ABC-1");
                let method = method_name(&operation.method());
                let (found, params) = route::find::<O>(method, &path).unwrap();
                assert_eq!(found, operation, "{method} {path}");
                if operation.path().contains("{id}") {
                    assert_eq!(params.get("id"), "abc");
                }
                assert!(route::find::<O>("PATCH", &path).is_none(), "PATCH {path}");
            }
            assert!(route::find::<O>("GET", "/no/such/route").is_none());
        }
        check::<auth::Operation>();
        check::<tickets::Operation>();
        check::<orders::Operation>();
        check::<payments::Operation>();
        check::<catalog::Operation>();
        check::<expiration::Operation>();
        check::<ratings::Operation>();
        check::<shipping::Operation>();
        check::<web::Operation>();
        check::<health::Operation>();
        check::<cart::Operation>();
        check::<graphql::Operation>();
    }

    #[test]
    fn the_error_schema_is_the_body_the_components_write() {
        let written = boxoffice_wire::error::body(&[
            boxoffice_wire::error::FieldError::new("price", "Price must be greater than 0"),
            boxoffice_wire::error::FieldError::plain("Not found"),
        ]);
        let documented = schemas::Errors {
            errors: vec![
                schemas::FieldError {
                    message: "Price must be greater than 0".into(),
                    field: Some("price".into()),
                },
                schemas::FieldError {
                    message: "Not found".into(),
                    field: None,
                },
            ],
        };
        assert_eq!(serde_json::to_string(&documented).unwrap(), written);
    }
}
