//! `boxoffice-bench`: load figures for the whole shop, printed as tables (`scripts/bench`).
//!
//! For each backend (the embedded one, then Redis + Postgres + NATS when their servers run),
//! it starts `boxoffice up` on free loopback ports with the prebuilt components, seeds it
//! through the API (users, tickets, orders), and drives each flow with the load generator
//! of [`load`]: at offered rates stepped up until p95 passes 5 ms (the highest rate that
//! kept it under), and at a fixed concurrency (requests/s, p50, p99, errors, and the
//! server's CPU time per request). Beside the embedded shop it runs the same flows on the
//! [`native`] baseline and the plain route under `wasmtime serve`; then event propagation,
//! the contention run (many buyers, few tickets), and the [`footprint`]: memory, sizes,
//! start-up. Everything is bounded in requests and time.

mod footprint;
mod load;
mod native;
mod report;
mod seed;
mod shop;

use std::time::Duration;

use boxoffice_testkit as support;
use clap::Parser;

#[derive(Parser)]
pub struct Args {
    /// A few hundred requests in all: proves the command works, measures nothing.
    #[arg(long)]
    tiny: bool,
    /// Requests per flow at most, at the fixed concurrency.
    #[arg(long, default_value_t = 4000)]
    requests: u64,
    /// Connections at the fixed concurrency.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Seconds per measurement at most.
    #[arg(long, default_value_t = 8)]
    seconds: u64,
    /// Tickets on sale in the seeded data set.
    #[arg(long, default_value_t = 1000)]
    tickets: u64,
    /// Users in the seeded data set.
    #[arg(long, default_value_t = 100)]
    users: u64,
    /// Buyers in the contention run, all at once.
    #[arg(long, default_value_t = 1000)]
    buyers: u64,
    /// Tickets the buyers of the contention run compete for.
    #[arg(long, default_value_t = 100)]
    contended: u64,
    /// Only the embedded backends (no Redis + Postgres + NATS run).
    #[arg(long)]
    embedded_only: bool,
    /// Only the flows whose name contains this text (for a profile of one flow).
    #[arg(long)]
    only: Option<String>,
    /// Serve the native baseline on this state dir (how the bench starts it).
    #[arg(long, hide = true)]
    serve_native: Option<std::path::PathBuf>,
}

impl Args {
    /// Whether the flow named `name` is measured in this run.
    fn wants(&self, name: &str) -> bool {
        self.only.as_deref().is_none_or(|only| name.contains(only))
    }
}

/// The latency target of the stepped rates: p95 under this.
const P95_TARGET: Duration = Duration::from_millis(5);

fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if let Some(state_dir) = &args.serve_native {
        return native::serve_forever(state_dir);
    }
    // The runtime measured is the one cargo built beside this binary, unless said.
    if std::env::var_os("BOXOFFICE_BIN").is_none() {
        std::env::set_var(
            "BOXOFFICE_BIN",
            std::env::current_exe()?.with_file_name("boxoffice"),
        );
    }
    if args.tiny {
        args.requests = 40;
        args.seconds = 2;
        args.tickets = 20;
        args.users = 4;
        args.connections = 4;
        args.buyers = 40;
        args.contended = 4;
    }
    let rt = tokio::runtime::Runtime::new()?;
    let dir = tempfile::tempdir()?;
    let mut figures = vec![shop::measure(
        &args,
        &rt,
        support::Backend::Embedded,
        dir.path(),
    )?];
    if !args.embedded_only {
        match support::backends::Servers::shared() {
            Ok(servers) => figures.push(shop::measure(
                &args,
                &rt,
                support::Backend::real_on(&servers),
                dir.path(),
            )?),
            // Skipped with a message, or (CI=true) a failure.
            Err(why) => drop(support::runnable(
                "the bench on Redis + Postgres + NATS",
                Some(why),
            )),
        }
    }
    report::print(&args, &figures);
    Ok(())
}
