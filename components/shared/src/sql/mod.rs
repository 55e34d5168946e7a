//! The SQL layer: the same statements on Spin's SQLite (the database labelled after the
//! service, which spin.toml grants to it alone, when `database_url` is empty), on Postgres
//! (when it is a `postgres://` URL), and natively on rusqlite for tests (feature
//! `native-sqlite`).
//!
//! Statements use `$1, $2` placeholders (rewritten to `?1, ?2` for SQLite) and the
//! portable subset of SQL: `CREATE TABLE IF NOT EXISTS`, `TEXT`, `BIGINT`, `PRIMARY KEY`,
//! `UNIQUE`, no `AUTOINCREMENT`/`SERIAL`. Money is integer cents, times unix milliseconds.
//! Tables are prefixed by their owning service (`auth_users`), so that no two services'
//! tables could be confused wherever they are looked at together (an operator's tools, the
//! tests). On Postgres each service also gets a schema of its own,
//! named after it (`search_path` is set in the connection's startup options), created
//! and migrated on first use, under an advisory lock so concurrent instances agree.

#[cfg(feature = "native-sqlite")]
pub mod native;
pub mod spin;

use std::cell::OnceCell;
use std::rc::Rc;

use crate::ApiError;

/// A value bound to a placeholder or read from a column.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// An integer (BIGINT).
    Int(i64),
    /// A float; money is never stored as one.
    Real(f64),
    /// Text.
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Self::Text(v.clone())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

/// What can go wrong with a statement.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SqlError {
    /// A UNIQUE or PRIMARY KEY constraint refused the write: usually a business rule.
    #[error("unique constraint violated: {0}")]
    UniqueViolation(String),
    /// The database cannot be reached or is busy: 503.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A column did not hold what the code expected.
    #[error("unexpected column value: {0}")]
    Decode(String),
    /// Anything else: a bug or a misconfiguration.
    #[error("database error: {0}")]
    Other(String),
}

impl From<SqlError> for ApiError {
    fn from(e: SqlError) -> Self {
        match e {
            SqlError::Unavailable(_) => ApiError::BackendDown(e.to_string()),
            _ => ApiError::internal(e),
        }
    }
}

/// Sorts an SQLite error message into a [`SqlError`].
pub fn classify_sqlite_error(message: String) -> SqlError {
    let lower = message.to_ascii_lowercase();
    if lower.contains("unique constraint failed") {
        SqlError::UniqueViolation(message)
    } else if lower.contains("database is locked") || lower.contains("busy") {
        SqlError::Unavailable(message)
    } else {
        SqlError::Other(message)
    }
}

/// Sorts a Postgres query error message into a [`SqlError`]. The runtime leads with the
/// SQLSTATE (`23505: ...`); Spin's messages carry the code or the server's words.
pub fn classify_postgres_error(message: String) -> SqlError {
    let lower = message.to_ascii_lowercase();
    if lower.contains("duplicate key value") || message.contains("23505") {
        SqlError::UniqueViolation(message)
    } else if [
        "connection closed",
        "timed out",
        "database unavailable",
        "error communicating with the server",
        "terminating connection",
        "the database system is",
        "could not serialize access",
        "deadlock detected",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
    {
        SqlError::Unavailable(message)
    } else {
        SqlError::Other(message)
    }
}

/// Whether a migration failed because another instance made the same object at the same
/// moment: Postgres reports the race on its catalogue as a unique violation, or as the
/// object already existing (`42710` for a type, such as a table's row type; `42P07` for a
/// relation), even under `IF NOT EXISTS`.
fn lost_a_creation_race(e: &SqlError) -> bool {
    match e {
        SqlError::UniqueViolation(_) => true,
        SqlError::Other(message) => ["42710", "42P07"].iter().any(|code| message.contains(code)),
        _ => false,
    }
}

/// One result row; columns are read by name (lower case, as Postgres folds them).
#[derive(Debug, Clone)]
pub struct Row {
    columns: Rc<[String]>,
    values: Vec<Value>,
}

impl Row {
    /// A row of `values` under `columns`.
    pub fn new(columns: Rc<[String]>, values: Vec<Value>) -> Self {
        Self { columns, values }
    }

    fn value(&self, column: &str) -> Result<&Value, SqlError> {
        self.columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(column))
            .and_then(|i| self.values.get(i))
            .ok_or_else(|| SqlError::Decode(format!("no column {column}")))
    }

    /// An integer column.
    pub fn int(&self, column: &str) -> Result<i64, SqlError> {
        self.opt_int(column)?
            .ok_or_else(|| SqlError::Decode(format!("{column} is NULL")))
    }

    /// A nullable integer column.
    pub fn opt_int(&self, column: &str) -> Result<Option<i64>, SqlError> {
        match self.value(column)? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(*v)),
            other => Err(SqlError::Decode(format!("{column} is {other:?}"))),
        }
    }

    /// A text column.
    pub fn text(&self, column: &str) -> Result<String, SqlError> {
        self.opt_text(column)?
            .ok_or_else(|| SqlError::Decode(format!("{column} is NULL")))
    }

    /// A nullable text column.
    pub fn opt_text(&self, column: &str) -> Result<Option<String>, SqlError> {
        match self.value(column)? {
            Value::Null => Ok(None),
            Value::Text(v) => Ok(Some(v.clone())),
            other => Err(SqlError::Decode(format!("{column} is {other:?}"))),
        }
    }
}

