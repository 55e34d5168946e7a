//! `boxoffice kubernetes`: render the Knative Eventing manifests of `k8s/base` from
//! `events.toml`, and hold its SpinApps to Spin's check of selective deployments (see the
//! library's `kubernetes` module).

use std::path::PathBuf;

use clap::Subcommand;

use boxoffice::broker::subscriptions::Subscriptions;
use boxoffice::kubernetes;
use boxoffice::manifest::Manifest;

#[derive(Subcommand)]
pub enum KubernetesCommand {
    /// Write k8s/base/eventing from events.toml: the Broker, a Trigger per subscription,
    /// the tick's PingSource. Then check every SpinApp under the base as Spin checks a
    /// selective deployment: no retained component chains to one left out.
    Render {
        /// The app whose components the SpinApps deploy.
        #[arg(long, default_value = "spin.toml")]
        manifest: PathBuf,
        /// The event subscriptions.
        #[arg(long, default_value = "events.toml")]
        events: PathBuf,
        /// The kustomize base the files go under.
        #[arg(long, default_value = "k8s/base")]
        out: PathBuf,
        /// Write nothing; fail if a file is not what events.toml renders.
        #[arg(long)]
        check: bool,
    },
}

pub fn run(command: KubernetesCommand) -> anyhow::Result<()> {
    match command {
        KubernetesCommand::Render {
            manifest,
            events,
            out,
            check,
        } => {
            let subscriptions = Subscriptions::load(&events)?;
            let files = kubernetes::files(&subscriptions)?;
            boxoffice::generated::render_or_check(
                &out,
                &files,
                &kubernetes::OWNED,
                check,
                "boxoffice kubernetes render",
            )?;
            let manifest = Manifest::load(&manifest)?;
            kubernetes::check_spin_apps(&manifest, &out)
        }
    }
}
