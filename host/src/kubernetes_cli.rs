//! `boxoffice kubernetes`: render the Knative Eventing manifests of `k8s/base` from
//! `events.toml` (see the library's `kubernetes` module).

use std::path::PathBuf;

use clap::Subcommand;

use boxoffice::broker::subscriptions::Subscriptions;
use boxoffice::kubernetes;

#[derive(Subcommand)]
pub enum KubernetesCommand {
    /// Write k8s/base/eventing from events.toml: the Broker, a Trigger per subscription,
    /// the tick's PingSource.
    Render {
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
        KubernetesCommand::Render { events, out, check } => {
            let subscriptions = Subscriptions::load(&events)?;
            let files = kubernetes::files(&subscriptions)?;
            boxoffice::generated::render_or_check(
                &out,
                &files,
                &kubernetes::OWNED,
                check,
                "boxoffice kubernetes render",
            )
        }
    }
}
