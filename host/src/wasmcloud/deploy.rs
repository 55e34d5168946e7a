//! Starts the workload definitions of `wadm/host/` on a `wash host`.
//!
//! A `wash host` takes its workloads as JSON requests on NATS subjects
//! (`runtime.host.<host_id>.workload.start|stop`); no `wash` subcommand sends them. Each
//! definition's Spin templates are expanded first, with the app's variables (resolved as
//! `boxoffice up` resolves them: `SPIN_VARIABLE_*`, then `spin.toml` defaults, then the keys
//! kept in the state dir) and the deployment settings of [`super::plan::SETTINGS`].
//! A workload of the same id is stopped before it is started, so a deploy can be repeated.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::outbound_http::origin as allowed_host;
use crate::variables::AppVariables;

/// How long a host may take to pull, compile and start one workload.
pub const START_TIMEOUT: Duration = Duration::from_secs(120);

/// Expands the templates in every string of `definition`; `allowedHosts` entries become
/// `scheme://host[:port]`, as the host requires.
pub fn expand(definition: &Value, values: &AppVariables) -> anyhow::Result<Value> {
    fn walk(value: &Value, values: &AppVariables, allowed: bool) -> anyhow::Result<Value> {
        Ok(match value {
            Value::String(s) => {
                let expanded = values.expand(s)?;
                Value::String(if allowed {
                    allowed_host(&expanded)
                } else {
                    expanded
                })
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| walk(item, values, allowed))
                    .collect::<anyhow::Result<_>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), walk(v, values, k == "allowedHosts")?)))
                    .collect::<anyhow::Result<_>>()?,
            ),
            other => other.clone(),
        })
    }
    walk(definition, values, false)
}

/// The definitions in `dir` (`*.json`), by file name, the gateway's last: it starts
/// serving requests once the services it routes to are there.
pub fn definitions(dir: &Path) -> anyhow::Result<Vec<(PathBuf, Value)>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort_by_key(|p| {
        let gateway = p.file_stem().is_some_and(|s| s == super::plan::GATEWAY);
        (gateway, p.clone())
    });
    if paths.is_empty() {
        bail!(
            "no workload definitions in {} (run `boxoffice wasmcloud render`)",
            dir.display()
        );
    }
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            Ok((path, value))
        })
        .collect()
}

/// A connection to a host's control subjects.
pub struct Host {
    client: async_nats::Client,
    id: String,
}

impl Host {
    /// Connects to the host `id` through the NATS server at `url`.
    pub async fn connect(url: &str, id: &str) -> anyhow::Result<Host> {
        let client = tokio::time::timeout(Duration::from_secs(10), async_nats::connect(url))
            .await
            .map_err(|_| anyhow::anyhow!("NATS at {url} did not answer within 10s"))?
            // The client's error repeats its cause in its text: keep one of them.
            .map_err(|e| anyhow::anyhow!("cannot connect to NATS at {url}: {e}"))?;
        Ok(Host {
            client,
            id: id.to_owned(),
        })
    }

    async fn request(&self, verb: &str, payload: &Value) -> anyhow::Result<Value> {
        let subject = format!("runtime.host.{}.workload.{verb}", self.id);
        let reply = tokio::time::timeout(
            START_TIMEOUT,
            self.client
                .request(subject.clone(), serde_json::to_vec(payload)?.into()),
        )
        .await
        .map_err(|_| anyhow::anyhow!("{subject}: no answer within {START_TIMEOUT:?}"))?
        .map_err(|e| match e.kind() {
            async_nats::client::RequestErrorKind::NoResponders => anyhow::anyhow!(
                "no wash host with id {} takes workloads on this NATS server \
                 (a host logs host_id=\"…\" when it starts)",
                self.id
            ),
            _ => anyhow::anyhow!("{subject}: {e}"),
        })?;
        serde_json::from_slice(&reply.payload)
            .with_context(|| format!("{subject}: the answer is not JSON"))
    }

    /// Stops workload `id`; one that is not running is no error.
    pub async fn stop(&self, id: &str) -> anyhow::Result<()> {
        self.request("stop", &json!({"workloadId": id})).await?;
        Ok(())
    }

    /// Starts `definition` (expanded), after stopping a workload of the same id; returns
    /// the id.
    pub async fn start(&self, definition: &Value) -> anyhow::Result<String> {
        let id = definition["workloadId"]
            .as_str()
            .context("a definition without workloadId")?
            .to_owned();
        self.stop(&id).await?;
        let answer = self.request("start", definition).await?;
        let status = &answer["workloadStatus"];
        if status["workloadState"] != "WORKLOAD_STATE_RUNNING" {
            bail!(
                "workload {id} did not start: {}",
                status["message"].as_str().unwrap_or("no reason given")
            );
        }
        Ok(id)
    }
}
