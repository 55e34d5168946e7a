//! `fermyon:spin/postgres@2.0.0` over `tokio-postgres`: a `connection` resource holds one
//! pooled database connection, reachable only if `postgres://host:port` is in the
//! component's `allowed_outbound_hosts`. Values map per the WIT `rdbms-types`, as Spin
//! maps them.
//!
//! Connections are pooled per address (at most [`POOL_SIZE`] each) and rolled back before
//! reuse, so a guest that never committed leaves nothing behind. Connecting, waiting for a
//! pooled connection and every statement are bounded by the backend timeout; a lost
//! server, a timeout or a server shutting down is reported as `connection-failed`, which
//! the services answer with 503, and the pool reconnects on the next request.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use boxoffice_telemetry::metrics::{self, Gauges};
use bytes::BytesMut;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::{NoTls, Row};
use wasmtime::component::{HasData, Resource, ResourceTable};

use crate::bindings::fermyon::spin::postgres;
use crate::bindings::fermyon::spin::rdbms_types::{
    self, Column, DbDataType, DbValue, Error, ParameterValue, RowSet,
};
use crate::outbound_http::AllowedHosts;

/// Connections kept per address.
pub const POOL_SIZE: usize = 10;

/// The app's connection pools, one per address, made on first use.
pub struct PostgresPools {
    pools: Mutex<HashMap<String, Pool>>,
    timeout: Duration,
    queue_timeout: Duration,
}

impl Gauges for PostgresPools {
    fn refresh(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        let pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        for (address, pool) in pools.iter() {
            let status = pool.status();
            metrics::pool(
                "postgres",
                &pool_label(address),
                status.size.saturating_sub(status.available),
                status.available,
            );
        }
        Box::pin(std::future::ready(()))
    }
}

/// A pool's name in the metrics: its hosts and database, never its user or password.
fn pool_label(address: &str) -> String {
    let Ok(config) = address.parse::<tokio_postgres::Config>() else {
        return "invalid".to_owned();
    };
    let hosts: Vec<String> = destinations(&config)
        .into_iter()
        .map(|(host, port)| format!("{host}:{port}"))
        .collect();
    format!("{}/{}", hosts.join(","), config.get_dbname().unwrap_or(""))
}

impl PostgresPools {
    /// No pools yet. Connecting and every statement are bounded by `timeout`; waiting in
    /// line for a pooled connection while all are busy (a busy shop, not a lost server) by
    /// `queue_timeout`, the request timeout.
    pub fn new(timeout: Duration, queue_timeout: Duration) -> PostgresPools {
        PostgresPools {
            pools: Mutex::new(HashMap::new()),
            timeout,
            queue_timeout,
        }
    }

    fn pool(&self, address: &str, config: tokio_postgres::Config) -> Result<Pool, Error> {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pool) = pools.get(address) {
            return Ok(pool.clone());
        }
        let mut config = config;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(self.timeout);
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Custom("ROLLBACK; RESET ALL".to_owned()),
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(self.queue_timeout))
            .create_timeout(Some(self.timeout))
            .recycle_timeout(Some(self.timeout))
            .build()
            .map_err(|e| Error::ConnectionFailed(e.to_string()))?;
        pools.insert(address.to_owned(), pool.clone());
        Ok(pool)
    }
}

/// What one component may reach.
pub struct PostgresCtx {
    /// The component id (for logs).
    pub component: Arc<str>,
    /// The component's outbound policy.
    pub allowed: Arc<AllowedHosts>,
    /// The app's pools.
    pub pools: Arc<PostgresPools>,
}

/// The hosts and ports a connection string names (5432 where it names none).
fn destinations(config: &tokio_postgres::Config) -> Vec<(String, u16)> {
    let ports = config.get_ports();
    config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let host = match host {
                tokio_postgres::config::Host::Tcp(h) => h.clone(),
                tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
            };
            (
                host,
                ports.get(i).or(ports.first()).copied().unwrap_or(5432),
            )
        })
        .collect()
}

