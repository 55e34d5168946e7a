//! The `boxoffice` command line: `build`, `up`, `broker`, `events`, `kubernetes` and
//! `wasmcloud`.

mod kubernetes_cli;
mod wasmcloud_cli;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use boxoffice::admin::Admin;
use boxoffice::broker::nats::NatsQueue;
use boxoffice::broker::store::{EventQueue, SqliteStore};
use boxoffice::broker::subscriptions::{Subscription, Subscriptions};
use boxoffice::broker::{dlq, Broker, Queue};
use boxoffice::builder;
use boxoffice::manifest::Manifest;
use boxoffice::runtime::{self, App};
use boxoffice::runtime_config::{BrokerBackend, RuntimeConfig};
use boxoffice::secrets;
use boxoffice_telemetry::logs::LogFormat;
use boxoffice_wire::signature::{PublicKeys, PUBLISHERS};

/// The environment variable that, when set, keeps `up` from pointing `broker_url` at its
/// own broker.
const BROKER_URL_ENV: &str = "SPIN_VARIABLE_BROKER_URL";
/// The environment variable that overrides `database_url`, runtime config included.
const DATABASE_URL_ENV: &str = "SPIN_VARIABLE_DATABASE_URL";
/// The environment variable that names the one Postgres server the services may reach.
const DATABASE_HOST_ENV: &str = "SPIN_VARIABLE_DATABASE_HOST";

/// Where `up` and `broker` serve their metrics unless told: loopback only.
const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:3002";

/// What `up --help` and `broker --help` say about traces and logs (docs/operations.md).
const OBSERVABILITY_HELP: &str = "\
Metrics: GET /metrics on --admin-listen (Prometheus text).
Logs: one line per request and per delivery on stderr; --log-format json for JSON, RUST_LOG to filter.
Traces: off unless OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) names an
OTLP/HTTP collector; OTEL_EXPORTER_OTLP_PROTOCOL=http/json or http/protobuf (default).";

/// Runs the boxoffice Spin application locally.
#[derive(Parser)]
#[command(name = "boxoffice", version, about)]
struct Cli {
    /// How log lines are written on stderr: `text` (readable) or `json` (one object per
    /// line).
    #[arg(long, global = true, default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build every component of the manifest with its build command.
    Build {
        /// The Spin manifest.
        #[arg(long, default_value = "spin.toml")]
        manifest: PathBuf,
    },
    /// Build stale components and serve the application over HTTP.
    Up(UpArgs),
    /// Run the event broker alone, delivering to an app served elsewhere (such as `spin up`).
    Broker(BrokerArgs),
    /// Inspect and operate the broker's queue (safe beside a running broker).
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// Render the Kubernetes manifests that follow from events.toml (k8s/base/eventing).
    Kubernetes {
        #[command(subcommand)]
        command: kubernetes_cli::KubernetesCommand,
    },
    /// Run the app on wasmCloud 2: render wadm/, deploy to a `wash host`.
    Wasmcloud {
        #[command(subcommand)]
        command: wasmcloud_cli::WasmcloudCommand,
    },
}

#[derive(clap::Args)]
#[command(after_help = OBSERVABILITY_HELP)]
struct UpArgs {
    /// The address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Where key-value and SQLite data live [default: .boxoffice/ next to the manifest].
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// A runtime config file in Spin's format.
    #[arg(long)]
    runtime_config: Option<PathBuf>,
    /// The Spin manifest.
    #[arg(long, default_value = "spin.toml")]
    manifest: PathBuf,
    /// Production mode: `jwt_key` (SPIN_VARIABLE_JWT_KEY, 32 bytes or more) and every
    /// publisher's `<service>_events_key` (SPIN_VARIABLE_ORDERS_EVENTS_KEY, ...) must be
    /// set; no key is made under the state dir.
    #[arg(long)]
    production: bool,
    /// The address the in-process event broker listens on (port 0 picks a free port);
    /// the app's `broker_url` variable points at it unless SPIN_VARIABLE_BROKER_URL is set.
    #[arg(long, default_value = "127.0.0.1:3001")]
    broker_listen: SocketAddr,
    /// The admin listener, which serves GET /metrics (port 0 picks a free port).
    #[arg(long, env = "BOXOFFICE_ADMIN_LISTEN", default_value = DEFAULT_ADMIN_LISTEN)]
    admin_listen: SocketAddr,
    /// The event subscriptions [default: events.toml next to the manifest; if that file
    /// does not exist, the broker runs without subscriptions].
    #[arg(long)]
    events: Option<PathBuf>,
    /// The period of the broker's `boxoffice:tick` event, overriding
    /// `tick_interval_ms` of the events file.
    #[arg(long)]
    tick_interval_ms: Option<u64>,
    /// How many connections the front door serves at once; beyond, new ones are closed at
    /// once (shed, not queued).
    #[arg(long, env = "BOXOFFICE_MAX_CONNECTIONS", default_value_t = boxoffice_wire::listener::MAX_CONNECTIONS)]
    max_connections: usize,
}

