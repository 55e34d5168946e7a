//! `fermyon:spin/sqlite@2.0.0`: labelled SQL databases.
//!
//! A database is a [`SqlDatabase`] backend; the embedded one is a SQLite file. Each
//! `connection` resource holds one underlying connection for its whole life, so
//! `BEGIN IMMEDIATE ... COMMIT` spread over several `execute` calls is a real transaction
//! (and is rolled back if the instance ends first). A component may open only the labels
//! in its `sqlite_databases`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::Connection;
use wasmtime::component::{HasData, Resource, ResourceTable};

use crate::bindings::fermyon::spin2_0_0::sqlite::{self, Error, QueryResult, RowResult, Value};
use crate::runtime_config::SqliteLocation;

/// How long a statement waits for another connection's write lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A backend failure.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// SQLite reported an error.
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database's directory could not be created.
    #[error("cannot create {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The blocking task running the statement failed.
    #[error("sqlite task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Sets the options every file connection uses: WAL, so readers do not block the writer,
/// and a busy timeout, so concurrent requests wait instead of failing with `SQLITE_BUSY`.
pub fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(())
}

/// One database that hands out connections.
#[async_trait]
pub trait SqlDatabase: Send + Sync {
    /// A new connection, held by one `connection` resource.
    async fn connect(&self) -> Result<Box<dyn SqlConnection>, SqlError>;
}

/// One open connection.
#[async_trait]
pub trait SqlConnection: Send + Sync {
    /// Runs one statement with positional parameters, returning any rows.
    async fn execute(&self, statement: String, params: Vec<Value>)
        -> Result<QueryResult, SqlError>;
}

/// The embedded backend: a SQLite file, or one shared in-memory database.
pub struct SqliteDatabase {
    location: SqliteLocation,
    /// The in-memory database, shared by every connection (there is no file to reopen).
    shared: Option<Arc<Mutex<Connection>>>,
}

impl SqliteDatabase {
    /// Prepares the database at `location`, creating its directory and file.
    pub fn open(location: &SqliteLocation) -> Result<Self, SqlError> {
        let shared = match location {
            SqliteLocation::File(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|source| SqlError::CreateDir {
                        path: dir.to_owned(),
                        source,
                    })?;
                }
                configure(&Connection::open(path)?)?;
                None
            }
            SqliteLocation::InMemory => Some(Arc::new(Mutex::new(Connection::open_in_memory()?))),
        };
        Ok(SqliteDatabase {
            location: location.clone(),
            shared,
        })
    }
}

#[async_trait]
impl SqlDatabase for SqliteDatabase {
    async fn connect(&self) -> Result<Box<dyn SqlConnection>, SqlError> {
        let conn = match (&self.shared, &self.location) {
            (Some(shared), _) => shared.clone(),
            (None, SqliteLocation::File(path)) => {
                let path = path.clone();
                let conn = tokio::task::spawn_blocking(move || {
                    let conn = Connection::open(path)?;
                    configure(&conn)?;
                    Ok::<_, rusqlite::Error>(conn)
                })
                .await??;
                Arc::new(Mutex::new(conn))
            }
            (None, SqliteLocation::InMemory) => unreachable!("in-memory databases are shared"),
        };
        Ok(Box::new(SqliteConnection { conn }))
    }
}

/// One connection to a [`SqliteDatabase`].
pub struct SqliteConnection {
    conn: Arc<Mutex<Connection>>,
}

#[async_trait]
impl SqlConnection for SqliteConnection {
    async fn execute(
        &self,
        statement: String,
        params: Vec<Value>,
    ) -> Result<QueryResult, SqlError> {
        let conn = self.conn.clone();
        let result = tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            run_statement(&conn, &statement, &params)
        })
        .await??;
        Ok(result)
    }
}

struct Param<'a>(&'a Value);

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0 {
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(r) => ValueRef::Real(*r),
            Value::Text(t) => ValueRef::Text(t.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
            Value::Null => ValueRef::Null,
        }))
    }
}

fn run_statement(
    conn: &Connection,
    statement: &str,
    params: &[Value],
) -> Result<QueryResult, rusqlite::Error> {
    let mut stmt = conn.prepare_cached(statement)?;
    let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let params: Vec<Param<'_>> = params.iter().map(Param).collect();
    let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let values = (0..columns.len())
            .map(|i| {
                Ok(match row.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(i) => Value::Integer(i),
                    ValueRef::Real(r) => Value::Real(r),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                })
            })
            .collect::<rusqlite::Result<_>>()?;
        out.push(RowResult { values });
    }
    Ok(QueryResult { columns, rows: out })
}

/// Every configured database of the app, by label.
#[derive(Default)]
pub struct SqlDatabases {
    databases: BTreeMap<String, Arc<dyn SqlDatabase>>,
}

impl SqlDatabases {
    /// Prepares the embedded backend for each configured label.
    pub fn open(config: &BTreeMap<String, SqliteLocation>) -> Result<Self, SqlError> {
        let databases = config
            .iter()
            .map(|(label, location)| {
                let db: Arc<dyn SqlDatabase> = Arc::new(SqliteDatabase::open(location)?);
                Ok((label.clone(), db))
            })
            .collect::<Result<_, SqlError>>()?;
        Ok(SqlDatabases { databases })
    }

    /// Whether `label` is configured.
    pub fn is_defined(&self, label: &str) -> bool {
        self.databases.contains_key(label)
    }
}

/// What one component may open.
pub struct SqliteCtx {
    /// The labels in the component's `sqlite_databases`.
    pub allowed: Vec<String>,
    /// The app's databases.
    pub databases: Arc<SqlDatabases>,
}

