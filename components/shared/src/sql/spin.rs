//! The Spin backends of the SQL layer: `fermyon:spin/sqlite@2.0.0` and
//! `fermyon:spin/postgres@2.0.0`.

use std::rc::Rc;

use spin_sdk::pg::{self, DbValue, ParameterValue};
use spin_sdk::sqlite;

use super::{
    classify_postgres_error, classify_sqlite_error, to_sqlite_placeholders, Db, Dialect, Row,
    SqlError, Value,
};

/// A Spin SQLite database, by label.
pub struct SpinSqlite(sqlite::Connection);

impl SpinSqlite {
    /// Opens the database labelled `label` (listed in the component's `sqlite_databases`).
    pub fn open(label: &str) -> Result<Self, SqlError> {
        sqlite::Connection::open(label)
            .map(Self)
            .map_err(sqlite_error)
    }

    fn run(&self, sql: &str, params: &[Value]) -> Result<sqlite::QueryResult, SqlError> {
        let params: Vec<sqlite::Value> = params.iter().map(to_sqlite).collect();
        self.0
            .execute(&to_sqlite_placeholders(sql), &params)
            .map_err(sqlite_error)
    }
}

fn to_sqlite(value: &Value) -> sqlite::Value {
    match value {
        Value::Null => sqlite::Value::Null,
        Value::Int(v) => sqlite::Value::Integer(*v),
        Value::Real(v) => sqlite::Value::Real(*v),
        Value::Text(v) => sqlite::Value::Text(v.clone()),
    }
}

// Values are taken, not copied: a listing reads thousands of them.
fn from_sqlite(value: sqlite::Value) -> Value {
    match value {
        sqlite::Value::Null => Value::Null,
        sqlite::Value::Integer(v) => Value::Int(v),
        sqlite::Value::Real(v) => Value::Real(v),
        sqlite::Value::Text(v) => Value::Text(v),
        sqlite::Value::Blob(v) => Value::Text(String::from_utf8_lossy(&v).into_owned()),
    }
}

fn sqlite_error(e: sqlite::Error) -> SqlError {
    match e {
        sqlite::Error::Io(message) => classify_sqlite_error(message),
        sqlite::Error::InvalidConnection | sqlite::Error::DatabaseFull => {
            SqlError::Unavailable(format!("{e:?}"))
        }
        sqlite::Error::NoSuchDatabase | sqlite::Error::AccessDenied => {
            SqlError::Other(format!("{e:?} (check the component's sqlite_databases)"))
        }
    }
}

impl Db for SpinSqlite {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, SqlError> {
        self.run(sql, params)?;
        // fermyon:spin/sqlite@2.0.0 does not report it; `changes()` does.
        let changes = self.run("SELECT changes() AS n", &[])?;
        Ok(changes
            .rows
            .first()
            .and_then(|row| row.get::<i64>(0))
            .map_or(0, |n| n as u64))
    }

    fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SqlError> {
        let result = self.run(sql, params)?;
        let columns: Rc<[String]> = result.columns.into();
        Ok(result
            .rows
            .into_iter()
            .map(|row| {
                Row::new(
                    columns.clone(),
                    row.values.into_iter().map(from_sqlite).collect(),
                )
            })
            .collect())
    }

    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }
}

/// A Spin Postgres connection.
pub struct SpinPostgres(pg::Connection);

impl SpinPostgres {
    /// Connects to `address`, a `postgres://` URL.
    pub fn open(address: &str) -> Result<Self, SqlError> {
        pg::Connection::open(address).map(Self).map_err(pg_error)
    }
}

fn to_pg(value: &Value) -> ParameterValue {
    match value {
        Value::Null => ParameterValue::DbNull,
        Value::Int(v) => ParameterValue::Int64(*v),
        Value::Real(v) => ParameterValue::Floating64(*v),
        Value::Text(v) => ParameterValue::Str(v.clone()),
    }
}

fn from_pg(value: DbValue) -> Result<Value, SqlError> {
    Ok(match value {
        DbValue::DbNull => Value::Null,
        DbValue::Boolean(v) => Value::Int(i64::from(v)),
        DbValue::Int8(v) => Value::Int(i64::from(v)),
        DbValue::Int16(v) => Value::Int(i64::from(v)),
        DbValue::Int32(v) => Value::Int(i64::from(v)),
        DbValue::Int64(v) => Value::Int(v),
        DbValue::Uint8(v) => Value::Int(i64::from(v)),
        DbValue::Uint16(v) => Value::Int(i64::from(v)),
        DbValue::Uint32(v) => Value::Int(i64::from(v)),
        DbValue::Uint64(v) => Value::Int(
            i64::try_from(v).map_err(|_| SqlError::Decode(format!("{v} overflows i64")))?,
        ),
        DbValue::Floating32(v) => Value::Real(f64::from(v)),
        DbValue::Floating64(v) => Value::Real(v),
        DbValue::Str(v) => Value::Text(v),
        DbValue::Binary(v) => Value::Text(String::from_utf8_lossy(&v).into_owned()),
        DbValue::Unsupported => {
            return Err(SqlError::Decode(
                "a column type Spin cannot read".to_owned(),
            ))
        }
    })
}

fn pg_error(e: pg::PgError) -> SqlError {
    match e {
        pg::PgError::ConnectionFailed(message) => SqlError::Unavailable(message),
        pg::PgError::QueryFailed(message) => classify_postgres_error(message),
        other => SqlError::Other(format!("{other:?}")),
    }
}

impl Db for SpinPostgres {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, SqlError> {
        let params: Vec<ParameterValue> = params.iter().map(to_pg).collect();
        self.0.execute(sql, &params).map_err(pg_error)
    }

    fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SqlError> {
        let params: Vec<ParameterValue> = params.iter().map(to_pg).collect();
        let set = self.0.query(sql, &params).map_err(pg_error)?;
        let columns: Rc<[String]> = set.columns.into_iter().map(|c| c.name).collect();
        set.rows
            .into_iter()
            .map(|row| {
                let values = row.into_iter().map(from_pg).collect::<Result<_, _>>()?;
                Ok(Row::new(columns.clone(), values))
            })
            .collect()
    }

    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }
}