/// Which SQL engine a [`Db`] talks to, for the few statements that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite (Spin's or rusqlite).
    Sqlite,
    /// Postgres.
    Postgres,
}

/// A database connection that runs portable statements.
pub trait Db {
    /// Runs a statement that returns no rows; returns the number of rows changed.
    fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, SqlError>;
    /// Runs a query and returns its rows.
    fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SqlError>;
    /// The engine behind this connection.
    fn dialect(&self) -> Dialect;
}

/// Runs `f` in a transaction: `BEGIN IMMEDIATE` on SQLite (take the write lock up front,
/// so two writers never both read then write), `BEGIN` on Postgres; COMMIT when `f`
/// returns Ok, ROLLBACK when it returns Err.
pub fn transaction<T, E>(db: &dyn Db, f: impl FnOnce(&dyn Db) -> Result<T, E>) -> Result<T, E>
where
    E: From<SqlError>,
{
    let begin = match db.dialect() {
        Dialect::Sqlite => "BEGIN IMMEDIATE",
        Dialect::Postgres => "BEGIN",
    };
    db.execute(begin, &[])?;
    match f(db) {
        Ok(value) => match db.execute("COMMIT", &[]) {
            Ok(_) => Ok(value),
            Err(e) => {
                rollback(db);
                Err(e.into())
            }
        },
        Err(e) => {
            rollback(db);
            Err(e)
        }
    }
}

fn rollback(db: &dyn Db) {
    if let Err(e) = db.execute("ROLLBACK", &[]) {
        eprintln!("rollback failed: {e}");
    }
}

/// Migrates `service`'s schema once per change of `statements`: a single read answers
/// "already done" on every later connection (the statements' fingerprint, kept in
/// `boxoffice_migrations`), so that a request pays one SELECT, not a round of `CREATE ...
/// IF NOT EXISTS` writes. Otherwise, in one transaction: on Postgres under an advisory lock
/// per service and in the service's schema, on SQLite under its write lock; the
/// statements, then the fingerprint.
pub fn migrate_once<S: AsRef<str>>(
    db: &dyn Db,
    service: &str,
    statements: &[S],
) -> Result<(), SqlError> {
    let fingerprint = format!(
        "{:016x}",
        fnv1a(statements.iter().map(|s| s.as_ref().as_bytes()))
    );
    match db.query(
        "SELECT fingerprint FROM boxoffice_migrations WHERE service = $1",
        &[service.into()],
    ) {
        Ok(rows)
            if rows.first().and_then(|r| r.text("fingerprint").ok())
                == Some(fingerprint.clone()) =>
        {
            return Ok(())
        }
        // Not migrated yet (the table may not exist), or migrated by other code.
        Ok(_) | Err(SqlError::Other(_)) => {}
        Err(e) => return Err(e),
    }
    let lock = fnv1a([b"boxoffice-migrate:".as_slice(), service.as_bytes()]) as i64;
    transaction(db, |tx| {
        if tx.dialect() == Dialect::Postgres {
            // `execute`: the function returns `void`, a type no SQL layer can read.
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[lock.into()])?;
            tx.execute(
                &format!("CREATE SCHEMA IF NOT EXISTS {}", schema_name(service)),
                &[],
            )?;
        }
        for statement in statements {
            tx.execute(statement.as_ref(), &[])?;
        }
        tx.execute(
            "CREATE TABLE IF NOT EXISTS boxoffice_migrations (\
                service TEXT PRIMARY KEY, \
                fingerprint TEXT NOT NULL)",
            &[],
        )?;
        tx.execute(
            "INSERT INTO boxoffice_migrations (service, fingerprint) VALUES ($1, $2) \
             ON CONFLICT (service) DO UPDATE SET fingerprint = excluded.fingerprint",
            &[service.into(), fingerprint.clone().into()],
        )?;
        Ok(())
    })
}

