//! The native baseline: the services' own crates (`auth`, `tickets`, and the shared crate
//! under them) compiled natively and served by a plain hyper server on the shop's own
//! storage (its SQLite files, in WAL mode, with a connection per worker thread). The same
//! routes answer the same requests from the same rows, so a flow's figures here against
//! `boxoffice up` are the cost of running it as a Wasm component: an instance per request,
//! host calls for SQL and key-value, and the runtime's HTTP in between.
//!
//! It answers what needs no event: sessions, the listing, a ticket, a new ticket (whose
//! outbox row the shop's tick relays later), and a JSON 404 for anything else.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use boxoffice_shared::kv::{KeyValue, KvError};
use boxoffice_shared::service::Context;
use boxoffice_shared::session::SessionConfig;
use boxoffice_shared::sql::native::NativeSqlite;
use boxoffice_shared::sql::{Db, Dialect, LazyDb, Row, SqlError, Value};
use boxoffice_shared::{http as api, ApiError, ApiRequest};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use spin_sdk::http::Method;

/// The shop's files the baseline reads and writes (see the runtime's state dir).
#[derive(Clone)]
struct Files {
    /// The state dir, where each service's SQLite database is `sqlite_<service>.db`.
    state_dir: PathBuf,
    key_value: PathBuf,
}

/// How a native thread opens a SQLite file: as the runtime does (WAL, `synchronous=NORMAL`,
/// a busy timeout, since the shop's runtime may write too).
fn open(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).expect("open the shop's SQLite file");
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .expect("busy timeout");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("WAL");
    conn.pragma_update(None, "synchronous", "NORMAL")
        .expect("synchronous");
    conn
}

thread_local! {
    /// This worker thread's SQL connection to each service's database, kept for the
    /// thread's life.
    static SQL: RefCell<HashMap<&'static str, Rc<NativeSqlite>>> = RefCell::new(HashMap::new());
    /// This worker thread's key-value connection.
    static KEY_VALUE: OnceCell<Rc<rusqlite::Connection>> = const { OnceCell::new() };
}

/// The thread's SQL connection as a [`Db`].
struct ThreadDb(Rc<NativeSqlite>);

impl Db for ThreadDb {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, SqlError> {
        self.0.execute(sql, params)
    }
    fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SqlError> {
        self.0.query(sql, params)
    }
    fn dialect(&self) -> Dialect {
        self.0.dialect()
    }
}

/// The runtime's embedded key-value table (`spin_key_value`), store `default`.
struct ThreadKeyValue(Rc<rusqlite::Connection>);

fn kv_error(e: rusqlite::Error) -> KvError {
    KvError(e.to_string())
}

impl KeyValue for ThreadKeyValue {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let mut statement = self
            .0
            .prepare_cached("SELECT value FROM spin_key_value WHERE store = 'default' AND key = ?1")
            .map_err(kv_error)?;
        let mut rows = statement.query([key]).map_err(kv_error)?;
        match rows.next().map_err(kv_error)? {
            Some(row) => row.get(0).map(Some).map_err(kv_error),
            None => Ok(None),
        }
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.0
            .prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES ('default', ?1, ?2) \
                 ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            )
            .and_then(|mut statement| statement.execute(rusqlite::params![key, value]))
            .map(drop)
            .map_err(kv_error)
    }
    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.0
            .prepare_cached("DELETE FROM spin_key_value WHERE store = 'default' AND key = ?1")
            .and_then(|mut statement| statement.execute([key]))
            .map(drop)
            .map_err(kv_error)
    }
}

/// The native baseline running as a process of its own (this binary with
/// `--serve-native`), so that its CPU time is its own; killed when dropped.
pub struct NativeProcess {
    child: std::process::Child,
    /// Where it listens: `127.0.0.1:port`.
    pub addr: String,
}

