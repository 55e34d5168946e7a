//! The one test harness: starts the real `boxoffice` binary on a free local port with a
//! state dir of its own and drives it over HTTP. Used by the end-to-end tests in `tests/`
//! and by the runtime's own tests in `host/tests/`.
//!
//! Every wait is bounded; every runtime is killed when its handle drops.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use boxoffice_shared::events::{self, Attributes, EventType};
use boxoffice_shared::signature::{self, signing_variable, PUBLIC_KEYS_VARIABLE, PUBLISHERS};
pub use boxoffice_shared::signature::{Attributes as SignedAttributes, PublicKeys, SigningKey};
use serde_json::Value;

pub mod backends;
pub mod browser;
pub mod local_server;
pub mod metrics;
pub mod otlp;
pub mod servers;
pub mod stripe;
pub mod wasmcloud;

pub use backends::{Backend, TestDb};

/// The address of the `n`th simulated shopper (10.0.0.0/8), sent as
/// `boxoffice-client-addr`, which the shop believes from loopback only: how tests and the
/// bench stand for many clients on one machine.
pub fn simulated_client(n: u64) -> String {
    let n = n % (1 << 24);
    format!("10.{}.{}.{}", n >> 16, (n >> 8) & 0xff, n & 0xff)
}
pub use boxoffice_shared::testing::as_go_writes_it;

/// How long a runtime may take from spawn to its `listening on` line (on a cold compile
/// cache it compiles every component with Cranelift first).
pub const START_TIMEOUT: Duration = Duration::from_secs(180);
/// How long a command that should exit may run.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(180);
/// How long an event may take to travel through the broker in the tests.
pub const EVENTUAL: Duration = Duration::from_secs(20);
/// How long one HTTP exchange may take.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(60);

/// The signing key the tests give the shop, so that they can forge sessions.
pub const TEST_JWT_KEY: &str = "e2e-test-signing-key-0123456789abcdef";
/// The publisher the tests sign their own events as, beside the shop's (whose public key
/// [`test_public_keys`] lists, so that a broker accepts what they publish).
pub const TEST_PUBLISHER: &str = "tests";

/// The signing key the tests give `service`, so that they can sign events as it would.
pub fn test_signing_key(service: &str) -> SigningKey {
    boxoffice_shared::testing::signing_key(service)
}

/// The [`test_signing_key`] of the service that publishes `event_type` ([`TEST_PUBLISHER`]'s
/// for a type of no service).
pub fn test_publisher_key(event_type: &str) -> SigningKey {
    test_signing_key(EventType::parse(event_type).map_or(TEST_PUBLISHER, EventType::publisher))
}

/// The seed of [`test_signing_key`], as the `<service>_events_key` variable holds it.
pub fn test_signing_seed(service: &str) -> String {
    boxoffice_shared::testing::signing_seed(service)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The public keys of every publisher's [`test_signing_key`] and of [`TEST_PUBLISHER`].
pub fn test_public_keys() -> PublicKeys {
    let keys: Vec<(&str, SigningKey)> = PUBLISHERS
        .iter()
        .chain([&TEST_PUBLISHER])
        .map(|service| (*service, test_signing_key(service)))
        .collect();
    PublicKeys::of(keys.iter().map(|(service, key)| (*service, key)))
}

/// The test event keys as the app's variables: each publisher's `<service>_events_key`
/// and, unless `derived` (what `boxoffice up` makes of the signing keys), the
/// `events_public_keys` that list them.
pub fn test_event_variables(derived: bool) -> Vec<(String, String)> {
    let mut variables: Vec<(String, String)> = PUBLISHERS
        .iter()
        .map(|service| (signing_variable(service), test_signing_seed(service)))
        .collect();
    if !derived {
        variables.push((
            PUBLIC_KEYS_VARIABLE.to_owned(),
            test_public_keys().to_string(),
        ));
    }
    variables
}

/// `SPIN_VARIABLE_EVENTS_PUBLIC_KEYS` for a broker started alone: [`test_public_keys`].
pub fn test_broker_env() -> (String, String) {
    (
        format!("SPIN_VARIABLE_{}", PUBLIC_KEYS_VARIABLE.to_uppercase()),
        test_public_keys().to_string(),
    )
}

/// Whether a test can run, given why it cannot (`None`: it can): a missing tool or server
/// skips the test with a message (`skipped <what>: <why>`), or fails it when `CI=true`.
pub fn runnable(what: &str, missing: Option<String>) -> bool {
    match missing {
        None => true,
        Some(why) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true and a test {what} cannot run: {why}")
        }
        Some(why) => {
            eprintln!("skipped {what}: {why}");
            false
        }
    }
}

