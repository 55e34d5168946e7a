//! `fermyon:spin/sqlite@2.0.0`: a wasmCloud host has no SQLite of any kind, so opening a
//! database fails with an error that says what to use instead. The services read it when
//! `database_url` is empty, and it reaches the operator in their log and 503 answer.

use crate::bindings::exports::fermyon::spin::sqlite::{
    Connection, Error, Guest, GuestConnection, QueryResult, Value,
};
use crate::Adapter;

/// Why no SQLite database opens here.
pub const NO_SQLITE: &str = "wasmCloud has no SQLite: Postgres is the SQL backend on \
    wasmCloud. Set the `database_url` config to a postgres:// URL and give the workload \
    the wasmcloud:postgres host interface with its `database`";

impl Guest for Adapter {
    type Connection = NoDatabase;
}

/// The connection that is never made.
pub struct NoDatabase;

impl GuestConnection for NoDatabase {
    fn open(_database: String) -> Result<Connection, Error> {
        Err(Error::Io(NO_SQLITE.to_owned()))
    }

    fn execute(&self, _statement: String, _parameters: Vec<Value>) -> Result<QueryResult, Error> {
        Err(Error::InvalidConnection)
    }
}
