//! The GraphQL API: the ticket shop as one endpoint, `/api/graphql`, where a client says
//! which fields it needs (docs/graphql.md). Every field is resolved by the service that
//! owns its rules, through service chaining on the caller's behalf ([`services`]): the
//! [`schema`] holds no rule of its own. [`routes`] maps HTTP to it, and [`explorer`] is
//! the page to try it.

pub mod explorer;
pub mod limits;
pub mod routes;
pub mod schema;
pub mod services;

/// The name of this component.
pub const SERVICE: &str = "graphql";

#[cfg(target_arch = "wasm32")]
mod component {
    use boxoffice_shared::config;
    use boxoffice_shared::service::{self, Context, Service};
    use boxoffice_shared::ApiError;
    use spin_sdk::http::{IncomingRequest, Response};

    use crate::routes::{self, Env};
    use crate::{schema, SERVICE};

    #[spin_sdk::http_component]
    async fn handle(request: IncomingRequest) -> Response {
        let service = Service::new(SERVICE, Vec::new()).without_outbox();
        service::serve(request, service, env, async |request, env| {
            routes::handle(request, env).await
        })
        .await
    }

    /// This component's environment: the schema, with introspection only when
    /// `graphql_introspection` is `true`.
    fn env(_ctx: Context) -> Result<Env, ApiError> {
        let introspection = config::variable("graphql_introspection")?
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        Ok(Env {
            schema: schema::schema(introspection),
            introspection,
        })
    }
}