impl SqliteCtx {
    /// Spin's `open` rules: not listed is `access-denied`, listed but not configured is
    /// `no-such-database`.
    pub async fn open(&self, label: &str) -> Result<ConnectionHandle, Error> {
        if !self.allowed.iter().any(|l| l == label) {
            return Err(Error::AccessDenied);
        }
        let db = self
            .databases
            .databases
            .get(label)
            .ok_or(Error::NoSuchDatabase)?;
        let conn = db.connect().await.map_err(|e| Error::Io(e.to_string()))?;
        Ok(ConnectionHandle(conn))
    }
}

/// The host value behind a `connection` resource.
pub struct ConnectionHandle(Box<dyn SqlConnection>);

/// The borrowed state the `fermyon:spin/sqlite` implementation works on.
pub struct SqliteView<'a> {
    /// The component's permissions and the app's databases.
    pub ctx: &'a SqliteCtx,
    /// The instance's resource table.
    pub table: &'a mut ResourceTable,
}

/// [`HasData`] marker for the `fermyon:spin/sqlite` host implementation.
pub struct Sqlite;

impl HasData for Sqlite {
    type Data<'a> = SqliteView<'a>;
}

impl sqlite::Host for SqliteView<'_> {}

impl sqlite::HostConnection for SqliteView<'_> {
    async fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<ConnectionHandle>, Error>> {
        Ok(match self.ctx.open(&database).await {
            Ok(handle) => Ok(self.table.push(handle)?),
            Err(e) => Err(e),
        })
    }

    async fn execute(
        &mut self,
        conn: Resource<ConnectionHandle>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        let conn = self.table.get(&conn)?;
        Ok(conn
            .0
            .execute(statement, parameters)
            .await
            .map_err(|e| Error::Io(e.to_string())))
    }

    async fn drop(&mut self, conn: Resource<ConnectionHandle>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(dir: &tempfile::TempDir) -> SqliteLocation {
        SqliteLocation::File(dir.path().join("state").join("sqlite_db.db"))
    }

    async fn exec(c: &dyn SqlConnection, sql: &str, params: Vec<Value>) -> QueryResult {
        c.execute(sql.into(), params).await.unwrap()
    }

    #[tokio::test]
    async fn statements_bind_parameters_and_return_typed_rows() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDatabase::open(&location(&dir)).unwrap();
        let c = db.connect().await.unwrap();
        exec(
            &*c,
            "CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n TEXT)",
            vec![],
        )
        .await;
        exec(
            &*c,
            "INSERT INTO t VALUES (?, ?, ?, ?, ?)",
            vec![
                Value::Integer(7),
                Value::Real(1.5),
                Value::Text("x".into()),
                Value::Blob(vec![1, 2]),
                Value::Null,
            ],
        )
        .await;
        let r = exec(&*c, "SELECT i, r, s, b, n FROM t", vec![]).await;
        assert_eq!(r.columns, vec!["i", "r", "s", "b", "n"]);
        assert_eq!(r.rows.len(), 1);
        assert!(matches!(
            r.rows[0].values.as_slice(),
            [
                Value::Integer(7),
                Value::Real(1.5),
                Value::Text(s),
                Value::Blob(b),
                Value::Null
            ] if s == "x" && b == &[1, 2]
        ));
        assert!(c.execute("SELEKT".into(), vec![]).await.is_err());
    }

    #[tokio::test]
    async fn a_transaction_spans_several_executes_on_one_connection() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDatabase::open(&location(&dir)).unwrap();
        let a = db.connect().await.unwrap();
        let b = db.connect().await.unwrap();
        exec(&*a, "CREATE TABLE t (v INTEGER)", vec![]).await;
        exec(&*a, "BEGIN IMMEDIATE", vec![]).await;
        exec(&*a, "INSERT INTO t VALUES (1)", vec![]).await;
        let seen = exec(&*b, "SELECT COUNT(*) FROM t", vec![]).await;
        assert!(
            matches!(seen.rows[0].values[0], Value::Integer(0)),
            "uncommitted is invisible"
        );
        exec(&*a, "ROLLBACK", vec![]).await;
        exec(&*a, "BEGIN IMMEDIATE", vec![]).await;
        exec(&*a, "INSERT INTO t VALUES (2)", vec![]).await;
        exec(&*a, "COMMIT", vec![]).await;
        let seen = exec(&*b, "SELECT v FROM t", vec![]).await;
        assert_eq!(seen.rows.len(), 1);
        assert!(matches!(seen.rows[0].values[0], Value::Integer(2)));
    }

    #[tokio::test]
    async fn an_abandoned_transaction_rolls_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDatabase::open(&location(&dir)).unwrap();
        let a = db.connect().await.unwrap();
        exec(&*a, "CREATE TABLE t (v INTEGER)", vec![]).await;
        exec(&*a, "BEGIN IMMEDIATE", vec![]).await;
        exec(&*a, "INSERT INTO t VALUES (1)", vec![]).await;
        drop(a);
        let b = db.connect().await.unwrap();
        exec(&*b, "BEGIN IMMEDIATE", vec![]).await;
        let seen = exec(&*b, "SELECT COUNT(*) FROM t", vec![]).await;
        assert!(matches!(seen.rows[0].values[0], Value::Integer(0)));
    }

    #[tokio::test]
    async fn open_checks_permission_then_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let dbs =
            SqlDatabases::open(&BTreeMap::from([("default".to_string(), location(&dir))])).unwrap();
        let ctx = SqliteCtx {
            allowed: vec!["default".into(), "other".into()],
            databases: Arc::new(dbs),
        };
        assert!(ctx.open("default").await.is_ok());
        assert!(matches!(
            ctx.open("other").await,
            Err(Error::NoSuchDatabase)
        ));
        assert!(matches!(ctx.open("nope").await, Err(Error::AccessDenied)));
    }
}