/// The repository's root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit/ has a parent")
        .to_path_buf()
}

/// The `boxoffice` binary the tests run: `BOXOFFICE_BIN`, or the one cargo built beside
/// the running test binary (`target/<profile>/boxoffice`, the test being in `deps/`).
pub fn boxoffice_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("BOXOFFICE_BIN") {
        return PathBuf::from(bin);
    }
    let test = std::env::current_exe().expect("the test binary's path");
    let profile_dir = test
        .parent()
        .and_then(Path::parent)
        .expect("a test binary lives in target/<profile>/deps");
    profile_dir.join("boxoffice")
}

/// `cmd` without the variables cargo sets for the running test (`CARGO_PKG_*`,
/// `CARGO_MANIFEST_*`, ...), for any command that may run cargo itself (a script,
/// `boxoffice build`). Build scripts watch some of them (ring's `rerun-if-env-changed=
/// CARGO_PKG_NAME`): a build that inherits them from a test reruns ring's and recompiles
/// ring and everything above it, the runtime included, where a user's shell would not.
pub fn as_from_a_shell(cmd: &mut Command) -> &mut Command {
    const SET_FOR_A_TEST: [&str; 7] = [
        "CARGO_PKG_",
        "CARGO_MANIFEST_",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
    ];
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if SET_FOR_A_TEST.iter().any(|prefix| key.starts_with(prefix)) {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// A `cargo` command in the workspace's root, as run from a shell ([`as_from_a_shell`]).
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace_root());
    as_from_a_shell(&mut cmd);
    cmd
}

/// A `boxoffice` command with a clean environment: no `SPIN_VARIABLE_*`, `RUST_LOG` or
/// `OTEL_*` leaking in from the caller's shell, nor cargo's variables for the running test
/// (it may build components); its admin listener (if it starts one) on a free port, so that
/// tests run side by side.
pub fn boxoffice() -> Command {
    let mut cmd = Command::new(boxoffice_bin());
    as_from_a_shell(&mut cmd);
    cmd.env_remove("RUST_LOG");
    cmd.env("BOXOFFICE_ADMIN_LISTEN", "127.0.0.1:0");
    for (key, _) in std::env::vars() {
        if key.starts_with("SPIN_VARIABLE_") || key.starts_with("OTEL_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Spawns `cmd` so that it cannot outlive this test process, however the process ends:
/// the child asks the kernel for SIGKILL when the thread that spawned it ends
/// (`PR_SET_PDEATHSIG`), and every child is spawned by one thread that lives as long as
/// the process, so that signal comes exactly when the process goes (a shared runtime in a
/// `static` included).
pub fn spawn_tied(mut cmd: Command) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt as _;
    type Job = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before exec and only makes two
    // async-signal-safe system calls.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have gone before the prctl took effect.
            if libc::getppid() as u32 != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let spawner = SPAWNER.get_or_init(|| {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("tied-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in queue {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("start the spawner thread");
        Mutex::new(jobs)
    });
    let (reply, answer) = mpsc::channel();
    spawner
        .lock()
        .unwrap()
        .send((cmd, reply))
        .expect("the spawner thread lives as long as the process");
    answer.recv().expect("the spawner thread answers")
}

/// Builds every component of spin.toml once per test process (cargo itself serialises
/// concurrent builds across processes).
pub fn build_components() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let status = boxoffice()
            .arg("build")
            .arg("--manifest")
            .arg(workspace_root().join("spin.toml"))
            .stdout(Stdio::null())
            .status()
            .expect("run boxoffice build");
        assert!(status.success(), "boxoffice build failed: {status}");
    });
}

