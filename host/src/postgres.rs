//! `fermyon:spin/postgres@2.0.0` over `tokio-postgres`: one database connection per
//! `connection` resource, reachable only if `postgres://host:port` is in the component's
//! `allowed_outbound_hosts`. Values map per the WIT `rdbms-types`, as Spin maps them.

use std::sync::Arc;

use bytes::BytesMut;
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::{Client, NoTls, Row};
use wasmtime::component::{HasData, Resource, ResourceTable};

use crate::bindings::fermyon::spin2_0_0::postgres;
use crate::bindings::fermyon::spin2_0_0::rdbms_types::{
    self, Column, DbDataType, DbValue, Error, ParameterValue, RowSet,
};
use crate::outbound_http::AllowedHosts;

/// What one component may reach.
pub struct PostgresCtx {
    /// The component id (for logs).
    pub component: Arc<str>,
    /// The component's outbound policy.
    pub allowed: Arc<AllowedHosts>,
}

impl PostgresCtx {
    /// Connects to `address` (a libpq connection string or `postgres://` URL) if every host
    /// in it is allowed.
    pub async fn open(&self, address: &str) -> Result<ConnectionHandle, Error> {
        let config: tokio_postgres::Config = address
            .parse()
            .map_err(|e| Error::ConnectionFailed(format!("invalid address: {e}")))?;
        let ports = config.get_ports();
        for (i, host) in config.get_hosts().iter().enumerate() {
            let host = match host {
                tokio_postgres::config::Host::Tcp(h) => h.clone(),
                tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
            };
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            if !self.allowed.allows("postgres", &host, Some(port)) {
                tracing::warn!(
                    component = %self.component,
                    "postgres connection to {host}:{port} denied: not in allowed_outbound_hosts"
                );
                return Err(Error::ConnectionFailed(format!(
                    "destination postgres://{host}:{port} is not in allowed_outbound_hosts"
                )));
            }
        }
        let (client, connection) = config
            .connect(NoTls)
            .await
            .map_err(|e| Error::ConnectionFailed(e.to_string()))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("postgres connection closed: {e}");
            }
        });
        Ok(ConnectionHandle { client })
    }
}

/// The host value behind a `connection` resource.
pub struct ConnectionHandle {
    client: Client,
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
        let params = params
            .into_iter()
            .map(to_param)
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let stmt = self
            .client
            .prepare(statement)
            .await
            .map_err(|e| Error::QueryFailed(e.to_string()))?;
        let rows = self
            .client
            .query(&stmt, &refs)
            .await
            .map_err(|e| Error::QueryFailed(e.to_string()))?;
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

    async fn execute(&self, statement: &str, params: Vec<ParameterValue>) -> Result<u64, Error> {
        let params = params
            .into_iter()
            .map(to_param)
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        self.client
            .execute(statement, &refs)
            .await
            .map_err(|e| Error::QueryFailed(e.to_string()))
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

    #[tokio::test]
    async fn addresses_outside_allowed_hosts_are_refused_before_connecting() {
        let ctx = PostgresCtx {
            component: "test".into(),
            allowed: Arc::new(AllowedHosts::parse(["postgres://db.internal:5432"]).unwrap()),
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
