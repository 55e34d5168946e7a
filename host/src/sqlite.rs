//! `fermyon:spin/sqlite@2.0.0`: labelled SQL databases.
//!
//! A database is a [`SqlDatabase`] backend; the embedded one is a SQLite file. Each
//! `connection` resource holds one underlying connection for its whole life, so
//! `BEGIN IMMEDIATE ... COMMIT` spread over several `execute` calls is a real transaction
//! (and is rolled back if the instance ends first). A component may open only the labels
//! in its `sqlite_databases`.
//!
//! File connections are pooled: a dropped resource's connection (rolled back if a
//! transaction was left open) serves the next `open`, with its prepared statements. Writers
//! take turns through one in-process gate per database, held from `BEGIN` to the end of the
//! transaction (or for one write outside a transaction), so concurrent requests queue in
//! order instead of meeting in SQLite's busy handler, which sleeps for up to 100 ms a try.
//! Readers never wait for it (WAL). A gate not granted within [`BUSY_TIMEOUT`] is passed
//! by, leaving the wait to SQLite, so a component that waits on another while it holds a
//! transaction is no worse off than without the gate. Statements run on the calling task:
//! they take microseconds (commits do not sync in WAL mode with `synchronous=NORMAL`),
//! less than handing each to a blocking thread and back, which under load cost more than
//! the statements themselves.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use boxoffice_telemetry::metrics::{self, Gauges};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::Connection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::{HasData, Resource, ResourceTable};

use crate::bindings::fermyon::spin::sqlite::{self, Error, QueryResult, RowResult, Value};
use crate::runtime_config::SqliteLocation;

/// How long a statement waits for another connection's write lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// File connections kept open for reuse, per database.
const MAX_IDLE_CONNECTIONS: usize = 32;

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

/// Prepared statements each connection keeps. Every service shares the `default` database
/// and so its pooled connections, which see some forty distinct statements; rusqlite's
/// default of 16 re-parsed them in turn (an eighth of the SQL time in a profile of orders).
const STATEMENT_CACHE: usize = 256;

/// Sets the options every file connection uses: WAL, so readers do not block the writer,
/// a busy timeout, so concurrent requests wait instead of failing with `SQLITE_BUSY`, and
/// room for every statement the app runs in its statement cache.
pub fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
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

    /// Connections held by components now, and connections idle in the pool.
    fn pool_use(&self) -> (usize, usize);
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
    shared: Option<Arc<Mutex<Option<Connection>>>>,
    /// File connections not in use, for the next `connect`.
    idle: Arc<Mutex<Vec<Connection>>>,
    /// One writer at a time (see the module docs).
    writer: Arc<Semaphore>,
    /// Connections handed out and not yet dropped.
    in_use: Arc<AtomicUsize>,
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
            SqliteLocation::InMemory => {
                let conn = Connection::open_in_memory()?;
                conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
                Some(Arc::new(Mutex::new(Some(conn))))
            }
        };
        Ok(SqliteDatabase {
            location: location.clone(),
            shared,
            idle: Arc::default(),
            writer: Arc::new(Semaphore::new(1)),
            in_use: Arc::default(),
        })
    }
}

#[async_trait]
impl SqlDatabase for SqliteDatabase {
    async fn connect(&self) -> Result<Box<dyn SqlConnection>, SqlError> {
        let (conn, idle) = match (&self.shared, &self.location) {
            (Some(shared), _) => (shared.clone(), None),
            (None, SqliteLocation::File(path)) => {
                let pooled = lock(&self.idle).pop();
                let conn = match pooled {
                    Some(conn) => conn,
                    None => {
                        let path = path.clone();
                        tokio::task::spawn_blocking(move || {
                            let conn = Connection::open(path)?;
                            configure(&conn)?;
                            Ok::<_, rusqlite::Error>(conn)
                        })
                        .await??
                    }
                };
                (Arc::new(Mutex::new(Some(conn))), Some(self.idle.clone()))
            }
            (None, SqliteLocation::InMemory) => unreachable!("in-memory databases are shared"),
        };
        self.in_use.fetch_add(1, Ordering::Relaxed);
        Ok(Box::new(SqliteConnection {
            conn,
            idle,
            writer: self.writer.clone(),
            write_turn: Mutex::new(None),
            in_use: self.in_use.clone(),
        }))
    }

