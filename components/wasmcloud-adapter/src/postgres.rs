//! `fermyon:spin/postgres@2.0.0` on `wasmcloud:postgres/query@0.1.1-draft`.
//!
//! What is kept, and what is not:
//! - **Server and database.** The host chooses them: its `--postgres-url` names the server
//!   and credentials, the workload's `wasmcloud:postgres` host-interface config names the
//!   `database`. The address a service opens must still be a `postgres://` URL, and its
//!   host part is not used. Each service needs a database of its own (its tables are not
//!   schema-qualified, and no `search_path` can be set on the host's connections).
//! - **Statements, parameters and rows** keep Spin's types ([`crate::values`]); `execute`
//!   returns the number of rows changed ([`crate::statement::counting`]).
//! - **Transactions spanning statements are not kept.** The host runs each statement on
//!   whichever connection of its pool is free (wash 2.10 keeps ten per database and
//!   refuses the `pool_size` option its help shows), and `wasmcloud:postgres@0.1.1-draft`
//!   has no transaction or connection of its own. Sent through, `BEGIN` would leave some
//!   pooled connection inside a transaction that later statements of any call may join,
//!   and `COMMIT` would end some other one. So the adapter does not send `BEGIN`,
//!   `COMMIT` or `ROLLBACK` ([`crate::statement::transaction_control`]): every statement
//!   commits on its own. What the services keep: each statement is atomic, the unique
//!   constraints that decide races (one claim per ticket, one payment per order, each
//!   event applied once) still decide them, and version checks still see 0 rows changed.
//!   What they lose on wasmCloud: a failure between two statements of one transaction
//!   leaves the first applied (a `ROLLBACK` is logged with what it could not undo).
//! - **Errors** keep their text, with the database's message in it ("duplicate key value
//!   violates unique constraint …"), so the services classify them as under Spin.

use crate::bindings::exports::fermyon::spin::postgres::{Connection, Guest, GuestConnection};
use crate::bindings::exports::fermyon::spin::rdbms_types::{Error, ParameterValue, RowSet};
use crate::bindings::wasmcloud::postgres::query as wasmcloud;
use crate::bindings::wasmcloud::postgres::types::{PgValue, QueryError, ResultRow};
use crate::statement::{self, Control};
use crate::{values, Adapter};
use std::cell::Cell;

impl Guest for Adapter {
    type Connection = HostConnection;
}

/// A handle on the host's connection pool for this component's database.
pub struct HostConnection {
    /// Statements run since a `BEGIN` that was not sent.
    since_begin: Cell<u32>,
}

impl GuestConnection for HostConnection {
    fn open(address: String) -> Result<Connection, Error> {
        if !(address.starts_with("postgres://") || address.starts_with("postgresql://")) {
            return Err(Error::ConnectionFailed(format!(
                "{:?} is not a postgres:// URL",
                redact(&address)
            )));
        }
        Ok(Connection::new(HostConnection {
            since_begin: Cell::new(0),
        }))
    }

    fn query(&self, statement: String, params: Vec<ParameterValue>) -> Result<RowSet, Error> {
        let rows = run(&statement, &params)?;
        self.count_statement();
        Ok(values::row_set(rows))
    }

    fn execute(&self, statement: String, params: Vec<ParameterValue>) -> Result<u64, Error> {
        if let Some(control) = statement::transaction_control(&statement) {
            self.end_or_begin(control);
            return Ok(0);
        }
        let changed = execute_counted(&statement, &params)?;
        self.count_statement();
        Ok(changed)
    }
}

impl HostConnection {
    /// Counts a statement that ran, for the warning a `ROLLBACK` gives.
    fn count_statement(&self) {
        self.since_begin
            .set(self.since_begin.get().saturating_add(1));
    }

    fn end_or_begin(&self, control: Control) {
        let statements = self.since_begin.replace(0);
        if control == Control::Rollback && statements > 0 {
            eprintln!(
                "wasmcloud-adapter: ROLLBACK cannot undo the {statements} statement(s) that \
                 ran since BEGIN: on wasmCloud each statement commits on its own"
            );
        }
    }
}

/// Runs a statement for `execute` and returns the number of rows it changed.
fn execute_counted(statement: &str, params: &[ParameterValue]) -> Result<u64, Error> {
    let Some(counting) = statement::counting(statement) else {
        // DDL and the like: no rows. Without parameters, the batch call does not even
        // describe a result.
        if params.is_empty() {
            wasmcloud::query_batch(statement).map_err(error)?;
            return Ok(0);
        }
        return run(statement, params).map(|rows| rows.len() as u64);
    };
    let rows = run(&counting, params)?;
    match rows.first().and_then(|row| row.first()).map(|e| &e.value) {
        Some(PgValue::BigInt(n) | PgValue::Int8(n)) => Ok(u64::try_from(*n).unwrap_or(0)),
        other => Err(Error::Other(format!(
            "the count of changed rows came back as {other:?}"
        ))),
    }
}

fn run(statement: &str, params: &[ParameterValue]) -> Result<Vec<ResultRow>, Error> {
    let params: Vec<PgValue> = params.iter().map(values::to_pg).collect();
    wasmcloud::query(statement, &params).map_err(error)
}

/// The host's error as Spin's. The host reports a failure of the database itself as
/// `invalid-query` or, when it comes while reading rows (a unique violation of an
/// `INSERT … RETURNING` does), as `unexpected` "failed to collect rows: 23505: duplicate
/// key value …"; both keep the database's message and are Spin's `query-failed`.
fn error(e: QueryError) -> Error {
    match e {
        QueryError::InvalidParams(message) => Error::BadParameter(message),
        QueryError::InvalidQuery(message) => Error::QueryFailed(message),
        QueryError::Unexpected(message)
            if message.starts_with("failed to collect rows") || message.contains("db error") =>
        {
            Error::QueryFailed(message)
        }
        QueryError::Unexpected(message) if message.contains("connection") => {
            Error::ConnectionFailed(message)
        }
        QueryError::Unexpected(message) => Error::Other(message),
    }
}

/// `address` without its password, for error messages.
fn redact(address: &str) -> String {
    match (address.find("://"), address.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &address[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &address[..scheme + 3], &address[at..])
        }
        _ => address.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_failures_are_query_failures_with_the_database_message() {
        let unique = "failed to collect rows: 23505: duplicate key value violates unique \
                      constraint \"auth_users_email_key_key\"";
        assert!(matches!(
            error(QueryError::Unexpected(unique.into())),
            Error::QueryFailed(ref m) if m.contains("duplicate key value")
        ));
        assert!(matches!(
            error(QueryError::Unexpected(
                "failed to get connection: timed out".into()
            )),
            Error::ConnectionFailed(_)
        ));
        assert!(matches!(
            error(QueryError::InvalidParams("2 expected".into())),
            Error::BadParameter(_)
        ));
    }

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redact("mysql://bo:secret@db:5432/x"),
            "mysql://bo:***@db:5432/x"
        );
        assert_eq!(redact("nonsense"), "nonsense");
    }
}
