//! Which backends a test shop runs on: the embedded ones (SQLite files and the in-process
//! queue under the state dir), or Redis + Postgres + NATS JetStream through a runtime
//! config. Each shop on the real servers gets its own Postgres database, Redis database
//! and JetStream stream, so tests run in parallel and leave nothing behind.
//!
//! The shared servers are those `scripts/services` starts (override with
//! `BOXOFFICE_TEST_{REDIS,POSTGRES,NATS}_URL`). When one is not reachable a test on the
//! real backends is skipped with a message, or fails when `CI=true`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The servers of the real backends.
#[derive(Clone, Debug)]
pub struct Servers {
    /// `redis://host:port` (no database number).
    pub redis: String,
    /// A Postgres URL whose role may create databases.
    pub postgres: String,
    /// `nats://host:port`.
    pub nats: String,
}

impl Servers {
    /// The shared servers for a test, or `None` (the test is skipped, with a message)
    /// when they are not running; with `CI=true` that is a failure instead.
    pub fn for_test() -> Option<Servers> {
        match Servers::shared() {
            Ok(servers) => Some(servers),
            Err(why) => {
                crate::runnable("on the real backends", Some(why));
                None
            }
        }
    }

    /// The shared servers of `scripts/services`, if all three answer.
    pub fn shared() -> Result<Servers, String> {
        let env = |name: &str, default: &str| std::env::var(name).unwrap_or(default.to_owned());
        let servers = Servers {
            redis: env("BOXOFFICE_TEST_REDIS_URL", "redis://127.0.0.1:6379"),
            postgres: env(
                "BOXOFFICE_TEST_POSTGRES_URL",
                "postgres://boxoffice:boxoffice@127.0.0.1:5432/boxoffice",
            ),
            nats: env("BOXOFFICE_TEST_NATS_URL", "nats://127.0.0.1:4222"),
        };
        for url in [&servers.redis, &servers.postgres, &servers.nats] {
            let address = url
                .rsplit('@')
                .next()
                .unwrap()
                .trim_start_matches("redis://")
                .trim_start_matches("postgres://")
                .trim_start_matches("nats://");
            let address = address.split('/').next().unwrap();
            let reachable = address
                .parse::<std::net::SocketAddr>()
                .ok()
                .and_then(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).ok())
                .is_some();
            if !reachable {
                return Err(format!(
                    "{url} is not reachable (run scripts/services to start Redis, Postgres and NATS)"
                ));
            }
        }
        Ok(servers)
    }
}

/// Where a shop keeps its data.
#[derive(Clone, Default)]
pub enum Backend {
    /// SQLite files and the in-process queue in the state dir.
    #[default]
    Embedded,
    /// Redis, Postgres and NATS JetStream.
    Real(Arc<RealBackends>),
    /// A wasmCloud host with the workloads of `wadm/host` (see [`crate::wasmcloud`]): one
    /// Postgres database per service, the host's NATS key-value store.
    WasmCloud,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Embedded => f.write_str("embedded"),
            Backend::Real(real) => write!(f, "real ({})", real.database),
            Backend::WasmCloud => f.write_str("wasmcloud"),
        }
    }
}

impl Backend {
    /// Fresh real backends on the shared servers, or `None` (the test is skipped, with a
    /// message) when they are not running; with `CI=true` that is a failure instead.
    pub fn real() -> Option<Backend> {
        Servers::for_test().map(|servers| Backend::real_on(&servers))
    }

    /// Fresh real backends on `servers` (the fault tests' own).
    pub fn real_on(servers: &Servers) -> Backend {
        Backend::Real(Arc::new(RealBackends::create(servers)))
    }

    /// The `--runtime-config` to start the runtime with, if any.
    pub fn runtime_config(&self) -> Option<&Path> {
        match self {
            Backend::Embedded | Backend::WasmCloud => None,
            Backend::Real(real) => Some(&real.config),
        }
    }

