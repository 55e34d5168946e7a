//! What a component instance sees: the per-component context fixed at startup, and the
//! per-instance store data (WASI, `wasi:http`, resource table) built for each request.

use std::sync::Arc;

use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::fermyon::spin;
use crate::guest_log::{GuestLog, Stream};
use crate::key_value::{KeyValue, KeyValueCtx, KeyValueView};
use crate::outbound_http::{AllowedHosts, OutboundHttp, ServiceChaining};
use crate::postgres::{Postgres, PostgresCtx, PostgresView};
use crate::sqlite::{Sqlite, SqliteCtx, SqliteView};
use crate::variables::{ComponentVariables, Variables};

/// Everything a component is allowed, resolved once at startup.
pub struct ComponentContext {
    /// The component id.
    pub id: Arc<str>,
    /// Its outbound policy (HTTP and Postgres).
    pub allowed_hosts: Arc<AllowedHosts>,
    /// Its variables.
    pub variables: ComponentVariables,
    /// Its key-value stores.
    pub key_value: KeyValueCtx,
    /// Its SQLite databases.
    pub sqlite: SqliteCtx,
    /// Its Postgres access.
    pub postgres: PostgresCtx,
    /// The app's pooled client for plain-HTTP requests to the network.
    pub http_client: boxoffice_broker::dispatch::HttpClient,
}

/// The `T` of every `Store<T>`: one per request.
pub struct InstanceState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: OutboundHttp,
    component: Arc<ComponentContext>,
}

impl InstanceState {
    /// Fresh state for one instance of `component`, answering a request in the trace
    /// `trace`. Only stdout and stderr are given, and they go to the log: no environment,
    /// arguments, files or sockets.
    pub fn new(
        component: Arc<ComponentContext>,
        chaining: Arc<dyn ServiceChaining>,
        trace: boxoffice_telemetry::traces::Context,
        depth: usize,
    ) -> Self {
        let wasi = WasiCtx::builder()
            .stdout(GuestLog::new(component.id.clone(), Stream::Stdout))
            .stderr(GuestLog::new(component.id.clone(), Stream::Stderr))
            .build();
        InstanceState {
            table: ResourceTable::new(),
            wasi,
            http: WasiHttpCtx::new(),
            hooks: OutboundHttp {
                component: component.id.clone(),
                allowed: component.allowed_hosts.clone(),
                chaining,
                client: component.http_client.clone(),
                trace,
                depth,
            },
            component,
        }
    }

    fn key_value(&mut self) -> KeyValueView<'_> {
        KeyValueView {
            ctx: &self.component.key_value,
            table: &mut self.table,
        }
    }

    fn sqlite(&mut self) -> SqliteView<'_> {
        SqliteView {
            ctx: &self.component.sqlite,
            table: &mut self.table,
        }
    }

    fn postgres(&mut self) -> PostgresView<'_> {
        PostgresView {
            ctx: &self.component.postgres,
            table: &mut self.table,
        }
    }

    fn variables(&mut self) -> &ComponentVariables {
        &self.component.variables
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Adds everything boxoffice provides to `linker`: WASI 0.2, `wasi:http` (types and
/// outgoing-handler), and `fermyon:spin/{key-value,sqlite,postgres,variables}@2.0.0`.
pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    spin::key_value::add_to_linker::<_, KeyValue>(linker, InstanceState::key_value)?;
    spin::sqlite::add_to_linker::<_, Sqlite>(linker, InstanceState::sqlite)?;
    spin::rdbms_types::add_to_linker::<_, Postgres>(linker, InstanceState::postgres)?;
    spin::postgres::add_to_linker::<_, Postgres>(linker, InstanceState::postgres)?;
    spin::variables::add_to_linker::<_, Variables>(linker, InstanceState::variables)?;
    Ok(())
}
