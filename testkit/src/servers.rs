//! Redis, Postgres and NATS servers that a test starts itself, on spare ports with data
//! dirs of their own, so that it can stop and restart them without disturbing the shared
//! ones. The binaries come from the Debian packages `scripts/services` installs.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to answer after a start.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something listens on 127.0.0.1:`port`, failing the test after `timeout`.
pub fn wait_for_port(what: &str, port: u16, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How many connections [`silent_server`] and [`answering_server`] take before they stop
/// listening: far more than a test sends.
const MAX_CONNECTIONS: usize = 256;

/// A TCP server on 127.0.0.1 that accepts connections and never sends a byte: a hung
/// server, to which a client's only defence is its timeout. Returns its port; it lives as
/// long as the test process.
pub fn silent_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let held: Vec<TcpStream> = listener
            .incoming()
            .take(MAX_CONNECTIONS)
            .filter_map(Result::ok)
            .collect();
        drop(held);
    });
    port
}

/// An HTTP/1.1 server on 127.0.0.1 that answers every request with `status` and no body,
/// then closes the connection (Knative's broker ingress answers 404 to a path that names
/// no broker). Returns its port; it lives as long as the test process.
pub fn answering_server(status: u16) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(MAX_CONNECTIONS).flatten() {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(&stream);
            // The head ends at the first empty line; at most 100 lines are read.
            for _ in 0..100 {
                let mut line = String::new();
                match reader.read_line(&mut line) {
                    Ok(n) if n > 0 && line != "\r\n" => {}
                    _ => break,
                }
            }
            let _ = write!(
                &stream,
                "HTTP/1.1 {status} Answer\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    port
}

/// A server run as a child process (redis-server, nats-server), stopped with SIGTERM.
pub struct ChildServer {
    program: &'static str,
    scheme: &'static str,
    args: fn(&Path, u16) -> Vec<String>,
    dir: tempfile::TempDir,
    /// Its port.
    pub port: u16,
    child: Option<Child>,
}

impl ChildServer {
    /// A redis-server with append-only persistence.
    pub fn redis() -> ChildServer {
        ChildServer::start("redis-server", "redis", |dir, port| {
            let port = port.to_string();
            let dir = dir.display().to_string();
            [
                "--bind",
                "127.0.0.1",
                "--port",
                &port,
                "--appendonly",
                "yes",
            ]
            .into_iter()
            .chain(["--save", "", "--dir", &dir])
            .map(str::to_owned)
            .collect()
        })
    }

    /// A nats-server with JetStream.
    pub fn nats() -> ChildServer {
        ChildServer::start("nats-server", "nats", |dir, port| {
            let port = port.to_string();
            let dir = dir.display().to_string();
            ["-a", "127.0.0.1", "-p", &port, "-js", "-sd", &dir]
                .into_iter()
                .map(str::to_owned)
                .collect()
        })
    }

    fn start(
        program: &'static str,
        scheme: &'static str,
        args: fn(&Path, u16) -> Vec<String>,
    ) -> ChildServer {
        let mut server = ChildServer {
            program,
            scheme,
            args,
            dir: tempfile::tempdir().unwrap(),
            port: free_port(),
            child: None,
        };
        server.start_again();
        server
    }

    /// `<scheme>://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }

    /// Starts it again on the same port and data, and waits until it listens.
    pub fn start_again(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("{}.log", self.program)))
            .expect("open the server's log");
        let mut cmd = Command::new(self.program);
        cmd.args((self.args)(self.dir.path(), self.port))
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let child = super::spawn_tied(cmd).unwrap_or_else(|e| {
            panic!(
                "start {} (run scripts/services to install it): {e}",
                self.program
            )
        });
        self.child = Some(child);
        wait_for_port(self.program, self.port, READY_TIMEOUT);
    }

    /// Stops it cleanly (SIGTERM), as an operator's restart would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Postgres cluster of its own, run by `pg_ctl` (as the `postgres` user when the tests
/// run as root, since Postgres refuses to run as root).
pub struct PostgresServer {
    _dir: tempfile::TempDir,
    data: PathBuf,
    log: PathBuf,
    bin: PathBuf,
    /// Its port.
    pub port: u16,
}

fn postgres_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("Postgres is not installed (run scripts/services)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("pg_ctl").exists())
        .collect();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop().expect("no /usr/lib/postgresql/*/bin/pg_ctl")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl PostgresServer {
    /// Creates a cluster with trust authentication on loopback and starts it.
    pub fn start() -> PostgresServer {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        if is_root() {
            let owner = |what: &str| {
                let out = Command::new("id")
                    .args([what, "postgres"])
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&out.stdout)
                    .trim()
                    .parse::<u32>()
                    .unwrap()
            };
            std::os::unix::fs::chown(dir.path(), Some(owner("-u")), Some(owner("-g")))
                .expect("give the data dir to postgres");
        }
        let server = PostgresServer {
            log: dir.path().join("postgres.log"),
            _dir: dir,
            data,
            bin: postgres_bin(),
            port: free_port(),
        };
        let status = server
            .command("initdb")
            .args(["--auth=trust", "--username=postgres", "--no-sync", "-D"])
            .arg(&server.data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "initdb failed");
        server.start_again();
        server
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if is_root() {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        }
    }

    /// A superuser URL (trust authentication).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts it again on the same port and data.
    pub fn start_again(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c max_connections=200 -c fsync=off",
            self.port,
            self.data.display()
        );
        let status = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&self.log)
            .args(["-w", "-o", &options, "start"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "pg_ctl start failed; see {}",
            self.log.display()
        );
        wait_for_port("postgres", self.port, READY_TIMEOUT);
    }

    /// Stops it with a fast shutdown: sessions are ended, as in a restart by an operator.
    pub fn stop(&self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "stop"])
            .stdout(Stdio::null())
            .status();
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
    }
}
