//! The end-to-end harness: builds the real components once, starts the real `boxoffice`
//! runtime on a free local port with a state dir of its own, and drives it over HTTP.
//!
//! Every wait is bounded; every shop is killed when its handle drops.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

/// How long a runtime may take from spawn to its `listening on` line (it compiles the
/// components with Cranelift at start).
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// The development signing key the tests give the shop, so that they can forge sessions.
pub const TEST_JWT_KEY: &str = "e2e-test-signing-key-0123456789abcdef";

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

pub fn boxoffice_bin() -> &'static str {
    env!("CARGO_BIN_EXE_boxoffice")
}

/// Builds every component of spin.toml once per test process (cargo itself serialises
/// concurrent builds across processes).
pub fn build_components() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let status = Command::new(boxoffice_bin())
            .arg("build")
            .arg("--manifest")
            .arg(workspace_root().join("spin.toml"))
            .stdout(Stdio::null())
            .status()
            .expect("run boxoffice build");
        assert!(status.success(), "boxoffice build failed: {status}");
    });
}

/// Options for starting a shop.
#[derive(Clone, Debug, Default)]
pub struct ShopOptions {
    /// Extra `SPIN_VARIABLE_*` style variables, by lower-case name.
    pub variables: Vec<(String, String)>,
    /// Reuse this state dir instead of a fresh one (for restart tests).
    pub state_dir: Option<PathBuf>,
}

/// A running `boxoffice up`.
pub struct Shop {
    child: Child,
    pub base: String,
    pub state_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    client: reqwest::blocking::Client,
}

impl Shop {
    pub fn start() -> Shop {
        Shop::start_with(ShopOptions::default())
    }

    pub fn start_with(options: ShopOptions) -> Shop {
        build_components();
        let (temp, state_dir) = match options.state_dir {
            Some(dir) => (None, dir),
            None => {
                let temp = tempfile::tempdir().expect("temp dir");
                let dir = temp.path().join("state");
                (Some(temp), dir)
            }
        };
        let mut cmd = Command::new(boxoffice_bin());
        cmd.arg("up")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--state-dir")
            .arg(&state_dir)
            .arg("--manifest")
            .arg(workspace_root().join("spin.toml"))
            .env("SPIN_VARIABLE_JWT_KEY", TEST_JWT_KEY)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in &options.variables {
            cmd.env(format!("SPIN_VARIABLE_{}", name.to_uppercase()), value);
        }
        let mut child = cmd.spawn().expect("spawn boxoffice up");
        let base = wait_for_listening(&mut child);
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        Shop {
            child,
            base,
            state_dir,
            _temp: temp,
            client,
        }
    }

    /// The shared shop of one test binary: tests that need no special configuration use
    /// it, with unique emails, so the runtime starts once per file.
    pub fn shared() -> &'static Shop {
        static SHOP: OnceLock<Shop> = OnceLock::new();
        SHOP.get_or_init(Shop::start)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request. `body` is sent as JSON when it is a JSON value, raw when a string.
    pub fn request(&self, method: &str, path: &str, cookie: Option<&str>, body: Body) -> Resp {
        self.request_with(method, path, cookie, body, &[])
    }

    pub fn request_with(
        &self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        body: Body,
        headers: &[(&str, &str)],
    ) -> Resp {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, self.url(path));
        if let Some(cookie) = cookie {
            req = req.header("cookie", cookie);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        req = match body {
            Body::None => req,
            Body::Json(value) => req
                .header("content-type", "application/json")
                .body(value.to_string()),
            Body::Raw(bytes) => req.header("content-type", "application/json").body(bytes),
        };
        let resp = req.send().expect("send request");
        Resp::read(resp)
    }

    pub fn get(&self, path: &str, cookie: Option<&str>) -> Resp {
        self.request("GET", path, cookie, Body::None)
    }

    pub fn post(&self, path: &str, cookie: Option<&str>, body: Value) -> Resp {
        self.request("POST", path, cookie, Body::Json(body))
    }

