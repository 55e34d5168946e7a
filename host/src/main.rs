//! The `boxoffice` command line: `build` and `up`.

use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use boxoffice::builder;
use boxoffice::manifest::Manifest;
use boxoffice::runtime::{self, App, AppOptions};

/// Runs the boxoffice Spin application locally.
#[derive(Parser)]
#[command(name = "boxoffice", version, about)]
struct Cli {
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
    Up {
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
        /// Production mode: refuse development defaults such as the built-in jwt_key.
        #[arg(long)]
        production: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    let result = match cli.command {
        Command::Build { manifest } => build(&manifest),
        Command::Up {
            listen,
            state_dir,
            runtime_config,
            manifest,
            production,
        } => up(listen, state_dir, runtime_config, &manifest, production),
    };
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

fn up(
    listen: SocketAddr,
    state_dir: Option<PathBuf>,
    runtime_config: Option<PathBuf>,
    manifest_path: &std::path::Path,
    production: bool,
) -> anyhow::Result<()> {
    let manifest = Manifest::load(manifest_path)?;
    let listener = std::net::TcpListener::bind(listen)
        .with_context(|| format!("cannot listen on {listen}"))?;
    listener.set_nonblocking(true)?;

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

    let variables = runtime::resolve_variables(&manifest, production, |k| std::env::var(k).ok())?;
    let state_dir = state_dir.unwrap_or_else(|| manifest.dir.join(".boxoffice"));
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("cannot create state directory {}", state_dir.display()))?;
    let engine = runtime::engine()?;
    let options = AppOptions {
        state_dir,
        runtime_config,
    };
    let app = App::load(&engine, &manifest, &variables, &options)?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let addr = listener.local_addr()?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "boxoffice: listening on http://{addr}")?;
        stdout.flush()?;
        drop(stdout);
        tokio::select! {
            served = boxoffice::http_server::serve(app, listener) => served,
            () = shutdown_signal() => {
                tracing::info!("shutting down");
                Ok(())
            }
        }
    })
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