/// The schema of `service` on Postgres: its name, kept to `[a-z0-9_]`.
pub fn schema_name(service: &str) -> String {
    service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// `url` with `search_path` set to `service`'s schema in the startup options, unless the
/// operator set `options` already.
pub fn with_service_schema(url: &str, service: &str) -> String {
    if url.contains("options=") {
        return url.to_owned();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!(
        "{url}{separator}options=-c%20search_path%3D{}",
        schema_name(service)
    )
}

/// 64-bit FNV-1a over the concatenation of `parts`, each followed by a zero byte.
fn fnv1a<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &byte in part.iter().chain(&[0u8]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

/// Rewrites `$1, $2` placeholders to SQLite's `?1, ?2`, leaving string literals alone.
pub fn to_sqlite_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut in_literal = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            in_literal = !in_literal;
        }
        if c == '$' && !in_literal && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// The engine that [`open`] connects to for `database_url`, known before any connection:
/// for the few migrations that differ between engines (a URL `open` refuses is refused
/// there, whatever this says).
pub fn dialect_of(database_url: &str) -> Dialect {
    if database_url.trim().is_empty() {
        Dialect::Sqlite
    } else {
        Dialect::Postgres
    }
}

/// Opens `service`'s database named by `database_url`: Spin's SQLite `default` database
/// when it is empty, the service's schema on Postgres when it is a `postgres://` or
/// `postgresql://` URL.
pub fn open(database_url: &str, service: &str) -> Result<Box<dyn Db>, SqlError> {
    let url = database_url.trim();
    if url.is_empty() {
        Ok(Box::new(spin::SpinSqlite::open(service)?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Box::new(spin::SpinPostgres::open(&with_service_schema(
            url, service,
        ))?))
    } else {
        Err(SqlError::Other(
            "database_url must be empty or a postgres:// URL".to_owned(),
        ))
    }
}

/// How many times a migration that lost a creation race is run.
const MIGRATION_PASSES: u32 = 5;

/// A connection opened, and migrated, on first use: routes that need no database never
/// open one.
pub struct LazyDb {
    cell: OnceCell<Box<dyn Db>>,
    open: Box<dyn Fn() -> Result<Box<dyn Db>, SqlError>>,
    service: &'static str,
    migrations: Vec<String>,
}

impl LazyDb {
    /// Opens `service`'s database with `open` and runs `migrations`, when first needed.
    pub fn new(
        service: &'static str,
        open: impl Fn() -> Result<Box<dyn Db>, SqlError> + 'static,
        migrations: Vec<String>,
    ) -> Self {
        Self {
            cell: OnceCell::new(),
            open: Box::new(open),
            service,
            migrations,
        }
    }

    /// The connection, opened and migrated.
    pub fn get(&self) -> Result<&dyn Db, SqlError> {
        if let Some(db) = self.cell.get() {
            return Ok(db.as_ref());
        }
        let db = (self.open)()?;
        // Another instance may make an object at the same moment: where nothing serialises
        // migrations (on wasmCloud each statement commits alone, so the advisory lock is
        // held for no time), `IF NOT EXISTS` can still race, with a tick, an event and a
        // request all migrating a fresh database. Each pass that loses a race finds more of
        // the objects made; a few passes end it.
        let mut passes = 1;
        loop {
            match migrate_once(db.as_ref(), self.service, &self.migrations) {
                Err(e) if lost_a_creation_race(&e) && passes < MIGRATION_PASSES => {
                    passes += 1;
                }
                other => break other?,
            }
        }
        Ok(self.cell.get_or_init(|| db).as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::native::NativeSqlite;
    use super::*;

    #[test]
    fn placeholders_are_rewritten_outside_literals() {
        assert_eq!(
            to_sqlite_placeholders("SELECT * FROM t WHERE a = $1 AND b = '$2' AND c = $10"),
            "SELECT * FROM t WHERE a = ?1 AND b = '$2' AND c = ?10"
        );
    }

    #[test]
    fn errors_are_classified() {
        assert!(matches!(
            classify_sqlite_error("UNIQUE constraint failed: t.a".into()),
            SqlError::UniqueViolation(_)
        ));
        assert!(matches!(
            classify_sqlite_error("database is locked".into()),
            SqlError::Unavailable(_)
        ));
        assert!(matches!(
            classify_postgres_error(
                "duplicate key value violates unique constraint \"t_pkey\"".into()
            ),
            SqlError::UniqueViolation(_)
        ));
        assert!(matches!(
            classify_postgres_error("23505: duplicate key value violates ...".into()),
            SqlError::UniqueViolation(_)
        ));
        for message in [
            "connection closed",
            "database unavailable: no answer within 2000 ms",
            "db error: FATAL: terminating connection due to administrator command",
        ] {
            assert!(
                matches!(
                    classify_postgres_error(message.into()),
                    SqlError::Unavailable(_)
                ),
                "{message}"
            );
        }
        assert!(matches!(
            classify_postgres_error("42P01: relation \"x\" does not exist".into()),
            SqlError::Other(_)
        ));
        assert_eq!(
            ApiError::from(SqlError::Unavailable("x".into())).status(),
            503
        );
    }

    #[test]
    fn the_dialect_is_known_from_the_url_before_connecting() {
        assert_eq!(dialect_of(""), Dialect::Sqlite);
        assert_eq!(dialect_of("  "), Dialect::Sqlite);
        assert_eq!(dialect_of("postgres://h/shop"), Dialect::Postgres);
        assert_eq!(dialect_of("postgresql://h/shop"), Dialect::Postgres);
    }

    #[test]
    fn each_service_gets_its_own_schema_unless_options_are_given() {
        assert_eq!(
            with_service_schema("postgres://u:p@h:5432/shop", "orders"),
            "postgres://u:p@h:5432/shop?options=-c%20search_path%3Dorders"
        );
        assert_eq!(
            with_service_schema("postgres://h/shop?sslmode=disable", "auth"),
            "postgres://h/shop?sslmode=disable&options=-c%20search_path%3Dauth"
        );
        let own = "postgres://h/shop?options=-c%20search_path%3Dmine";
        assert_eq!(with_service_schema(own, "auth"), own);
        assert_eq!(schema_name("Pay-Ments"), "pay_ments");
    }

    fn db() -> NativeSqlite {
        let db = NativeSqlite::open_in_memory().unwrap();
        crate::testing::migrate(
            &db,
            &["CREATE TABLE IF NOT EXISTS test_items (id TEXT PRIMARY KEY, n BIGINT, note TEXT)"],
        )
        .unwrap();
        db
    }

    #[test]
    fn a_schema_is_migrated_once_per_change_of_its_statements() {
        let db = NativeSqlite::open_in_memory().unwrap();
        let v1 = ["CREATE TABLE IF NOT EXISTS things (id TEXT PRIMARY KEY)"];
        migrate_once(&db, "svc", &v1).unwrap();
        let tables = |db: &NativeSqlite| {
            db.query(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.text("name").unwrap())
            .collect::<Vec<_>>()
        };
        assert_eq!(tables(&db), ["boxoffice_migrations", "things"]);
        // The same statements again: one read says it is done, and nothing runs.
        db.execute("DROP TABLE things", &[]).unwrap();
        migrate_once(&db, "svc", &v1).unwrap();
        assert_eq!(tables(&db), ["boxoffice_migrations"]);
        // Changed statements run, and another service keeps its own fingerprint.
        let v2 = [v1[0], "CREATE TABLE IF NOT EXISTS more (id TEXT)"];
        migrate_once(&db, "svc", &v2).unwrap();
        migrate_once(&db, "other", &v1).unwrap();
        assert_eq!(tables(&db), ["boxoffice_migrations", "more", "things"]);
        let recorded = db
            .query("SELECT service FROM boxoffice_migrations", &[])
            .unwrap();
        assert_eq!(recorded.len(), 2);
    }

    #[test]
    fn statements_run_and_rows_read_by_name() {
        let db = db();
        db.execute(
            "INSERT INTO test_items (id, n, note) VALUES ($1, $2, $3)",
            &["a".into(), 5.into(), Value::Null],
        )
        .unwrap();
        let rows = db
            .query(
                "SELECT id, n, note FROM test_items WHERE id = $1",
                &["a".into()],
            )
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].text("id").unwrap(), "a");
        assert_eq!(rows[0].int("n").unwrap(), 5);
        assert_eq!(rows[0].opt_text("note").unwrap(), None);
        assert!(rows[0].text("note").is_err());
        let again = db.execute(
            "INSERT INTO test_items (id, n) VALUES ($1, $2)",
            &["a".into(), 6.into()],
        );
        assert!(matches!(again, Err(SqlError::UniqueViolation(_))));
    }

    #[test]
    fn transactions_commit_or_roll_back() {
        let db = db();
        let insert = |db: &dyn Db, id: &str| {
            db.execute(
                "INSERT INTO test_items (id, n) VALUES ($1, 1)",
                &[id.into()],
            )
        };
        transaction(&db, |tx| insert(tx, "kept")).unwrap();
        let failed: Result<(), SqlError> = transaction(&db, |tx| {
            insert(tx, "dropped")?;
            insert(tx, "kept").map(drop)
        });
        assert!(matches!(failed, Err(SqlError::UniqueViolation(_))));
        let rows = db
            .query("SELECT id FROM test_items ORDER BY id", &[])
            .unwrap();
        let ids: Vec<String> = rows.iter().map(|r| r.text("id").unwrap()).collect();
        assert_eq!(ids, ["kept"]);
    }

    /// A Postgres stand-in whose first `lost` `CREATE TABLE`s lose a race with other
    /// migrators, each reported as `error` reports it.
    struct RacedPostgres {
        creates: std::cell::Cell<u32>,
        lost: u32,
        error: fn() -> SqlError,
    }

    fn duplicate_key() -> SqlError {
        SqlError::UniqueViolation(
            "duplicate key value violates unique constraint \"pg_type_typname_nsp_index\"".into(),
        )
    }

    /// As the wasmCloud host's Postgres plugin reported one (seen in a CI run).
    fn type_exists() -> SqlError {
        classify_postgres_error("batch execution failed: 42710: type \"t\" already exists".into())
    }

    impl Db for RacedPostgres {
        fn execute(&self, sql: &str, _params: &[Value]) -> Result<u64, SqlError> {
            if sql.starts_with("CREATE TABLE t") {
                self.creates.set(self.creates.get() + 1);
                if self.creates.get() <= self.lost {
                    return Err((self.error)());
                }
            }
            Ok(0)
        }
        fn query(&self, _sql: &str, _params: &[Value]) -> Result<Vec<Row>, SqlError> {
            Err(SqlError::Other(
                "relation boxoffice_migrations does not exist".into(),
            ))
        }
        fn dialect(&self) -> Dialect {
            Dialect::Postgres
        }
    }

    fn raced(lost: u32, error: fn() -> SqlError) -> LazyDb {
        LazyDb::new(
            "things",
            move || {
                Ok(Box::new(RacedPostgres {
                    creates: std::cell::Cell::new(0),
                    lost,
                    error,
                }))
            },
            vec!["CREATE TABLE t (a TEXT)".to_owned()],
        )
    }

    #[test]
    fn a_migration_that_lost_creation_races_runs_again_a_few_times() {
        for error in [duplicate_key as fn() -> SqlError, type_exists] {
            assert!(raced(1, error).get().is_ok());
            assert!(raced(MIGRATION_PASSES - 1, error).get().is_ok());
            assert_eq!(raced(MIGRATION_PASSES, error).get().err(), Some(error()));
        }
        assert!(!lost_a_creation_race(&SqlError::Other(
            "42601: syntax error".into()
        )));
    }

    #[test]
    fn lazy_connections_migrate_once() {
        let lazy = LazyDb::new(
            "test",
            || Ok(Box::new(NativeSqlite::open_in_memory()?) as Box<dyn Db>),
            vec!["CREATE TABLE IF NOT EXISTS test_lazy (id TEXT PRIMARY KEY)".to_owned()],
        );
        let db = lazy.get().unwrap();
        db.execute("INSERT INTO test_lazy (id) VALUES ($1)", &["x".into()])
            .unwrap();
        let again = lazy.get().unwrap();
        assert_eq!(
            again.query("SELECT id FROM test_lazy", &[]).unwrap().len(),
            1
        );
    }
}