/// The `allowed_outbound_hosts` entry (`postgres://host:port`) that lets a component reach
/// the one server `database_url` names; `None` for an empty, unreadable or multi-host URL.
pub fn allowed_host_of(database_url: &str) -> Option<String> {
    let config: tokio_postgres::Config = database_url.trim().parse().ok()?;
    match destinations(&config).as_slice() {
        [(host, port)] if host.contains(':') => Some(format!("postgres://[{host}]:{port}")),
        [(host, port)] => Some(format!("postgres://{host}:{port}")),
        _ => None,
    }
}

impl PostgresCtx {
    /// Connects to `address` (a libpq connection string or `postgres://` URL) if every host
    /// in it is allowed.
    pub async fn open(&self, address: &str) -> Result<ConnectionHandle, Error> {
        let config: tokio_postgres::Config = address
            .parse()
            .map_err(|e| Error::ConnectionFailed(format!("invalid address: {e}")))?;
        for (host, port) in destinations(&config) {
            if !self.allowed.allows("postgres", &host, Some(port)) {
                tracing::warn!(
                    component = %self.component,
                    "{}: postgres connection to {host}:{port} denied: not in allowed_outbound_hosts",
                    self.component
                );
                return Err(Error::ConnectionFailed(format!(
                    "destination postgres://{host}:{port} is not in allowed_outbound_hosts"
                )));
            }
        }
        let pool = self.pools.pool(address, config)?;
        let client = pool.get().await.map_err(|e| {
            metrics::backend_error("postgres", "connect");
            tracing::debug!(
                component = %self.component,
                "{}: postgres: no connection: {e}",
                self.component
            );
            Error::ConnectionFailed(format!("cannot connect to the database: {e}"))
        })?;
        Ok(ConnectionHandle {
            client,
            timeout: self.pools.timeout,
        })
    }
}

/// The host value behind a `connection` resource: a pooled connection, returned to the
/// pool when the guest drops it (or its instance ends).
pub struct ConnectionHandle {
    client: Object,
    timeout: Duration,
}

/// Whether a failed statement says the database is unreachable or going away (retry
/// later: `connection-failed`) rather than that the statement is wrong (`query-failed`).
fn is_unavailable(e: &tokio_postgres::Error) -> bool {
    match e.code() {
        None => true,
        Some(code) => {
            let class = &code.code()[..2];
            class == "08" // connection exception
                || class == "57" // operator intervention: shutdown, cannot connect now
                || class == "53" // insufficient resources: too many connections
                || *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
        }
    }
}

fn statement_error(e: tokio_postgres::Error) -> Error {
    if is_unavailable(&e) {
        Error::ConnectionFailed(format!("database unavailable: {e}"))
    } else {
        // The SQLSTATE leads, so a caller can tell a unique violation (23505) apart.
        let code = e.code().map(|c| c.code().to_owned()).unwrap_or_default();
        let message = e
            .as_db_error()
            .map_or_else(|| e.to_string(), |db| db.message().to_owned());
        Error::QueryFailed(format!("{code}: {message}"))
    }
}

impl ConnectionHandle {
    /// Runs `work` within the timeout.
    async fn bounded<T>(&self, work: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        match tokio::time::timeout(self.timeout, work).await {
            Ok(result) => result,
            Err(_) => Err({
                metrics::backend_error("postgres", "timeout");
                Error::ConnectionFailed(format!(
                    "database unavailable: no answer within {} ms",
                    self.timeout.as_millis()
                ))
            }),
        }
    }
}

/// A parameter as tokio-postgres binds it.
enum Param {
    Value(Box<dyn ToSql + Send + Sync>),
    Null,
}

impl std::fmt::Debug for Param {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Param::Value(v) => v.fmt(f),
            Param::Null => f.write_str("NULL"),
        }
    }
}

impl ToSql for Param {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Param::Value(v) => v.to_sql_checked(ty, out),
            Param::Null => Ok(IsNull::Yes),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn to_sql_checked(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Param::Value(v) => v.to_sql_checked(ty, out),
            Param::Null => Ok(IsNull::Yes),
        }
    }
}