    fn pool_use(&self) -> (usize, usize) {
        (self.in_use.load(Ordering::Relaxed), lock(&self.idle).len())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether a statement may write, as far as the gate is concerned: anything but a plain
/// read, and the start of a transaction (which writes from its first statement on).
fn may_write(statement: &str) -> bool {
    let first = statement
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or_default();
    ![
        "SELECT", "EXPLAIN", "VALUES", "COMMIT", "END", "ROLLBACK", "RELEASE",
    ]
    .iter()
    .any(|read| first.eq_ignore_ascii_case(read))
}

/// One connection to a [`SqliteDatabase`].
pub struct SqliteConnection {
    /// `None` only while being dropped.
    conn: Arc<Mutex<Option<Connection>>>,
    /// Where the connection goes back when dropped (none for the shared in-memory one).
    idle: Option<Arc<Mutex<Vec<Connection>>>>,
    writer: Arc<Semaphore>,
    /// This connection's turn at the gate, while it writes.
    write_turn: Mutex<Option<OwnedSemaphorePermit>>,
    /// Its database's count of connections in use.
    in_use: Arc<AtomicUsize>,
}

#[async_trait]
impl SqlConnection for SqliteConnection {
    async fn execute(
        &self,
        statement: String,
        params: Vec<Value>,
    ) -> Result<QueryResult, SqlError> {
        let waiting = lock(&self.write_turn).is_none() && may_write(&statement);
        let turn = if waiting {
            tokio::time::timeout(BUSY_TIMEOUT, self.writer.clone().acquire_owned())
                .await
                .ok()
                .and_then(Result::ok)
        } else {
            None
        };
        let (result, autocommit) = {
            let guard = lock(&self.conn);
            let conn = guard.as_ref().expect("a connection in use is open");
            (
                run_statement(conn, &statement, &params),
                conn.is_autocommit(),
            )
        };
        let mut held = lock(&self.write_turn);
        if turn.is_some() {
            *held = turn;
        }
        if autocommit {
            // No transaction is open (any more): the next writer may go.
            *held = None;
        }
        Ok(result?)
    }
}

impl Drop for SqliteConnection {
    fn drop(&mut self) {
        self.in_use.fetch_sub(1, Ordering::Relaxed);
        // Released last, after the rollback below.
        let _turn = lock(&self.write_turn).take();
        let Some(idle) = &self.idle else { return };
        let Some(conn) = lock(&self.conn).take() else {
            return;
        };
        if !conn.is_autocommit() && conn.execute_batch("ROLLBACK").is_err() {
            return;
        }
        let mut idle = lock(idle);
        if idle.len() < MAX_IDLE_CONNECTIONS {
            idle.push(conn);
        }
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

impl Gauges for SqlDatabases {
    fn refresh(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        for (label, db) in &self.databases {
            let (in_use, idle) = db.pool_use();
            metrics::pool("sqlite", label, in_use, idle);
        }
        Box::pin(std::future::ready(()))
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
        let conn = db.connect().await.map_err(|e| {
            metrics::backend_error("sqlite", "connect");
            Error::Io(e.to_string())
        })?;
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

    #[test]
    fn only_plain_reads_and_ends_pass_the_write_gate() {
        for read in [
            "SELECT 1",
            "  select * from t",
            "VALUES (1)",
            "COMMIT",
            "rollback",
            "END",
        ] {
            assert!(!may_write(read), "{read}");
        }
        for write in [
            "BEGIN IMMEDIATE",
            "INSERT INTO t VALUES (1)",
            "update t set v = 1",
            "DELETE FROM t",
            "CREATE TABLE IF NOT EXISTS t (v)",
            "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x",
            "SAVEPOINT a",
            "",
            "PRAGMA user_version = 3",
        ] {
            assert!(may_write(write), "{write}");
        }
    }

    #[tokio::test]
    async fn a_transaction_spans_several_executes_and_writers_take_turns() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDatabase::open(&location(&dir)).unwrap();
        let a = db.connect().await.unwrap();
        let b = db.connect().await.unwrap();
        exec(&*a, "CREATE TABLE t (v INTEGER)", vec![]).await;
        exec(&*a, "BEGIN IMMEDIATE", vec![]).await;
        exec(&*a, "INSERT INTO t VALUES (1)", vec![]).await;
        // b reads at once and sees nothing uncommitted; its write waits for a's end
        // instead of failing.
        let seen = exec(&*b, "SELECT COUNT(*) FROM t", vec![]).await;
        assert!(matches!(seen.rows[0].values[0], Value::Integer(0)));
        let write = tokio::spawn(async move {
            exec(&*b, "INSERT INTO t VALUES (2)", vec![]).await;
            b
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !write.is_finished(),
            "a second writer went in during a transaction"
        );
        exec(&*a, "ROLLBACK", vec![]).await;
        let b = write.await.unwrap();
        let seen = exec(&*b, "SELECT v FROM t", vec![]).await;
        assert_eq!(seen.rows.len(), 1);
        assert!(matches!(seen.rows[0].values[0], Value::Integer(2)));
    }

    #[tokio::test]
    async fn an_abandoned_transaction_rolls_back_and_its_connection_serves_again() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDatabase::open(&location(&dir)).unwrap();
        let a = db.connect().await.unwrap();
        exec(&*a, "CREATE TABLE t (v INTEGER)", vec![]).await;
        exec(&*a, "BEGIN IMMEDIATE", vec![]).await;
        exec(&*a, "INSERT INTO t VALUES (1)", vec![]).await;
        drop(a);
        assert_eq!(
            lock(&db.idle).len(),
            1,
            "the connection went back to the pool"
        );
        let b = db.connect().await.unwrap();
        assert!(lock(&db.idle).is_empty(), "and serves the next open");
        // The gate was let go too: b's write transaction starts at once.
        tokio::time::timeout(Duration::from_secs(1), exec(&*b, "BEGIN IMMEDIATE", vec![]))
            .await
            .expect("the write gate was released with the connection");
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
