//! Starts the workload definitions of `wadm/host/` on a `wash host`.
//!
//! A `wash host` takes its workloads as JSON requests on NATS subjects
//! (`runtime.host.<host_id>.workload.start|stop`); no `wash` subcommand sends them. Each
//! definition's Spin templates are expanded first, with the app's variables (resolved as
//! `boxoffice up` resolves them: `SPIN_VARIABLE_*`, then `spin.toml` defaults, then the keys
//! kept in the state dir) and the deployment settings of [`super::plan::SETTINGS`].
//! A deploy can be repeated: a workload that runs the very definition it would start is
//! left alone (what was started is remembered in the state dir, [`Deployed`]), and any
//! other of the same id is stopped before it is started.

use std::collections::BTreeMap;
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

/// The state a host reports for a running workload.
const RUNNING: &str = "WORKLOAD_STATE_RUNNING";

/// The `workloadId` of a definition.
pub fn workload_id(definition: &Value) -> anyhow::Result<&str> {
    definition["workloadId"]
        .as_str()
        .context("a definition without workloadId")
}

/// The databases the workloads of `definitions` (expanded) name in their host-interface
/// config (`wasmcloud:postgres` takes its database from there), once each.
pub fn databases(definitions: &[Value]) -> Vec<String> {
    let mut names: Vec<String> = definitions
        .iter()
        .flat_map(|d| {
            d["workload"]["witWorld"]["hostInterfaces"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i["config"]["database"].as_str().map(str::to_owned))
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Creates each of `databases` that the Postgres server at `url` (an admin connection
/// string: a role that may create databases) does not have yet; returns those it made.
pub async fn create_databases(url: &str, databases: &[String]) -> anyhow::Result<Vec<String>> {
    let (client, connection) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_postgres::connect(url, tokio_postgres::NoTls),
    )
    .await
    .map_err(|_| anyhow::anyhow!("Postgres did not answer within 10s"))?
    .context("cannot connect to Postgres (--postgres)")?;
    tokio::spawn(connection);
    let mut made = Vec::new();
    for name in databases {
        // Names come from the definitions and a prefix: only plain identifiers reach SQL.
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            bail!("not a plain database name: {name:?} (lower-case letters, digits and _)");
        }
        let known = client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[name])
            .await?
            .is_some();
        if !known {
            client
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .await
                .with_context(|| format!("cannot create the database {name}"))?;
            made.push(name.clone());
        }
    }
    Ok(made)
}

/// What was last started on each host, remembered in `<state dir>/wasmcloud-deployed.json`:
/// host id → workload id → the SHA-256 of the expanded definition (a digest, since the
/// definitions carry the app's secrets).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Deployed(BTreeMap<String, BTreeMap<String, String>>);

impl Deployed {
    fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("wasmcloud-deployed.json")
    }

    /// What `state_dir` remembers; nothing if it remembers nothing (or cannot be read).
    pub fn load(state_dir: &Path) -> Deployed {
        std::fs::read(Self::path(state_dir))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Writes what is remembered to `state_dir`.
    pub fn save(&self, state_dir: &Path) -> anyhow::Result<()> {
        let path = Self::path(state_dir);
        std::fs::write(&path, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// The digest of an expanded definition.
    pub fn digest(definition: &Value) -> String {
        use sha2::Digest as _;
        let bytes = serde_json::to_vec(definition).expect("JSON values serialise");
        sha2::Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Whether `definition` is what was last started as workload `id` on host `host`.
    pub fn is(&self, host: &str, id: &str, definition: &Value) -> bool {
        self.0
            .get(host)
            .and_then(|workloads| workloads.get(id))
            .is_some_and(|digest| *digest == Self::digest(definition))
    }

    /// Remembers that `definition` was started as workload `id` on host `host`.
    pub fn set(&mut self, host: &str, id: &str, definition: &Value) {
        self.0
            .entry(host.to_owned())
            .or_default()
            .insert(id.to_owned(), Self::digest(definition));
    }

    /// Forgets workload `id` on host `host`.
    pub fn forget(&mut self, host: &str, id: &str) {
        if let Some(workloads) = self.0.get_mut(host) {
            workloads.remove(id);
        }
    }
}

/// A connection to a host's control subjects.
pub struct Host {
    client: async_nats::Client,
    id: String,
}

impl Host {
    /// Connects to the host `id` through the NATS server at `url`.
    pub async fn connect(url: &str, id: &str) -> anyhow::Result<Host> {
        // The client's own request deadline (10 s by default) would cut a start short
        // on a loaded machine, where compiling a workload takes longer: [`START_TIMEOUT`]
        // bounds each request instead.
        let options = async_nats::ConnectOptions::new().request_timeout(Some(START_TIMEOUT));
        let client = tokio::time::timeout(Duration::from_secs(10), options.connect(url))
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

    /// The host's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Stops workload `id`; one that is not running is no error.
    pub async fn stop(&self, id: &str) -> anyhow::Result<()> {
        self.request("stop", &json!({"workloadId": id})).await?;
        Ok(())
    }

    /// Whether workload `id` runs, and what the host says of it.
    pub async fn status(&self, id: &str) -> anyhow::Result<(bool, String)> {
        let answer = self.request("status", &json!({"workloadId": id})).await?;
        let status = &answer["workloadStatus"];
        let state = status["workloadState"].as_str().unwrap_or("unknown");
        let message = status["message"].as_str().unwrap_or_default();
        let said = match (state.strip_prefix("WORKLOAD_STATE_"), message) {
            (Some(state), "") => state.to_lowercase(),
            (Some(state), message) => format!("{}: {message}", state.to_lowercase()),
            (None, _) => format!("{answer}"),
        };
        Ok((state == RUNNING, said))
    }

    /// Starts `definition` (expanded), after stopping a workload of the same id; returns
    /// the id.
    pub async fn start(&self, definition: &Value) -> anyhow::Result<String> {
        let id = workload_id(definition)?.to_owned();
        self.stop(&id).await?;
        let answer = self.request("start", definition).await?;
        let status = &answer["workloadStatus"];
        if status["workloadState"] != RUNNING {
            bail!(
                "workload {id} did not start: {}",
                status["message"].as_str().unwrap_or("no reason given")
            );
        }
        Ok(id)
    }
}