/// The guest's parameters as tokio-postgres binds them.
fn bind(params: Vec<ParameterValue>) -> Result<Vec<Param>, Error> {
    params.into_iter().map(to_param).collect()
}

fn as_refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

/// Unsigned values go in the next wider signed type, as Postgres has no unsigned ones.
fn to_param(value: ParameterValue) -> Result<Param, Error> {
    Ok(Param::Value(match value {
        ParameterValue::Boolean(v) => Box::new(v),
        ParameterValue::Int8(v) => Box::new(v),
        ParameterValue::Int16(v) => Box::new(v),
        ParameterValue::Int32(v) => Box::new(v),
        ParameterValue::Int64(v) => Box::new(v),
        ParameterValue::Uint8(v) => Box::new(i16::from(v)),
        ParameterValue::Uint16(v) => Box::new(i32::from(v)),
        ParameterValue::Uint32(v) => Box::new(i64::from(v)),
        ParameterValue::Uint64(v) => Box::new(
            i64::try_from(v)
                .map_err(|_| Error::BadParameter(format!("{v} does not fit a Postgres bigint")))?,
        ),
        ParameterValue::Floating32(v) => Box::new(v),
        ParameterValue::Floating64(v) => Box::new(v),
        ParameterValue::Str(v) => Box::new(v),
        ParameterValue::Binary(v) => Box::new(v),
        ParameterValue::DbNull => return Ok(Param::Null),
    }))
}

fn data_type(ty: &Type) -> DbDataType {
    match *ty {
        Type::BOOL => DbDataType::Boolean,
        Type::CHAR => DbDataType::Int8,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DbDataType::Str,
        Type::BYTEA => DbDataType::Binary,
        _ => DbDataType::Other,
    }
}

fn db_value(row: &Row, i: usize) -> Result<DbValue, Error> {
    fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
        row: &'a Row,
        i: usize,
    ) -> Result<Option<T>, Error> {
        row.try_get(i)
            .map_err(|e| Error::ValueConversionFailed(e.to_string()))
    }
    let ty = row.columns()[i].type_();
    let value = match data_type(ty) {
        DbDataType::Boolean => get(row, i)?.map(DbValue::Boolean),
        DbDataType::Int8 => get(row, i)?.map(DbValue::Int8),
        DbDataType::Int16 => get(row, i)?.map(DbValue::Int16),
        DbDataType::Int32 => get(row, i)?.map(DbValue::Int32),
        DbDataType::Int64 => get(row, i)?.map(DbValue::Int64),
        DbDataType::Floating32 => get(row, i)?.map(DbValue::Floating32),
        DbDataType::Floating64 => get(row, i)?.map(DbValue::Floating64),
        DbDataType::Str => get(row, i)?.map(DbValue::Str),
        DbDataType::Binary => get(row, i)?.map(DbValue::Binary),
        _ => Some(DbValue::Unsupported),
    };
    Ok(value.unwrap_or(DbValue::DbNull))
}

impl ConnectionHandle {
    async fn query(&self, statement: &str, params: Vec<ParameterValue>) -> Result<RowSet, Error> {
        self.bounded(self.query_now(statement, params)).await
    }

    async fn execute(&self, statement: &str, params: Vec<ParameterValue>) -> Result<u64, Error> {
        self.bounded(self.execute_now(statement, params)).await
    }

    async fn query_now(
        &self,
        statement: &str,
        params: Vec<ParameterValue>,
    ) -> Result<RowSet, Error> {
        let params = bind(params)?;
        let refs = as_refs(&params);
        let stmt = self
            .client
            .prepare_cached(statement)
            .await
            .map_err(statement_error)?;
        let rows = self
            .client
            .query(&stmt, &refs)
            .await
            .map_err(statement_error)?;
        let columns = stmt
            .columns()
            .iter()
            .map(|c| Column {
                name: c.name().to_owned(),
                data_type: data_type(c.type_()),
            })
            .collect();
        let rows = rows
            .iter()
            .map(|row| (0..row.len()).map(|i| db_value(row, i)).collect())
            .collect::<Result<_, _>>()?;
        Ok(RowSet { columns, rows })
    }