#[derive(clap::Args)]
#[command(after_help = OBSERVABILITY_HELP)]
struct BrokerArgs {
    /// The address to accept CloudEvents on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:3001")]
    listen: SocketAddr,
    /// The base URL of the app that serves the subscription routes.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    app: String,
    /// The admin listener, which serves GET /metrics (port 0 picks a free port).
    #[arg(long, env = "BOXOFFICE_ADMIN_LISTEN", default_value = DEFAULT_ADMIN_LISTEN)]
    admin_listen: SocketAddr,
    /// Where the broker's queue (broker.db) lives.
    #[arg(long, default_value = ".boxoffice")]
    state_dir: PathBuf,
    /// A runtime config file whose `[boxoffice.broker]` puts the queue on NATS JetStream.
    #[arg(long)]
    runtime_config: Option<PathBuf>,
    /// The event subscriptions [default: events.toml; if that file does not exist, the
    /// broker runs without subscriptions].
    #[arg(long)]
    events: Option<PathBuf>,
    /// The period of the `boxoffice:tick` event, overriding `tick_interval_ms` of the
    /// events file.
    #[arg(long)]
    tick_interval_ms: Option<u64>,
}

#[derive(Subcommand)]
enum EventsCommand {
    /// The dead-letter queue: deliveries that failed for good.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Delivery counts per subscription and status.
    Stats {
        #[command(flatten)]
        queue: QueueArgs,
    },
    /// Print a new set of event keys as environment lines: each publishing service's
    /// signing key (SPIN_VARIABLE_<SERVICE>_EVENTS_KEY; one given in the environment is
    /// kept) and the public keys of them all (SPIN_VARIABLE_EVENTS_PUBLIC_KEYS), for a
    /// Secret or `spin up`.
    Keys,
}

/// Which broker queue the `events` commands work on.
#[derive(clap::Args)]
struct QueueArgs {
    /// Where the embedded broker's queue (broker.db) lives.
    #[arg(long, default_value = ".boxoffice")]
    state_dir: PathBuf,
    /// The runtime config the broker runs with; with `[boxoffice.broker] type = "nats"`
    /// the commands work on its JetStream streams.
    #[arg(long)]
    runtime_config: Option<PathBuf>,
    /// The event subscriptions (for the statistics of a NATS queue).
    #[arg(long, default_value = "events.toml")]
    events: PathBuf,
}

