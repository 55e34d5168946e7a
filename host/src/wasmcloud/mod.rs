//! boxoffice on wasmCloud 2: the same service components, run by a `wash` host.
//!
//! A wasmCloud 2.10 host provides no `fermyon:spin/*` interface and routes HTTP by `Host`
//! header only. So every service that imports Spin's interfaces runs beside the
//! `wasmcloud-adapter` component in its workload (the host links the service's imports to
//! the adapter's exports), and one `gateway` workload bound to the shop's host name routes
//! paths to the services with Spin's rules. Events travel through `boxoffice broker` as
//! everywhere else: the services POST to its ingress, and it delivers to the gateway.
//!
//! - [`plan`]: the workloads, derived from `spin.toml` alone (one source of truth).
//! - [`render`]: the files under `wadm/`: the definitions a local `wash host` takes, the
//!   Kubernetes `WorkloadDeployment`s, and a wadm application for wasmCloud 1.x.
//! - [`deploy`]: starts the definitions on a `wash host` over its NATS control subjects.

pub mod deploy;
pub mod plan;
pub mod render;