    async fn execute_now(
        &self,
        statement: &str,
        params: Vec<ParameterValue>,
    ) -> Result<u64, Error> {
        let params = bind(params)?;
        let refs = as_refs(&params);
        if refs.is_empty() {
            // Transaction control and DDL: no statement to prepare (and none to cache).
            return self
                .client
                .simple_query(statement)
                .await
                .map(|messages| {
                    messages
                        .iter()
                        .filter_map(|m| match m {
                            tokio_postgres::SimpleQueryMessage::CommandComplete(n) => Some(*n),
                            _ => None,
                        })
                        .sum()
                })
                .map_err(statement_error);
        }
        let stmt = self
            .client
            .prepare_cached(statement)
            .await
            .map_err(statement_error)?;
        self.client
            .execute(&stmt, &refs)
            .await
            .map_err(statement_error)
    }
}

/// The borrowed state the `fermyon:spin/postgres` implementation works on.
pub struct PostgresView<'a> {
    /// The component's outbound policy.
    pub ctx: &'a PostgresCtx,
    /// The instance's resource table.
    pub table: &'a mut ResourceTable,
}

/// [`HasData`] marker for the `fermyon:spin/postgres` host implementation.
pub struct Postgres;

impl HasData for Postgres {
    type Data<'a> = PostgresView<'a>;
}

impl rdbms_types::Host for PostgresView<'_> {}

impl postgres::Host for PostgresView<'_> {}

impl postgres::HostConnection for PostgresView<'_> {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<ConnectionHandle>, Error>> {
        Ok(match self.ctx.open(&address).await {
            Ok(handle) => Ok(self.table.push(handle)?),
            Err(e) => Err(e),
        })
    }

    async fn query(
        &mut self,
        conn: Resource<ConnectionHandle>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<RowSet, Error>> {
        Ok(self.table.get(&conn)?.query(&statement, params).await)
    }

    async fn execute(
        &mut self,
        conn: Resource<ConnectionHandle>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        Ok(self.table.get(&conn)?.execute(&statement, params).await)
    }

    async fn drop(&mut self, conn: Resource<ConnectionHandle>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allowed_host_of_a_database_url_is_its_one_server() {
        assert_eq!(
            allowed_host_of("postgres://u:p@127.0.0.1:5433/shop").as_deref(),
            Some("postgres://127.0.0.1:5433")
        );
        assert_eq!(
            allowed_host_of("postgres://db.internal/shop").as_deref(),
            Some("postgres://db.internal:5432")
        );
        assert_eq!(
            allowed_host_of("host=pg port=6000 user=u").as_deref(),
            Some("postgres://pg:6000")
        );
        assert_eq!(allowed_host_of(""), None);
        assert_eq!(allowed_host_of("postgres://a,b/shop"), None);
    }

    #[tokio::test]
    async fn addresses_outside_allowed_hosts_are_refused_before_connecting() {
        let ctx = PostgresCtx {
            component: "test".into(),
            allowed: Arc::new(AllowedHosts::parse(["postgres://db.internal:5432"]).unwrap()),
            pools: Arc::new(PostgresPools::new(
                Duration::from_secs(1),
                Duration::from_secs(1),
            )),
        };
        let err = match ctx.open("postgres://user@elsewhere:5432/app").await {
            Err(e) => e,
            Ok(_) => panic!("connected to a host that is not allowed"),
        };
        assert!(
            matches!(&err, Error::ConnectionFailed(m) if m.contains("allowed_outbound_hosts")),
            "{err:?}"
        );
        let err = match ctx.open("host=db.internal port=6000 user=x").await {
            Err(e) => e,
            Ok(_) => panic!("connected to a port that is not allowed"),
        };
        assert!(matches!(&err, Error::ConnectionFailed(m) if m.contains(":6000")));
    }

    #[test]
    fn unsigned_parameters_widen_and_overflow_is_a_bad_parameter() {
        assert!(to_param(ParameterValue::Uint32(u32::MAX)).is_ok());
        assert!(matches!(
            to_param(ParameterValue::Uint64(u64::MAX)),
            Err(Error::BadParameter(_))
        ));
    }
}