/// The output of `child` (spawned with stdout and stderr piped), read as it runs: at most
/// `timeout` is waited, then the child is killed and the test fails with what `what`
/// printed so far.
pub fn output_within(mut child: Child, timeout: Duration, what: &str) -> std::process::Output {
    fn read_all(mut stream: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stream.read_to_end(&mut bytes);
            bytes
        })
    }
    let out = read_all(child.stdout.take().expect("stdout piped"));
    let err = read_all(child.stderr.take().expect("stderr piped"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for a child") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let out = out.join().unwrap_or_default();
            let err = err.join().unwrap_or_default();
            panic!(
                "{what} ran past {timeout:?}:\n{}{}",
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    std::process::Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// What a command printed, stdout then stderr.
pub fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A running `boxoffice up`, killed on drop.
pub struct Runtime {
    child: Child,
    pub base: String,
    /// The in-process broker's ingress URL, when the runtime runs one.
    pub broker: Option<String>,
    /// The admin listener's base URL (GET /metrics).
    pub admin: String,
    stderr: Arc<Mutex<String>>,
}

impl Runtime {
    /// Starts `boxoffice up --listen 127.0.0.1:0` (unless `args` name their own
    /// `--listen`) on `manifest` with the state in `state`, and waits (bounded) for its
    /// readiness line.
    pub fn start(manifest: &Path, state: &Path, args: &[&str], env: &[(&str, &str)]) -> Runtime {
        let mut cmd = boxoffice();
        cmd.arg("up");
        if !args.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        cmd.args(["--broker-listen", "127.0.0.1:0"])
            .arg("--state-dir")
            .arg(state)
            .arg("--manifest")
            .arg(manifest)
            .args(args)
            .envs(env.iter().copied());
        Runtime::spawn(cmd, "boxoffice: listening on ")
    }

    /// Starts `boxoffice broker` alone on `listen`, delivering to `app`, with its state in
    /// `state`, the subscriptions of `events`, and `args` and `env` besides; its `base`
    /// (and `broker`) is the ingress URL.
    pub fn start_broker(
        state: &Path,
        app: &str,
        listen: &str,
        events: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Runtime {
        let mut cmd = boxoffice();
        cmd.args(["broker", "--listen", listen, "--app", app, "--state-dir"])
            .arg(state)
            .arg("--events")
            .arg(events)
            .args(args)
            .envs(env.iter().copied());
        Runtime::spawn(cmd, "boxoffice: broker listening on ")
    }

    /// Spawns `cmd` and waits (bounded) for the stdout line starting with `ready`, whose
    /// rest is the base URL; an in-process broker's line may come first.
    fn spawn(mut cmd: Command, ready: &str) -> Runtime {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = spawn_tied(cmd).expect("spawn boxoffice");
        let stderr = collect(child.stderr.take().unwrap());
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let mut broker = None;
        let mut admin = None;
        let base = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).unwrap_or_else(|_| {
                let _ = child.kill();
                let _ = child.wait();
                panic!("no readiness line; stderr:\n{}", stderr.lock().unwrap())
            });
            if let Some(base) = line.strip_prefix(ready) {
                break base.to_owned();
            }
            if let Some(url) = line.strip_prefix("boxoffice: admin listening on ") {
                admin = Some(url.to_owned());
                continue;
            }
            match line.strip_prefix("boxoffice: broker listening on ") {
                Some(url) => broker = Some(url.to_owned()),
                None => panic!("unexpected stdout line: {line}"),
            }
        };
        Runtime {
            child,
            // A broker alone is its own ingress.
            broker: broker.or_else(|| Some(base.clone())),
            admin: admin.expect("an admin listening line before the readiness line"),
            base,
            stderr,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `host:port` of the listener.
    pub fn addr(&self) -> String {
        self.base.strip_prefix("http://").unwrap().to_owned()
    }

    /// The process id of the runtime.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the runtime has logged so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits (bounded) until stderr contains `needle`; returns all of stderr.
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.stderr();
            if log.contains(needle) {
                return log;
            }
            assert!(Instant::now() < deadline, "`{needle}` never logged:\n{log}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the runtime with SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.kill();
    }
}

fn collect(stream: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let out = Arc::new(Mutex::new(String::new()));
    let sink = out.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
    out
}

/// Runs `cmd` to completion (bounded) and returns its exit code and stderr.
pub fn run_to_exit(mut cmd: Command) -> (Option<i32>, String) {
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = spawn_tied(cmd).expect("spawn boxoffice");
    let stderr = collect(child.stderr.take().unwrap());
    let deadline = Instant::now() + EXIT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "boxoffice did not exit; stderr:\n{}",
                stderr.lock().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Let the reader thread drain what is left.
    std::thread::sleep(Duration::from_millis(100));
    let text = stderr.lock().unwrap().clone();
    (status.code(), text)
}

/// Asserts the process failed the way the CLI promises: exit 1, one `error:` line, no panic.
pub fn assert_one_line_error(code: Option<i32>, stderr: &str, expect: &[&str]) {
    assert_eq!(code, Some(1), "stderr:\n{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "exactly one error line expected:\n{stderr}"
    );
    for needle in expect {
        assert!(
            errors[0].contains(needle),
            "`{needle}` missing from: {}",
            errors[0]
        );
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("backtrace"), "{stderr}");
}

/// The HTTP client of the tests: statuses are answers, not errors; no redirects followed.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(HTTP_TIMEOUT))
        .build()
        .into()
}

/// Sends one request and reads the whole response.
pub fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<Vec<u8>>) -> Resp {
    try_send(method, url, headers, body).unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// Sends a request; an error when no answer came (refused, reset, timed out).
pub fn try_send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Result<Resp, String> {
    let mut builder = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let agent = agent();
    let response = match body {
        Some(body) => agent.run(builder.body(body).unwrap()),
        None => agent.run(builder.body(()).unwrap()),
    };
    response.map(Resp::read).map_err(|e| e.to_string())
}

/// Options for starting a shop.
#[derive(Clone, Debug, Default)]
pub struct ShopOptions {
    /// Extra variables by lower-case name, passed as `SPIN_VARIABLE_*`.
    pub variables: Vec<(String, String)>,
    /// Reuse this state dir instead of a fresh one (for restart tests).
    pub state_dir: Option<PathBuf>,
    /// The backends: embedded unless said.
    pub backend: Backend,
    /// Leave `jwt_key` and the event keys unset, so that the shop uses the keys it keeps in
    /// its state dir, instead of [`TEST_JWT_KEY`] and [`test_signing_key`]s.
    pub kept_keys: bool,
    /// Listen here instead of on a free port.
    pub listen: Option<String>,
    /// Log warnings only (`RUST_LOG=warn`), not a line per request: for load runs.
    pub quiet: bool,
    /// More environment for the runtime (such as `OTEL_*`).
    pub env: Vec<(String, String)>,
    /// More arguments of `boxoffice up` (such as `--log-format json`).
    pub args: Vec<String>,
}

/// The whole shop (the repository's spin.toml) under a running runtime, or on a wasmCloud
/// host ([`Backend::WasmCloud`]: then `runtime` is the shop's `boxoffice broker`).
pub struct Shop {
    runtime: Runtime,
    wasmcloud: Option<wasmcloud::WasmCloud>,
    pub base: String,
    pub state_dir: PathBuf,
    pub backend: Backend,
    kept_keys: bool,
    _temp: Option<tempfile::TempDir>,
}

impl Shop {
    pub fn start() -> Shop {
        Shop::start_with(ShopOptions::default())
    }

    pub fn start_with(options: ShopOptions) -> Shop {
        if matches!(options.backend, Backend::WasmCloud) {
            return Shop::start_on_wasmcloud(options);
        }
        build_components();
        let (temp, state_dir) = match options.state_dir {
            Some(dir) => (None, dir),
            None => {
                let temp = tempfile::tempdir().expect("temp dir");
                let dir = temp.path().join("state");
                (Some(temp), dir)
            }
        };
        let test_keys = std::iter::once(("jwt_key".to_owned(), TEST_JWT_KEY.to_owned()))
            .chain(test_event_variables(true));
        let env: Vec<(String, String)> = test_keys
            .filter(|_| !options.kept_keys)
            .chain(options.variables)
            .map(|(name, value)| (format!("SPIN_VARIABLE_{}", name.to_uppercase()), value))
            .collect();
        let mut env: Vec<(&str, &str)> =
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        if options.quiet {
            env.push(("RUST_LOG", "warn"));
        }
        env.extend(options.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let config = options
            .backend
            .runtime_config()
            .map(|p| p.to_string_lossy().into_owned());
        let mut args: Vec<&str> = match &config {
            Some(path) => vec!["--runtime-config", path],
            None => Vec::new(),
        };
        if let Some(listen) = &options.listen {
            args.extend(["--listen", listen]);
        }
        args.extend(options.args.iter().map(String::as_str));
        let runtime = Runtime::start(&workspace_root().join("spin.toml"), &state_dir, &args, &env);
        Shop {
            base: runtime.base.clone(),
            runtime,
            wasmcloud: None,
            state_dir,
            backend: options.backend,
            kept_keys: options.kept_keys,
            _temp: temp,
        }
    }

    /// The shared shop of one test binary: tests that need no special configuration use
    /// it, with unique emails, so the runtime starts once per file.
    pub fn shared() -> &'static Shop {
        static SHOP: OnceLock<Shop> = OnceLock::new();
        SHOP.get_or_init(Shop::start)
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The wasmCloud host the shop runs on, if it does.
    pub fn wasmcloud(&self) -> Option<&wasmcloud::WasmCloud> {
        self.wasmcloud.as_ref()
    }

    /// The shop on a wasmCloud host: the workloads of `wadm/host` with the test keys and
    /// `options.variables`, and `boxoffice broker` delivering to the host.
    fn start_on_wasmcloud(options: ShopOptions) -> Shop {
        let mut host = wasmcloud::WasmCloud::start();
        let temp = tempfile::tempdir().expect("temp dir");
        let state_dir = temp.path().join("broker");
        let (name, value) = test_broker_env();
        let broker = Runtime::start_broker(
            &state_dir,
            &host.base,
            "127.0.0.1:0",
            &workspace_root().join("events.toml"),
            &[],
            &[(&name, &value)],
        );
        let mut variables = vec![
            ("jwt_key".to_owned(), TEST_JWT_KEY.to_owned()),
            ("broker_url".to_owned(), broker.base.clone()),
        ];
        variables.extend(test_event_variables(false));
        variables.extend(options.variables);
        host.deploy(&variables);
        Shop {
            base: host.base.clone(),
            runtime: broker,
            wasmcloud: Some(host),
            state_dir,
            backend: Backend::WasmCloud,
            kept_keys: false,
            _temp: Some(temp),
        }
    }

    /// Sends a request: JSON when `body` is [`Body::Json`], the bytes as they are for
    /// [`Body::Raw`] (labelled JSON too).
    pub fn request(&self, method: &str, path: &str, cookie: Option<&str>, body: Body) -> Resp {
        self.request_with(method, path, cookie, body, &[])
    }

    pub fn request_with(
        &self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        body: Body,
        extra: &[(&str, &str)],
    ) -> Resp {
        let mut headers: Vec<(&str, &str)> = extra.to_vec();
        if let Some(cookie) = cookie {
            headers.push(("cookie", cookie));
        }
        let body = match body {
            Body::None => None,
            Body::Json(value) => Some(value.to_string().into_bytes()),
            Body::Raw(bytes) => Some(bytes),
            Body::Form(fields) => {
                headers.push(("content-type", "application/x-www-form-urlencoded"));
                let encoded = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(fields)
                    .finish();
                Some(encoded.into_bytes())
            }
        };
        if body.is_some() && !headers.iter().any(|(name, _)| *name == "content-type") {
            headers.push(("content-type", "application/json"));
        }
        send(method, &self.url(path), &headers, body)
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

    /// Signs up a new user, from a client address of its own ([`simulated_client`]: the
    /// throttle counts sign-ups per address), and returns its session cookie
    /// (`session=...`) and id.
    pub fn signup(&self, email: &str, password: &str) -> (String, String) {
        static CLIENTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let client = simulated_client(CLIENTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let body = serde_json::json!({"email": email, "password": password});
        let resp = self.request_with(
            "POST",
            "/api/users/signup",
            None,
            Body::Json(body),
            &[("boxoffice-client-addr", &client)],
        );
        assert_eq!(resp.status, 201, "signup {email}: {}", resp.text);
        let id = resp.json["id"].as_str().expect("id").to_string();
        (resp.session_cookie().expect("session cookie"), id)
    }

    /// Places an order for `ticket_id` as `buyer`, retrying while the orders service has not
    /// yet heard of the ticket (its replica is filled by `ticket:created`, asynchronously):
    /// the first answer that is not that 404, within [`EVENTUAL`].
    pub fn order_when_known(&self, buyer: &str, ticket_id: &str) -> Resp {
        wait_until("the orders replica of the ticket", EVENTUAL, || {
            let body = serde_json::json!({ "ticketId": ticket_id });
            let resp = self.post("/api/orders", Some(buyer), body);
            (resp.status != 404).then_some(resp)
        })
    }

    /// The SQLite database of `service` that the embedded default keeps under the state
    /// dir.
    pub fn sqlite_path(&self, service: &str) -> PathBuf {
        self.state_dir.join(format!("sqlite_{service}.db"))
    }

    /// The services' SQL data, on whichever backend the shop runs.
    pub fn db(&self) -> TestDb {
        match &self.wasmcloud {
            Some(host) => host.db(),
            None => self.backend.db(&self.state_dir),
        }
    }

    /// Stops the runtime with SIGKILL and hands back its state dir (and the temp dir that
    /// owns it, which deletes it when dropped) so that a new runtime can start on it.
    pub fn kill_keeping_state(mut self) -> KeptState {
        self.runtime.kill();
        KeptState {
            _temp: self._temp.take(),
            state_dir: self.state_dir.clone(),
            backend: self.backend.clone(),
            kept_keys: self.kept_keys,
        }
    }
}

/// The state dir of a stopped shop.
pub struct KeptState {
    _temp: Option<tempfile::TempDir>,
    pub state_dir: PathBuf,
    pub backend: Backend,
    kept_keys: bool,
}

impl KeptState {
    /// Starts a new runtime on this state.
    pub fn restart(&self) -> Shop {
        self.restart_with(Vec::new())
    }

    /// Starts a new runtime on this state with these variables.
    pub fn restart_with(&self, variables: Vec<(String, String)>) -> Shop {
        Shop::start_with(ShopOptions {
            variables,
            state_dir: Some(self.state_dir.clone()),
            backend: self.backend.clone(),
            kept_keys: self.kept_keys,
            ..ShopOptions::default()
        })
    }
}

pub enum Body {
    None,
    Json(Value),
    Raw(Vec<u8>),
    /// A form post, `application/x-www-form-urlencoded`.
    Form(Vec<(String, String)>),
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub text: String,
    /// The body parsed as JSON, or `Value::Null` when it is not JSON.
    pub json: Value,
}

impl Resp {
    fn read(mut resp: http::Response<ureq::Body>) -> Resp {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp
            .body_mut()
            .read_to_string()
            .unwrap_or_else(|e| panic!("read the body: {e}"));
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

/// Polls `probe` every 50 ms until it gives a value, for at most `timeout`; panics with
/// `what` otherwise.
pub fn wait_until<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A session cookie made the way the old app's tests made them: a JWT with `{id, email}`
/// signed with the shop's key, wrapped as cookie-session did (base64 of `{"jwt": ...}`).
pub fn forge_session(key: &str, id: &str, email: &str, valid_for_secs: u64) -> String {
    use base64::Engine as _;
    use jwt_simple::prelude::*;

    #[derive(Serialize, Deserialize)]
    struct UserClaims {
        id: String,
        email: String,
    }
    let claims = Claims::with_custom_claims(
        UserClaims {
            id: id.into(),
            email: email.into(),
        },
        jwt_simple::prelude::Duration::from_secs(valid_for_secs),
    );
    let jwt = HS256Key::from_bytes(key.as_bytes())
        .authenticate(claims)
        .unwrap();
    let json = serde_json::to_vec(&serde_json::json!({ "jwt": jwt })).unwrap();
    format!(
        "session={}",
        base64::engine::general_purpose::STANDARD.encode(json)
    )
}

/// POSTs a binary-mode CloudEvent of any type to a broker ingress, from `source`, signed
/// with the test key of the service `source` names (`/boxoffice/tests` is
/// [`TEST_PUBLISHER`]; any other source goes unsigned): what the broker's own tests carry.
pub fn post_event(broker: &str, event_type: &str, id: &str, source: &str, data: &Value) -> Resp {
    let key = signature::service_of(source).map(test_signing_key);
    let headers = headers_as(source, event_type, id, data, key.as_ref());
    send_event(broker, &headers, data)
}

/// POSTs a binary-mode CloudEvent to a broker ingress as the service that publishes
/// `event_type` would: from its source, signed with its [`test_signing_key`].
pub fn publish(broker: &str, event_type: &str, id: &str, data: &Value) -> Resp {
    publish_signed_with(
        broker,
        event_type,
        id,
        data,
        Some(&test_publisher_key(event_type)),
    )
}

/// [`publish`], signed with `key` instead (`None`: unsigned), as a forger would.
pub fn publish_signed_with(
    broker: &str,
    event_type: &str,
    id: &str,
    data: &Value,
    key: Option<&SigningKey>,
) -> Resp {
    send_event(broker, &event_headers(event_type, id, data, key), data)
}

fn send_event(url: &str, headers: &[(String, String)], data: &Value) -> Resp {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    send("POST", url, &headers, Some(data.to_string().into_bytes()))
}

/// The binary-mode headers of an event from the publisher of `event_type`, signed with
/// `key` (none without one).
pub fn event_headers(
    event_type: &str,
    id: &str,
    data: &Value,
    key: Option<&SigningKey>,
) -> Vec<(String, String)> {
    let publisher = EventType::parse(event_type).map_or(TEST_PUBLISHER, EventType::publisher);
    headers_as(&events::source(publisher), event_type, id, data, key)
}

/// The binary-mode headers of an event from `source`, signed with `key` (none without).
fn headers_as(
    source: &str,
    event_type: &str,
    id: &str,
    data: &Value,
    key: Option<&SigningKey>,
) -> Vec<(String, String)> {
    let attributes = Attributes {
        id,
        event_type,
        source,
        time: "2026-01-01T00:00:00.000Z",
        subject: data["id"].as_str().unwrap_or_default(),
    };
    // Unsigned: signed with a throwaway key, then the signature dropped.
    let throwaway = SigningKey::from_seed([1; 32]);
    let mut headers = events::binary_headers(
        &attributes,
        data.to_string().as_bytes(),
        key.unwrap_or(&throwaway),
    );
    if key.is_none() {
        headers.retain(|(name, _)| name != signature::HEADER);
    }
    headers
}

/// Runs the operator's `boxoffice events dlq list --json` on a shop's queue and returns
/// the dead letters.
pub fn dead_letters(shop: &Shop) -> Vec<Value> {
    let mut cmd = boxoffice();
    cmd.args(["events", "dlq", "list", "--json", "--state-dir"])
        .arg(&shop.state_dir)
        .arg("--events")
        .arg(workspace_root().join("events.toml"));
    if let Some(config) = shop.backend.runtime_config() {
        cmd.arg("--runtime-config").arg(config);
    }
    let out = cmd.output().expect("run boxoffice events dlq list");
    assert!(
        out.status.success(),
        "dlq list: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).expect("dlq list prints JSON")
}

/// Defines each named test on a wasmCloud host (`wasmcloud::NAME`, skipped with a message
/// when a tool it needs is missing, unless `CI=true`). Each name is a function of the
/// invoking module taking a [`Backend`].
#[macro_export]
macro_rules! on_wasmcloud {
    ($($name:ident),* $(,)?) => {
        mod wasmcloud {
            $(
                #[test]
                fn $name() {
                    if let Some(backend) = $crate::wasmcloud::backend() {
                        super::$name(backend);
                    }
                }
            )*
        }
    };
}

/// Defines each named test twice: once on the embedded backends (`embedded::NAME`) and
/// once on Redis, Postgres and NATS JetStream (`redis_postgres_nats::NAME`, skipped with a
/// message when those servers are not running, unless `CI=true`). Each name is a function
/// of the invoking module taking a [`Backend`].
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[test]
                fn $name() {
                    super::$name(super::Backend::Embedded);
                }
            )*
        }
        mod redis_postgres_nats {
            $(
                #[test]
                fn $name() {
                    if let Some(backend) = super::Backend::real() {
                        super::$name(backend);
                    }
                }
            )*
        }
    };
}