    /// A connection to the shop's SQL data (every service's tables by their plain names).
    pub fn db(&self, state_dir: &Path) -> TestDb {
        match self {
            Backend::Embedded => TestDb::Sqlite(embedded_databases(state_dir)),
            Backend::Real(real) => TestDb::Postgres(Box::new(real.connect())),
            Backend::WasmCloud => panic!("a wasmCloud shop's data is read through Shop::db"),
        }
    }
}

/// Every service's embedded SQLite database under `state_dir` (`sqlite_<service>.db`, one
/// per service), attached to one connection: a table's plain name finds it in whichever
/// database holds it.
fn embedded_databases(state_dir: &Path) -> rusqlite::Connection {
    let db = rusqlite::Connection::open_in_memory().expect("an in-memory database");
    let files = std::fs::read_dir(state_dir).expect("read the state dir");
    for entry in files.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(service) = name
            .strip_prefix("sqlite_")
            .and_then(|n| n.strip_suffix(".db"))
            // Not `sqlite_db.db`, the `default` label's, which no service is granted: SQLite
            // attaches at most 10 databases, as many as there are services.
            .filter(|s| {
                !["key_value", "db"].contains(s)
                    && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            })
        else {
            continue;
        };
        db.execute(
            &format!("ATTACH DATABASE ?1 AS {service}"),
            [entry.path().to_string_lossy()],
        )
        .unwrap_or_else(|e| panic!("attach {name}: {e}"));
    }
    db
}

/// One shop's share of the real servers.
pub struct RealBackends {
    dir: tempfile::TempDir,
    config: PathBuf,
    servers: Servers,
    /// The shop's Postgres database.
    pub database: String,
    database_url: String,
    redis_db: usize,
    stream: String,
}

/// Every schema the services create, for reading their tables by plain names.
const SCHEMAS: &str = "auth,tickets,orders,expiration,payments,catalog,cart,ratings,shipping";

impl RealBackends {
    fn create(servers: &Servers) -> RealBackends {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}_{n}_{}", std::process::id(), fastrand::u32(..));
        let database = format!("bo_test_{tag}");
        let mut admin = postgres::Client::connect(&servers.postgres, postgres::NoTls)
            .unwrap_or_else(|e| panic!("connect to {}: {e}", servers.postgres));
        admin
            .batch_execute(&format!("CREATE DATABASE {database}"))
            .expect("create the test database");
        let (base, _) = servers
            .postgres
            .rsplit_once('/')
            .expect("a database in the URL");
        let database_url = format!("{base}/{database}");
        // Databases 1..15: 0 is left for a developer's own `boxoffice up`.
        let redis_db = 1 + n % 15;
        let redis_url = format!("{}/{redis_db}", servers.redis.trim_end_matches('/'));
        let mut redis = redis::Client::open(redis_url.as_str())
            .and_then(|c| c.get_connection())
            .unwrap_or_else(|e| panic!("connect to {redis_url}: {e}"));
        redis::cmd("FLUSHDB")
            .query::<()>(&mut redis)
            .expect("flush the test's Redis database");
        let stream = format!("T{tag}");
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("runtime-config.toml");
        std::fs::write(
            &config,
            format!(
                // The cart's own store shares the test's Redis database (there are 16, and
                // parallel tests take one each): its keys never meet the sessions'.
                "[key_value_store.default]\ntype = \"redis\"\nurl = \"{redis_url}\"\n\n\
                 [key_value_store.cart]\ntype = \"redis\"\nurl = \"{redis_url}\"\n\n\
                 [boxoffice.sql]\ndatabase_url = \"{database_url}\"\n\n\
                 [boxoffice.broker]\ntype = \"nats\"\nurl = \"{}\"\nstream = \"{stream}\"\n\n\
                 [boxoffice.timeouts]\nbackend_ms = 2000\nrequest_ms = 10000\n",
                servers.nats
            ),
        )
        .expect("write the runtime config");
        RealBackends {
            dir,
            config,
            servers: servers.clone(),
            database,
            database_url,
            redis_db,
            stream,
        }
    }

    fn connect(&self) -> postgres::Client {
        let url = format!(
            "{}?options=-c%20search_path%3D{}",
            self.database_url,
            SCHEMAS.replace(',', "%2C")
        );
        postgres::Client::connect(&url, postgres::NoTls)
            .unwrap_or_else(|e| panic!("connect to {url}: {e}"))
    }

    /// The runtime config file's folder (for extra files of the test).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for RealBackends {
    fn drop(&mut self) {
        // Best effort: a failure here must not hide the test's own result.
        if let Ok(mut admin) = postgres::Client::connect(&self.servers.postgres, postgres::NoTls) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.database
            ));
        }
        let redis_url = format!("{}/{}", self.servers.redis, self.redis_db);
        if let Ok(mut redis) = redis::Client::open(redis_url).and_then(|c| c.get_connection()) {
            let _ = redis::cmd("FLUSHDB").query::<()>(&mut redis);
        }
        let (nats, stream) = (self.servers.nats.clone(), self.stream.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let client = tokio::time::timeout(
                    Duration::from_secs(2),
                    async_nats::connect(nats.as_str()),
                )
                .await
                .ok()?
                .ok()?;
                let js = async_nats::jetstream::new(client);
                let _ = js.delete_stream(&stream).await;
                let _ = js.delete_stream(format!("{stream}_DLQ")).await;
                Some(())
            })
        })
        .join();
    }
}