#[derive(Subcommand)]
enum DlqCommand {
    /// List the dead-lettered deliveries: event id, type, subscription, attempts, last
    /// error and when.
    List {
        #[command(flatten)]
        queue: QueueArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Queue dead-lettered deliveries again (attempts reset, due now); a running broker
    /// picks them up within a second.
    Replay {
        #[command(flatten)]
        queue: QueueArgs,
        /// Replay every dead-lettered delivery.
        #[arg(long, conflicts_with = "event_ids")]
        all: bool,
        /// The ids of the events whose dead-lettered deliveries to replay.
        #[arg(value_name = "EVENT_ID", required_unless_present = "all")]
        event_ids: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    boxoffice_telemetry::logs::init(cli.log_format);
    let result = match cli.command {
        Command::Build { manifest } => build(&manifest),
        Command::Up(args) => up(args),
        Command::Broker(args) => broker(args),
        Command::Events { command } => events(command),
        Command::Kubernetes { command } => kubernetes_cli::run(command),
        Command::Wasmcloud { command } => wasmcloud_cli::run(command),
    };
    boxoffice_telemetry::traces::shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn build(manifest: &std::path::Path) -> anyhow::Result<()> {
    let manifest = Manifest::load(manifest)?;
    builder::build(&manifest, |_| true)?;
    Ok(())
}

fn up(options: UpArgs) -> anyhow::Result<()> {
    let manifest = Manifest::load(&options.manifest)?;
    // Both listeners first, so that a busy port is an immediate error.
    let listener = bind(options.listen)?;
    let broker_listener = bind(options.broker_listen)?;
    let admin_listener = bind(options.admin_listen)?;
    let admin_url = format!("http://{}", admin_listener.local_addr()?);
    let app_addr = listener.local_addr()?;
    let broker_url = format!("http://{}", broker_listener.local_addr()?);

    let state_dir = options
        .state_dir
        .unwrap_or_else(|| manifest.dir.join(".boxoffice"));
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("cannot create state directory {}", state_dir.display()))?;
    let events_file = options.events.as_deref();
    let subscriptions = load_subscriptions(events_file, &manifest.dir.join("events.toml"))?;
    let mut runtime_config = RuntimeConfig::load(&state_dir, options.runtime_config.as_deref())?;
    let components = manifest.components.values();
    runtime_config
        .define_granted(
            components
                .clone()
                .flat_map(|c| c.sqlite_databases.iter().map(String::as_str)),
            components.flat_map(|c| c.key_value_stores.iter().map(String::as_str)),
            &state_dir,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let rt = runtime()?;
    let queue = rt.block_on(open_queue(&state_dir, &runtime_config, &subscriptions))?;

    let used: Vec<&str> = manifest
        .triggers
        .iter()
        .map(|t| t.component.as_str())
        .collect();
    let mut stale = Vec::new();
    for id in &used {
        if builder::is_stale(&manifest.components[*id])? {
            stale.push(*id);
        }
    }
    if !stale.is_empty() {
        builder::build(&manifest, |c| stale.contains(&c.id.as_str()))?;
    }

    // The environment wins, then the runtime config, then the manifest's defaults. The
    // services may reach the Postgres server of `database_url` and no other.
    let database_url = std::env::var(DATABASE_URL_ENV)
        .ok()
        .or_else(|| runtime_config.database_url.clone());
    let database_host = database_url
        .as_deref()
        .and_then(boxoffice::postgres::allowed_host_of);
    let variables = runtime::resolve_variables(&manifest, options.production, &state_dir, |k| {
        std::env::var(k)
            .ok()
            .or_else(|| (k == BROKER_URL_ENV).then(|| broker_url.clone()))
            .or_else(|| {
                (k == DATABASE_URL_ENV)
                    .then(|| database_url.clone())
                    .flatten()
            })
            .or_else(|| {
                (k == DATABASE_HOST_ENV)
                    .then(|| database_host.clone())
                    .flatten()
            })
    })?;
    let engine = runtime::engine()?;
    let app = App::load(
        &engine,
        &manifest,
        &variables,
        &runtime_config,
        boxoffice::http_server::InProcessChaining::of,
    )?;

    let served = |s: &Subscription| used.contains(&s.component.as_str());
    for s in subscriptions.subscriptions.iter().filter(|s| !served(s)) {
        tracing::warn!(
            "subscription `{}`: component `{}` is not in the manifest; its events wait in the broker's queue",
            s.name,
            s.component
        );
    }
    let mut broker =
        Broker::new(queue, subscriptions, &format!("http://{app_addr}")).deliver_only_to(served);
    match variables.get(secrets::EVENTS_PUBLIC_KEYS) {
        Some(list) => {
            broker = broker
                .accepting_only_signed(PublicKeys::parse(list).map_err(|e| anyhow::anyhow!("{e}"))?)
        }
        None => tracing::warn!(
            "broker: the manifest declares no {}: its ingress accepts unsigned events",
            secrets::EVENTS_PUBLIC_KEYS
        ),
    }
    if let Some(ms) = options.tick_interval_ms {
        broker = broker.with_tick_interval(tick_interval(ms)?);
    }

    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let broker_listener = tokio::net::TcpListener::from_std(broker_listener)?;
        let admin_listener = tokio::net::TcpListener::from_std(admin_listener)?;
        let mut gauges = app.gauges();
        gauges.push(broker.gauges());
        let admin = Admin::new(observe()?, gauges);
        announce(&[
            format!("boxoffice: broker listening on {broker_url}"),
            format!("boxoffice: admin listening on {admin_url}"),
            format!("boxoffice: listening on http://{app_addr}"),
        ])?;
        tokio::select! {
            served = boxoffice::http_server::serve(app, listener, options.max_connections) => served,
            served = broker.serve(broker_listener) => served,
            served = admin.serve(admin_listener) => served,
            () = shutdown_signal() => {
                tracing::info!("shutting down");
                Ok(())
            }
        }
    })
}

/// The public keys the broker alone accepts events by: `events_public_keys` as the
/// environment sets it (SPIN_VARIABLE_EVENTS_PUBLIC_KEYS), or else those of the
/// publishers' signing keys, each from the environment or kept under `state_dir`; then the
/// keys the app beside it needs are written to `<state_dir>/app.env` (mode 0600), for
/// `spin up` to be started with.
fn broker_publishers(state_dir: &std::path::Path) -> anyhow::Result<PublicKeys> {
    let env_name = boxoffice::variables::env_name(secrets::EVENTS_PUBLIC_KEYS);
    if let Ok(list) = std::env::var(&env_name) {
        return PublicKeys::parse(&list).map_err(|e| anyhow::anyhow!("{env_name}: {e}"));
    }
    let signers = secrets::signing_keys(PUBLISHERS, secrets::Unset::Keep(state_dir), |k| {
        std::env::var(k).ok()
    })?;
    let file = state_dir.join("app.env");
    secrets::write_private(&file, &(secrets::env_lines(&signers) + "\n"))?;
    tracing::info!(
        "broker: the app's services need their event keys: start them with `set -a; . {}; set +a; spin up ...`",
        file.display()
    );
    Ok(secrets::public_keys(&signers))
}

fn broker(args: BrokerArgs) -> anyhow::Result<()> {
    let app = app_base_url(&args.app)?;
    let listener = bind(args.listen)?;
    let admin_listener = bind(args.admin_listen)?;
    let url = format!("http://{}", listener.local_addr()?);
    let admin_url = format!("http://{}", admin_listener.local_addr()?);
    std::fs::create_dir_all(&args.state_dir)
        .with_context(|| format!("cannot create state directory {}", args.state_dir.display()))?;
    let subscriptions =
        load_subscriptions(args.events.as_deref(), std::path::Path::new("events.toml"))?;
    let runtime_config = RuntimeConfig::load(&args.state_dir, args.runtime_config.as_deref())?;
    let publishers = broker_publishers(&args.state_dir)?;
    let rt = runtime()?;
    let queue = rt.block_on(open_queue(&args.state_dir, &runtime_config, &subscriptions))?;
    let mut broker = Broker::new(queue, subscriptions, &app).accepting_only_signed(publishers);
    if let Some(ms) = args.tick_interval_ms {
        broker = broker.with_tick_interval(tick_interval(ms)?);
    }
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let admin_listener = tokio::net::TcpListener::from_std(admin_listener)?;
        let admin = Admin::new(observe()?, vec![broker.gauges()]);
        announce(&[
            format!("boxoffice: admin listening on {admin_url}"),
            format!("boxoffice: broker listening on {url}"),
        ])?;
        tracing::info!("broker: delivering to {app}");
        tokio::select! {
            served = broker.serve(listener) => served,
            served = admin.serve(admin_listener) => served,
            () = shutdown_signal() => {
                tracing::info!("shutting down");
                Ok(())
            }
        }
    })
}

