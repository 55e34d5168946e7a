//! The rusqlite backend of the SQL layer, for native tests of the services' rules and
//! SQL text against a real SQLite, and for the bench's native baseline (`bench/`).

use std::rc::Rc;

use rusqlite::types::Value as SqliteValue;

use super::{classify_sqlite_error, to_sqlite_placeholders, Db, Dialect, Row, SqlError, Value};

/// A rusqlite connection.
pub struct NativeSqlite(rusqlite::Connection);

impl NativeSqlite {
    /// The database file at `path` (created if missing), for tests that need several
    /// connections to one database.
    pub fn open(path: &std::path::Path) -> Result<Self, SqlError> {
        rusqlite::Connection::open(path)
            .map(Self)
            .map_err(native_error)
    }

    /// A fresh in-memory database.
    pub fn open_in_memory() -> Result<Self, SqlError> {
        rusqlite::Connection::open_in_memory()
            .map(Self)
            .map_err(native_error)
    }
}

impl From<rusqlite::Connection> for NativeSqlite {
    /// A connection opened and configured by the caller.
    fn from(conn: rusqlite::Connection) -> Self {
        Self(conn)
    }
}

fn native_error(e: rusqlite::Error) -> SqlError {
    classify_sqlite_error(e.to_string())
}

fn to_native(value: &Value) -> SqliteValue {
    match value {
        Value::Null => SqliteValue::Null,
        Value::Int(v) => SqliteValue::Integer(*v),
        Value::Real(v) => SqliteValue::Real(*v),
        Value::Text(v) => SqliteValue::Text(v.clone()),
    }
}

fn from_native(value: SqliteValue) -> Value {
    match value {
        SqliteValue::Null => Value::Null,
        SqliteValue::Integer(v) => Value::Int(v),
        SqliteValue::Real(v) => Value::Real(v),
        SqliteValue::Text(v) => Value::Text(v),
        SqliteValue::Blob(v) => Value::Text(String::from_utf8_lossy(&v).into_owned()),
    }
}

impl Db for NativeSqlite {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, SqlError> {
        let params = rusqlite::params_from_iter(params.iter().map(to_native));
        self.0
            .prepare_cached(&to_sqlite_placeholders(sql))
            .and_then(|mut statement| statement.execute(params))
            .map(|n| n as u64)
            .map_err(native_error)
    }

    fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SqlError> {
        let mut statement = self
            .0
            .prepare_cached(&to_sqlite_placeholders(sql))
            .map_err(native_error)?;
        let columns: Rc<[String]> = statement
            .column_names()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let width = columns.len();
        let params = rusqlite::params_from_iter(params.iter().map(to_native));
        let mut rows = statement.query(params).map_err(native_error)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(native_error)? {
            let values = (0..width)
                .map(|i| row.get::<_, SqliteValue>(i).map(from_native))
                .collect::<Result<_, _>>()
                .map_err(native_error)?;
            out.push(Row::new(columns.clone(), values));
        }
        Ok(out)
    }

    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }
}