    pub fn put(&self, path: &str, cookie: Option<&str>, body: Value) -> Resp {
        self.request("PUT", path, cookie, Body::Json(body))
    }

    /// Signs up a new user and returns its session cookie (`session=...`) and id.
    pub fn signup(&self, email: &str, password: &str) -> (String, String) {
        let resp = self.post(
            "/api/users/signup",
            None,
            serde_json::json!({"email": email, "password": password}),
        );
        assert_eq!(resp.status, 201, "signup {email}: {}", resp.text);
        let id = resp.json["id"].as_str().expect("id").to_string();
        (resp.session_cookie().expect("session cookie"), id)
    }

    /// The SQLite database that the embedded default keeps under the state dir.
    pub fn sqlite_path(&self) -> PathBuf {
        self.state_dir.join("sqlite_db.db")
    }

    /// Stops the runtime with SIGKILL and hands back its state dir (and the temp dir that
    /// owns it, which deletes it when dropped) so that a new runtime can start on it.
    pub fn kill_keeping_state(mut self) -> KeptState {
        let _ = self.child.kill();
        let _ = self.child.wait();
        KeptState {
            _temp: self._temp.take(),
            state_dir: self.state_dir.clone(),
        }
    }
}

impl Drop for Shop {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the child's stdout until the `listening on` line, bounded by [`START_TIMEOUT`];
/// keeps draining stdout afterwards so the runtime never blocks on a full pipe.
fn wait_for_listening(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !sent {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let _ = tx.send(rest.trim().to_string());
                    sent = true;
                }
            }
        }
    });
    match rx.recv_timeout(START_TIMEOUT) {
        Ok(base) => base,
        Err(_) => {
            let _ = child.kill();
            let status = child.wait().ok();
            panic!("boxoffice up did not report `listening on` in {START_TIMEOUT:?} (exit: {status:?})");
        }
    }
}

/// The state dir of a stopped shop.
pub struct KeptState {
    _temp: Option<tempfile::TempDir>,
    pub state_dir: PathBuf,
}

impl KeptState {
    /// Starts a new runtime on this state.
    pub fn restart(&self) -> Shop {
        Shop::start_with(ShopOptions {
            state_dir: Some(self.state_dir.clone()),
            ..Default::default()
        })
    }
}

pub enum Body {
    None,
    Json(Value),
    Raw(Vec<u8>),
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    /// The body parsed as JSON, or `Value::Null` when it is not JSON.
    pub json: Value,
}

impl Resp {
    fn read(resp: reqwest::blocking::Response) -> Resp {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().expect("read body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            text,
            json,
        }
    }

    /// Every `set-cookie` header.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect()
    }

    /// The `session=...` pair of the session `set-cookie`, ready for a `cookie` header.
    pub fn session_cookie(&self) -> Option<String> {
        self.set_cookies()
            .into_iter()
            .find(|c| c.starts_with("session="))
            .map(|c| c.split(';').next().unwrap_or_default().to_string())
    }

    /// The messages of an API error body, asserting its shape on the way.
    pub fn error_messages(&self) -> Vec<String> {
        let errors = self.json["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("not an error body: {}", self.text));
        assert!(!errors.is_empty(), "empty errors list: {}", self.text);
        errors
            .iter()
            .map(|e| {
                e["message"]
                    .as_str()
                    .unwrap_or_else(|| panic!("error without message: {}", self.text))
                    .to_string()
            })
            .collect()
    }

    /// The `field`s of an API error body.
    pub fn error_fields(&self) -> Vec<String> {
        self.error_messages();
        self.json["errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["field"].as_str().map(str::to_string))
            .collect()
    }

    pub fn assert_error(&self, status: u16, field: Option<&str>) {
        assert_eq!(self.status, status, "body: {}", self.text);
        let fields = self.error_fields();
        if let Some(field) = field {
            assert!(
                fields.iter().any(|f| f == field),
                "expected an error on `{field}`, got {}",
                self.text
            );
        }
    }
}

/// A unique email for this test run.
pub fn unique_email(tag: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{tag}-{}-{n}@example.test", std::process::id())
}