fn events(command: EventsCommand) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut stdout = std::io::stdout().lock();
    match command {
        EventsCommand::Keys => {
            let signers =
                secrets::signing_keys(PUBLISHERS, secrets::Unset::Make, |k| std::env::var(k).ok())?;
            writeln!(stdout, "{}", secrets::env_lines(&signers))?;
            Ok(())
        }
        EventsCommand::Stats { queue } => rt.block_on(async {
            let queue = open_existing_queue(&queue).await?;
            dlq::stats(&*queue, &mut stdout).await
        }),
        EventsCommand::Dlq {
            command: DlqCommand::List { queue, json },
        } => rt.block_on(async {
            let queue = open_existing_queue(&queue).await?;
            dlq::list(&*queue, json, &mut stdout).await
        }),
        EventsCommand::Dlq {
            command:
                DlqCommand::Replay {
                    queue,
                    all,
                    event_ids,
                },
        } => {
            let count = rt.block_on(async {
                let queue = open_existing_queue(&queue).await?;
                anyhow::Ok(dlq::replay(&*queue, all, event_ids).await?)
            })?;
            writeln!(stdout, "replayed {count} dead-lettered deliveries")?;
            Ok(())
        }
    }
}

/// The queue a running (or stopped) broker keeps, for the operator's commands: an
/// embedded store must already exist, so that a mistyped directory is an error.
async fn open_existing_queue(args: &QueueArgs) -> anyhow::Result<Arc<dyn EventQueue>> {
    let config = RuntimeConfig::load(&args.state_dir, args.runtime_config.as_deref())?;
    match &config.broker {
        BrokerBackend::Embedded => Ok(Arc::new(SqliteStore::open_existing(&args.state_dir)?)),
        BrokerBackend::Nats { .. } => {
            let subscriptions = load_subscriptions(None, &args.events)?;
            let queue = open_queue(&args.state_dir, &config, &subscriptions).await?;
            Ok(queue.events())
        }
    }
}

