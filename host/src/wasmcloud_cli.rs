//! `boxoffice wasmcloud`: render the wasmCloud files of `wadm/`, and start or stop the app
//! on a `wash host` (see the library's `wasmcloud` module).

use std::path::{Path, PathBuf};

use clap::Subcommand;

use boxoffice::manifest::Manifest;
use boxoffice::runtime;
use boxoffice::wasmcloud::deploy::{self, Host};
use boxoffice::wasmcloud::{plan, render};

#[derive(Subcommand)]
pub enum WasmcloudCommand {
    /// Write wadm/ from spin.toml: the workload definitions a local `wash host` takes,
    /// the Kubernetes WorkloadDeployments and the wasmCloud 1.x application.
    Render {
        /// The Spin manifest.
        #[arg(long, default_value = "spin.toml")]
        manifest: PathBuf,
        /// Where the files go.
        #[arg(long, default_value = "wadm")]
        out: PathBuf,
        /// Write nothing; fail if a file is not what spin.toml renders.
        #[arg(long)]
        check: bool,
    },
    /// Start every workload of wadm/host on a `wash host` (stopping any of the same id
    /// first).
    Deploy(DeployArgs),
    /// Stop every workload of wadm/host on a `wash host`.
    Undeploy {
        #[command(flatten)]
        host: HostArgs,
        /// The workload definitions.
        #[arg(long, default_value = "wadm/host")]
        definitions: PathBuf,
    },
}

/// Which host.
#[derive(clap::Args)]
pub struct HostArgs {
    /// The NATS server the host takes its workloads from (its --scheduler-nats-url).
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// The host's id (its log says `host_id=…` when it starts).
    #[arg(long)]
    host_id: String,
}

#[derive(clap::Args)]
pub struct DeployArgs {
    #[command(flatten)]
    host: HostArgs,
    /// The Spin manifest whose variables the definitions use.
    #[arg(long, default_value = "spin.toml")]
    manifest: PathBuf,
    /// The workload definitions.
    #[arg(long, default_value = "wadm/host")]
    definitions: PathBuf,
    /// Where the component images are (`{{ oci_registry }}`), such as 127.0.0.1:5000/boxoffice.
    #[arg(long)]
    registry: String,
    /// The image tag (`{{ oci_tag }}`).
    #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
    tag: String,
    /// The prefix of each service's database name (`{{ database_prefix }}`).
    #[arg(long, default_value = "boxoffice_")]
    database_prefix: String,
    /// The host name the shop answers at (`{{ shop_host }}`).
    #[arg(long, default_value = "127.0.0.1")]
    shop_host: String,
    /// Where the development keys are kept (the broker's state dir, so that both sign
    /// and verify events with the same key).
    #[arg(long, default_value = ".boxoffice/wasmcloud")]
    state_dir: PathBuf,
    /// Make no development keys: every secret comes from SPIN_VARIABLE_*.
    #[arg(long)]
    production: bool,
}

pub fn run(command: WasmcloudCommand) -> anyhow::Result<()> {
    match command {
        WasmcloudCommand::Render {
            manifest,
            out,
            check,
        } => render_files(&manifest, &out, check),
        WasmcloudCommand::Deploy(args) => crate::runtime()?.block_on(deploy_all(args)),
        WasmcloudCommand::Undeploy { host, definitions } => {
            crate::runtime()?.block_on(undeploy_all(&host, &definitions))
        }
    }
}

fn render_files(manifest: &Path, out: &Path, check: bool) -> anyhow::Result<()> {
    let manifest = Manifest::load(manifest)?;
    let files = render::files(&manifest)?;
    boxoffice::generated::render_or_check(
        out,
        &files,
        &render::OWNED,
        check,
        "boxoffice wasmcloud render",
    )
}

async fn deploy_all(args: DeployArgs) -> anyhow::Result<()> {
    let manifest = Manifest::load(&args.manifest)?;
    std::fs::create_dir_all(&args.state_dir)?;
    let values = runtime::resolve_variables(&manifest, args.production, &args.state_dir, |k| {
        std::env::var(k).ok()
    })?
    .with(plan::REGISTRY, &args.registry)
    .with(plan::TAG, &args.tag)
    .with(plan::DATABASE_PREFIX, &args.database_prefix)
    .with(plan::SHOP_HOST, &args.shop_host);
    let definitions = deploy::definitions(&args.definitions)?;
    let host = Host::connect(&args.host.nats, &args.host.host_id).await?;
    let total = definitions.len();
    for (i, (path, definition)) in definitions.iter().enumerate() {
        let definition = deploy::expand(definition, &values)
            .map_err(|e| anyhow::anyhow!("{}: {e:#}", path.display()))?;
        let started = std::time::Instant::now();
        let id = host.start(&definition).await?;
        println!(
            "[{}/{total}] {id} running ({:.1}s)",
            i + 1,
            started.elapsed().as_secs_f64()
        );
    }
    println!(
        "boxoffice: {total} workloads running on host {}; the gateway answers for the host name {} on the host's --http-addr",
        args.host.host_id, args.shop_host
    );
    Ok(())
}

async fn undeploy_all(host_args: &HostArgs, dir: &Path) -> anyhow::Result<()> {
    let host = Host::connect(&host_args.nats, &host_args.host_id).await?;
    for (_, definition) in deploy::definitions(dir)? {
        if let Some(id) = definition["workloadId"].as_str() {
            host.stop(id).await?;
            println!("{id} stopped");
        }
    }
    Ok(())
}