/// The shop's SQL data, read by the tests: statements use `$1, $2` placeholders and the
/// services' plain table names on either backend.
pub enum TestDb {
    /// The embedded database.
    Sqlite(rusqlite::Connection),
    /// The Postgres database, with every service schema on the search path.
    Postgres(Box<postgres::Client>),
    /// A database per service (wasmCloud): a statement goes to the database of the
    /// service its table belongs to (`orders_tickets` is the orders service's).
    PerService {
        /// The server's URL without a database (`postgres://user:pass@host:port`).
        server: String,
        /// The databases' common prefix; the service's name follows it.
        prefix: String,
        /// The connections opened so far, by service.
        clients: std::collections::HashMap<String, postgres::Client>,
    },
}

/// The service whose table `sql` reads: the part of the name after `FROM` before `_`.
fn service_of(sql: &str) -> Option<String> {
    let mut words = sql.split_whitespace();
    words.find(|w| w.eq_ignore_ascii_case("from"))?;
    let table = words.next()?;
    table.split('_').next().map(str::to_owned)
}

impl TestDb {
    /// The first column of the first row as an integer (`COUNT(*)`, a version), if any
    /// row; an error (such as a table not created yet) is `None` too.
    pub fn int(&mut self, sql: &str, params: &[&str]) -> Option<i64> {
        self.first(sql, params)
    }

    /// The first column of the first row as text, if any row.
    pub fn text(&mut self, sql: &str, params: &[&str]) -> Option<String> {
        self.first(sql, params)
    }

    fn first<T>(&mut self, sql: &str, params: &[&str]) -> Option<T>
    where
        T: rusqlite::types::FromSql + for<'a> postgres::types::FromSql<'a>,
    {
        match self {
            TestDb::Sqlite(db) => db
                .query_row(
                    &boxoffice_shared::sql::to_sqlite_placeholders(sql),
                    rusqlite::params_from_iter(params),
                    |r| r.get::<_, Option<T>>(0),
                )
                .ok()
                .flatten(),
            TestDb::Postgres(db) => Self::first_on(db, sql, params),
            TestDb::PerService {
                server,
                prefix,
                clients,
            } => {
                let service = service_of(sql)?;
                if !clients.contains_key(&service) {
                    let url = format!("{server}/{prefix}{service}");
                    let client = postgres::Client::connect(&url, postgres::NoTls).ok()?;
                    clients.insert(service.clone(), client);
                }
                Self::first_on(clients.get_mut(&service)?, sql, params)
            }
        }
    }

    fn first_on<T>(db: &mut postgres::Client, sql: &str, params: &[&str]) -> Option<T>
    where
        T: for<'a> postgres::types::FromSql<'a>,
    {
        let params: Vec<&(dyn postgres::types::ToSql + Sync)> =
            params.iter().map(|p| p as _).collect();
        db.query_opt(sql, &params)
            .ok()
            .flatten()
            .and_then(|row| row.get::<_, Option<T>>(0))
    }
}