/// Sets up the metrics and, when the environment configures it, trace export (within
/// the async runtime).
fn observe() -> anyhow::Result<boxoffice_telemetry::metrics::Metrics> {
    let metrics = boxoffice_telemetry::metrics::install()?;
    if boxoffice_telemetry::traces::install()? {
        tracing::info!("traces: exporting over OTLP (OTEL_EXPORTER_OTLP_* settings)");
    }
    Ok(metrics)
}

fn bind(addr: SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    let listener =
        std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Prints the readiness lines on stdout, in order, at once.
fn announce(lines: &[String]) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    for line in lines {
        writeln!(stdout, "{line}")?;
    }
    stdout.flush()
}

/// Loads `explicit`, or else `default` if it exists, or else no subscriptions.
fn load_subscriptions(
    explicit: Option<&std::path::Path>,
    default: &std::path::Path,
) -> anyhow::Result<Subscriptions> {
    match explicit {
        Some(path) => Ok(Subscriptions::load(path)?),
        None if default.exists() => Ok(Subscriptions::load(default)?),
        None => {
            tracing::info!(
                "broker: no {} found; running without subscriptions",
                default.display()
            );
            Ok(Subscriptions::default())
        }
    }
}

/// The broker's queue as the runtime config says: `<state>/broker.db`, or NATS JetStream
/// (connected in the background, so the broker starts while NATS is away).
async fn open_queue(
    state_dir: &std::path::Path,
    config: &RuntimeConfig,
    subscriptions: &Subscriptions,
) -> anyhow::Result<Queue> {
    match &config.broker {
        BrokerBackend::Embedded => {
            let store = SqliteStore::open(state_dir).with_context(|| {
                format!("cannot open the broker's queue in {}", state_dir.display())
            })?;
            Ok(Queue::Embedded(Arc::new(store)))
        }
        BrokerBackend::Nats { url, stream } => {
            let names = subscriptions
                .subscriptions
                .iter()
                .map(|s| s.name.clone())
                .collect();
            let queue = NatsQueue::connect(url, stream, names, config.timeouts.backend)
                .await
                .with_context(|| format!("cannot use NATS at {url}"))?;
            tracing::info!("broker: events on NATS JetStream at {url}, stream {stream}");
            Ok(Queue::Nats(Arc::new(queue)))
        }
    }
}

fn tick_interval(ms: u64) -> anyhow::Result<Duration> {
    anyhow::ensure!(ms > 0, "--tick-interval-ms must be positive");
    Ok(Duration::from_millis(ms))
}

/// Checks `--app`: an `http://host:port` URL, kept without a trailing slash.
fn app_base_url(app: &str) -> anyhow::Result<String> {
    let uri: http::Uri = app
        .parse()
        .map_err(|_| anyhow::anyhow!("--app `{app}` is not a URL"))?;
    anyhow::ensure!(
        uri.scheme_str() == Some("http") && uri.authority().is_some(),
        "--app `{app}` must be an http://host:port URL"
    );
    Ok(app.trim_end_matches('/').to_owned())
}

/// Resolves on Ctrl-C or SIGTERM, so that `up` stops cleanly with exit code 0.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