impl NativeProcess {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for NativeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The line the baseline prints when it listens, before its address.
const LISTENING: &str = "native: listening on ";

/// The environment variable that hands the session key to the baseline's process.
const KEY_VARIABLE: &str = "BOXOFFICE_NATIVE_JWT_KEY";

/// Starts the baseline on the shop whose state dir is `state_dir` (embedded backends),
/// with sessions signed by `jwt_key`.
pub fn spawn(state_dir: &Path, jwt_key: &str) -> anyhow::Result<NativeProcess> {
    use std::io::BufRead;
    let mut command = std::process::Command::new(std::env::current_exe()?);
    command
        .arg("--serve-native")
        .arg(state_dir)
        .env(KEY_VARIABLE, jwt_key)
        .stdout(std::process::Stdio::piped());
    let mut child = boxoffice_testkit::spawn_tied(command)?;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut line)?;
    let addr = line
        .trim()
        .strip_prefix(LISTENING)
        .ok_or_else(|| anyhow::anyhow!("the native baseline did not start: {line:?}"))?
        .to_owned();
    Ok(NativeProcess { child, addr })
}

/// Serves the shop whose state dir is `state_dir` on a free loopback port, with as many
/// worker threads as cores, until killed: the body of `--serve-native`.
pub fn serve_forever(state_dir: &Path) -> anyhow::Result<()> {
    let key = std::env::var(KEY_VARIABLE)?;
    let files = Files {
        state_dir: state_dir.to_owned(),
        key_value: state_dir.join("sqlite_key_value.db"),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("{LISTENING}{}", listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            let (files, key) = (files.clone(), key.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let (files, key) = (files.clone(), key.clone());
                    async move { Ok::<_, Infallible>(serve(&files, &key, request).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

async fn serve(
    files: &Files,
    key: &str,
    request: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(body) => body.to_bytes().to_vec(),
        Err(_) => Vec::new(),
    };
    let response = answer(files, key, &parts, body);
    let mut out = hyper::Response::builder().status(*response.status());
    for (name, value) in response.headers() {
        out = out.header(name, value.as_bytes());
    }
    out.body(Full::new(Bytes::from(response.into_body())))
        .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new())))
}

/// Routes one request to a service's routes, synchronously, as the service's component
/// does (with the context `boxoffice_shared::service::serve` builds).
fn answer(
    files: &Files,
    key: &str,
    parts: &http::request::Parts,
    body: Vec<u8>,
) -> spin_sdk::http::Response {
    let method = match parts.method {
        http::Method::GET => Method::Get,
        http::Method::POST => Method::Post,
        http::Method::PUT => Method::Put,
        http::Method::DELETE => Method::Delete,
        _ => Method::Options,
    };
    let mut request = ApiRequest::new(method, parts.uri.path());
    request.query = parts.uri.query().unwrap_or_default().to_owned();
    request.headers = parts
        .headers
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    request.body = body;
    let kv = KEY_VALUE.with(|cell| cell.get_or_init(|| Rc::new(open(&files.key_value))).clone());
    let context = |service: &'static str, migrations: Vec<String>| {
        let sql = SQL.with(|map| {
            map.borrow_mut()
                .entry(service)
                .or_insert_with(|| {
                    let file = files.state_dir.join(format!("sqlite_{service}.db"));
                    Rc::new(NativeSqlite::from(open(&file)))
                })
                .clone()
        });
        let db = Rc::new(LazyDb::new(
            service,
            move || Ok(Box::new(ThreadDb(sql.clone())) as Box<dyn Db>),
            migrations,
        ));
        let sessions = SessionConfig::new(key.as_bytes(), 86_400)
            .map(|sessions| sessions.with_revocations(Rc::new(ThreadKeyValue(kv.clone()))));
        Context::new(
            db,
            boxoffice_shared::time::now_ms(),
            sessions,
            Err(ApiError::internal("the native baseline relays no events")),
        )
    };
    match request.segments().as_slice() {
        ["api", "users", ..] => {
            let env = auth::routes::Env {
                ctx: context(auth::SERVICE, auth::storage::migrations()),
                trusted_proxies: Vec::new(),
            };
            auth::routes::handle(&request, &env)
        }
        ["api", "tickets", ..] => tickets::routes::handle(
            &request,
            &context(tickets::SERVICE, tickets::storage::migrations()),
        ),
        _ => api::not_found(),
    }
}
