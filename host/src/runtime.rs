//! The loaded application: the wasmtime engine, each component compiled and
//! pre-instantiated once, and a fresh instance per request.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use boxoffice_telemetry::metrics::{self, Gauges};
use boxoffice_telemetry::traces;
use wasmtime::component::Linker;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::{WasiBody, WasiHttpView};

use crate::compile_cache::CompileCache;
use crate::key_value::{KeyValueCtx, KeyValueStores};
use crate::manifest::Manifest;
use crate::outbound_http::{AllowedHosts, ServiceChaining};
use crate::postgres::{PostgresCtx, PostgresPools};
use crate::router::Router;
use crate::runtime_config::RuntimeConfig;
use crate::secrets;
use crate::sqlite::{SqlDatabases, SqliteCtx};
use crate::state::{self, ComponentContext, InstanceState};
use crate::variables::{self, AppVariables};
use boxoffice_wire::signature::{signing_service, signing_variable, PublicKeys};

/// Linear memory allowed per instance (components hash passwords with argon2 at ~19 MiB).
pub const MAX_MEMORY_SIZE: usize = 128 << 20;

/// Instances that may exist at once, unless `BOXOFFICE_INSTANCES` says fewer.
const MAX_INSTANCES: u32 = 1000;

/// The fewest instances `BOXOFFICE_INSTANCES` may set.
const MIN_INSTANCES: u32 = 20;

/// Instances that may exist at once: `BOXOFFICE_INSTANCES` (for a small machine, or a
/// test of the pool under load), between [`MIN_INSTANCES`] and [`MAX_INSTANCES`].
pub fn instances() -> u32 {
    std::env::var("BOXOFFICE_INSTANCES")
        .ok()
        .and_then(|n| n.trim().parse::<u32>().ok())
        .map_or(MAX_INSTANCES, |n| n.clamp(MIN_INSTANCES, MAX_INSTANCES))
}

/// The deepest chain of calls the runtime runs: a request from the network is at depth
/// 0, a call it makes to another component (service chaining) at 1, a call that one makes
/// at 2 (the shop's deepest: the pages, the cart, shipping). Deeper is refused.
pub const MAX_CHAIN_DEPTH: usize = 2;

/// The turns of each depth out of `instances`: a few below the instances (a request
/// stopped at its timeout may give its turn back a moment before its instance's slot), a
/// fifth of them for each depth of chained calls, the rest for requests from the network.
/// A request at depth `d` waits only for a turn of depth `d`, and holds it while its
/// chained calls wait for turns of depth `d + 1`, which no one waiting for a turn of depth
/// `d` or less holds. So a thousand page requests at once cannot take every instance and
/// then wait on each other's chained calls (a deadlock that answered every route 503
/// until the timeout): the excess waits at the front door.
fn turns_by_depth(instances: u32) -> Vec<Arc<tokio::sync::Semaphore>> {
    let turns = instances as usize - 8;
    let chained = turns / 5;
    let front = turns - chained * MAX_CHAIN_DEPTH;
    std::iter::once(front)
        .chain(std::iter::repeat_n(chained, MAX_CHAIN_DEPTH))
        .map(|n| Arc::new(tokio::sync::Semaphore::new(n)))
        .collect()
}

/// Why a request got no answer from its component.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// A chained call deeper than [`MAX_CHAIN_DEPTH`]: a loop of calls, most likely.
    #[error("component `{component}` called at depth {depth}, deeper than {MAX_CHAIN_DEPTH}")]
    TooDeep {
        /// The component called.
        component: String,
        /// The depth of the call.
        depth: usize,
    },
    /// Every instance was in use for the whole request timeout: the runtime is overloaded.
    #[error("no instance of `{component}` became free within {} ms", .timeout.as_millis())]
    Busy {
        /// The component.
        component: String,
        /// The request timeout.
        timeout: Duration,
    },
    /// The component did not answer within the request timeout; its instance was stopped.
    #[error("component `{component}` did not answer within {} ms", .timeout.as_millis())]
    Timeout {
        /// The component.
        component: String,
        /// The request timeout.
        timeout: Duration,
    },
    /// The component trapped, failed to instantiate or returned no response.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

struct LoadedComponent {
    pre: ProxyPre<InstanceState>,
    ctx: Arc<ComponentContext>,
}

/// A running application.
pub struct App {
    engine: Engine,
    router: Router,
    components: HashMap<String, LoadedComponent>,
    request_timeout: Duration,
    /// Where a component's requests to `<id>.spin.internal` or `self` go.
    chaining: Arc<dyn ServiceChaining>,
    /// The Postgres pools and the SQLite databases, for their gauges.
    pools: Arc<PostgresPools>,
    sql: Arc<SqlDatabases>,
    /// Turns at an instance, by depth of call ([`turns_by_depth`]): a request past the
    /// pool's size waits for one instead of failing to instantiate (a 500 for 1,000 buyers
    /// at once on Postgres, before).
    turns: Vec<Arc<tokio::sync::Semaphore>>,
}

/// Builds the engine: async support, component model, and the pooling allocator sized
/// for [`instances`] concurrent instances of [`MAX_MEMORY_SIZE`] each.
pub fn engine() -> anyhow::Result<Engine> {
    let instances = instances();
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(instances)
        .total_core_instances(instances * 4)
        .total_memories(instances)
        .total_tables(instances * 4)
        .total_stacks(instances)
        .max_memory_size(MAX_MEMORY_SIZE)
        .max_component_instance_size(10 << 20)
        .max_core_instance_size(10 << 20)
        .max_unused_warm_slots(100.min(instances))
        .linear_memory_keep_resident(1 << 20)
        .table_keep_resident(1 << 16)
        // Reset only the pages an instance wrote, as the kernel's PAGEMAP_SCAN lists them
        // (Linux 6.7 and later; elsewhere the option does nothing): the plain route's CPU
        // time per request halved (0.13 to 0.06 ms), as memset and madvise of the whole
        // kept region dominated its profile.
        .pagemap_scan(wasmtime::Enabled::Auto)
        // Decommit in batches, so fewer madvise calls (and TLB shootdowns) per request.
        .decommit_batch_size(16);
    let mut config = Config::new();
    config.wasm_component_model(true);
    // `BOXOFFICE_PROFILER=perfmap` names the components' compiled functions for `perf`
    // (in /tmp/perf-<pid>.map), so that a profile shows guest code by name.
    if std::env::var("BOXOFFICE_PROFILER").as_deref() == Ok("perfmap") {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    // A guest that computes (a password hash, a loop) yields to the other requests at
    // every epoch tick instead of holding a runtime thread until it is done, and can be
    // stopped there by its request timeout (see [`tick_epochs`]).
    config.epoch_interruption(true);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let engine = match Engine::new(&config) {
        Ok(engine) => engine,
        Err(e) => {
            tracing::warn!("pooling allocator unavailable ({e}); allocating instances on demand");
            config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
            Engine::new(&config)?
        }
    };
    tick_epochs(&engine);
    Ok(engine)
}

/// How often a running guest yields to the runtime's other tasks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Advances `engine`'s epoch every [`EPOCH_TICK`] on a thread of its own, for as long as
/// the engine lives: each tick, a guest running on a runtime thread yields at its next
/// check (its store asks so, in `invoke`), so that two guests hashing passwords on a
/// 2-core machine no longer stall every other request, and a request's timeout (which
/// aborts its task) stops a guest that computes at the next tick, not when it is done.
fn tick_epochs(engine: &Engine) {
    let engine = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("no epoch ticker ({e}): a computing guest holds its thread until done");
    }
}

/// Resolves the app's variables. Outside production, a declared `jwt_key` or
/// `<service>_events_key` that the environment does not set gets the key kept for it under
/// `state_dir` (made on first use); in production it must be set. A declared
/// `events_public_keys` that the environment does not set is derived from the signing
/// keys; either way it must list each of them. `broker_host`, unless set, is the origin of
/// a `broker_url` the environment sets.
pub fn resolve_variables(
    manifest: &Manifest,
    production: bool,
    state_dir: &std::path::Path,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<AppVariables> {
    let mut fallbacks = HashMap::new();
    let jwt_env = variables::env_name(secrets::JWT_KEY);
    if !production && manifest.variables.contains_key(secrets::JWT_KEY) && env(&jwt_env).is_none() {
        let key = secrets::state_key(state_dir, secrets::JWT_KEY)?;
        tracing::info!(
            "{}: using the key kept in {} (set {jwt_env} to choose one; --production requires it)",
            secrets::JWT_KEY,
            secrets::key_file(state_dir, secrets::JWT_KEY).display()
        );
        fallbacks.insert(secrets::JWT_KEY.to_owned(), key);
    }
    let publishers: Vec<&str> = manifest
        .variables
        .keys()
        .filter_map(|name| signing_service(name))
        .collect();
    let unset = if production {
        secrets::Unset::Refuse
    } else {
        secrets::Unset::Keep(state_dir)
    };
    let signing = secrets::signing_keys(publishers.iter().copied(), unset, &env)?;
    if !production && !signing.is_empty() {
        tracing::info!(
            "event signing keys: those the environment does not set are kept in {} (--production requires them)",
            state_dir.display()
        );
    }
    for signer in &signing {
        fallbacks.insert(signing_variable(&signer.service), signer.seed.clone());
    }
    let public_env = variables::env_name(secrets::EVENTS_PUBLIC_KEYS);
    if manifest.variables.contains_key(secrets::EVENTS_PUBLIC_KEYS) && env(&public_env).is_none() {
        fallbacks.insert(
            secrets::EVENTS_PUBLIC_KEYS.to_owned(),
            secrets::public_keys(&signing).to_string(),
        );
    }
    // The broker's grant follows its URL unless set: a URL may carry a path (Knative's
    // does), which no allowed-hosts entry may.
    let broker_host_env = variables::env_name("broker_host");
    let broker_url_env = variables::env_name("broker_url");
    let env = |k: &str| {
        env(k).or_else(|| {
            (k == broker_host_env)
                .then(|| env(&broker_url_env).map(|url| crate::outbound_http::origin(&url)))
                .flatten()
        })
    };
    let variables = AppVariables::resolve(&manifest.variables, env, &fallbacks)?;
    if let Some(list) = variables.get(secrets::EVENTS_PUBLIC_KEYS) {
        let public = PublicKeys::parse(list).map_err(|e| anyhow::anyhow!("{e}"))?;
        secrets::check_public_keys(&public, &signing)?;
    }
    if production && manifest.variables.contains_key(secrets::JWT_KEY) {
        secrets::check_production_keys(
            secrets::JWT_KEY,
            variables.get(secrets::JWT_KEY).unwrap_or_default(),
        )?;
    }
    Ok(variables)
}

impl App {
    /// Compiles and pre-instantiates every component of `manifest`, opening the backends
    /// that `runtime_config` selects. Errors name the component and the cause on one line.
    pub fn load(
        engine: &Engine,
        manifest: &Manifest,
        variables: &AppVariables,
        runtime_config: &RuntimeConfig,
        chaining: impl FnOnce(Weak<App>) -> Arc<dyn ServiceChaining>,
    ) -> anyhow::Result<Arc<App>> {
        let timeouts = runtime_config.timeouts;
        let kv = Arc::new(
            KeyValueStores::open(&runtime_config.key_value_stores, timeouts.backend)
                .context("cannot open key-value stores")?,
        );
        let pools = Arc::new(PostgresPools::new(timeouts.backend, timeouts.request));
        let sql = Arc::new(
            SqlDatabases::open(&runtime_config.sqlite_databases)
                .context("cannot open sqlite databases")?,
        );

        let http_client = boxoffice_broker::dispatch::client();
        let mut linker = Linker::<InstanceState>::new(engine);
        state::add_to_linker(&mut linker)?;

        let router = Router::new(
            manifest
                .triggers
                .iter()
                .filter_map(|t| Some((t.route.as_deref()?, t.component.as_str()))),
        )?;

        let mut components = HashMap::new();
        let used: BTreeMap<&str, &crate::manifest::Component> = manifest
            .triggers
            .iter()
            .map(|t| (t.component.as_str(), &manifest.components[&t.component]))
            .collect();
        for (id, component) in used {
            for label in &component.key_value_stores {
                if !kv.is_defined(label) {
                    tracing::warn!(
                        "component `{id}` lists key-value store `{label}`, which is not configured"
                    );
                }
            }
            for label in &component.sqlite_databases {
                if !sql.is_defined(label) {
                    tracing::warn!(
                        "component `{id}` lists sqlite database `{label}`, which is not configured"
                    );
                }
            }
            let component_vars = variables
                .component_view(&component.variables)
                .with_context(|| format!("component `{id}`"))?;
            let allowed = component
                .allowed_outbound_hosts
                .iter()
                .map(|entry| variables.expand(entry))
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("component `{id}`: allowed_outbound_hosts"))?;
            let allowed = Arc::new(
                AllowedHosts::parse(allowed.iter().map(String::as_str))
                    .with_context(|| format!("component `{id}`"))?,
            );
            let pre = prepare(engine, &linker, id, &component.source)?;
            let id: Arc<str> = id.into();
            let ctx = Arc::new(ComponentContext {
                id: id.clone(),
                allowed_hosts: allowed.clone(),
                variables: component_vars,
                key_value: KeyValueCtx {
                    allowed: component.key_value_stores.clone(),
                    stores: kv.clone(),
                },
                sqlite: SqliteCtx {
                    allowed: component.sqlite_databases.clone(),
                    databases: sql.clone(),
                },
                postgres: PostgresCtx {
                    component: id.clone(),
                    allowed,
                    pools: pools.clone(),
                },
                http_client: http_client.clone(),
            });
            components.insert(id.to_string(), LoadedComponent { pre, ctx });
        }

        Ok(Arc::new_cyclic(|me| App {
            engine: engine.clone(),
            router,
            components,
            request_timeout: timeouts.request,
            chaining: chaining(me.clone()),
            pools,
            sql,
            turns: turns_by_depth(instances()),
        }))
    }

    /// What sets the app's gauges at a scrape: its connection pools.
    pub fn gauges(&self) -> Vec<Arc<dyn Gauges>> {
        vec![self.pools.clone(), self.sql.clone()]
    }

    /// The app's routes.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Whether the app has a component with this id.
    pub fn has_component(&self, id: &str) -> bool {
        self.components.contains_key(id)
    }

    /// Runs one request at chain `depth` (0 from the network) in a fresh instance of
    /// `component` and returns its response once the headers are set (the body may still
    /// be streaming). An error means the
    /// component trapped, or did not answer within the request timeout (its instance is
    /// then stopped), or no instance became free within it.
    pub async fn invoke(
        &self,
        component: &str,
        request: http::Request<WasiBody>,
        depth: usize,
    ) -> Result<http::Response<WasiBody>, InvokeError> {
        let loaded = self
            .components
            .get(component)
            .ok_or_else(|| anyhow!("no component `{component}`"))?;
        let turns = self.turns.get(depth).ok_or_else(|| InvokeError::TooDeep {
            component: component.to_owned(),
            depth,
        })?;
        let turn = tokio::time::timeout(self.request_timeout, turns.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or_else(|| InvokeError::Busy {
                component: component.to_owned(),
                timeout: self.request_timeout,
            })?;
        // The front door put the request's own span in `traceparent`.
        let trace = traces::parent(request.headers());
        let mut store = Store::new(
            &self.engine,
            InstanceState::new(loaded.ctx.clone(), self.chaining.clone(), trace, depth),
        );
        // Yield at every epoch tick (see [`tick_epochs`]).
        store.epoch_deadline_async_yield_and_update(1);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let req = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .map_err(anyhow::Error::from)?;
        let out = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(anyhow::Error::from)?;
        let pre = loaded.pre.clone();
        let id = loaded.ctx.id.clone();
        let task = tokio::spawn(async move {
            let in_use = metrics::instance_in_use(&id);
            let handled = async {
                let start = Instant::now();
                let proxy = pre.instantiate_async(&mut store).await?;
                metrics::instantiated(&id, start.elapsed());
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, req, out)
                    .await
            }
            .await;
            // The instance's slot is free once its store is gone; the turn goes after it.
            drop(store);
            drop(in_use);
            drop(turn);
            handled
        });
        let answer = match tokio::time::timeout(self.request_timeout, receiver).await {
            Ok(answer) => answer,
            Err(_) => {
                task.abort();
                return Err(InvokeError::Timeout {
                    component: component.to_owned(),
                    timeout: self.request_timeout,
                });
            }
        };
        match answer {
            Ok(Ok(response)) => {
                let component = component.to_owned();
                tokio::spawn(async move {
                    match task.await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::error!(
                            "component `{component}` failed after sending its response: {e:#}"
                        ),
                        Err(e) => tracing::error!("component `{component}` task failed: {e}"),
                    }
                });
                Ok(response)
            }
            Ok(Err(code)) => {
                Err(anyhow!("component `{component}` answered with error {code:?}").into())
            }
            Err(_) => Err(match task.await {
                Ok(Ok(())) => {
                    anyhow!("component `{component}` returned without setting a response")
                }
                Ok(Err(e)) => {
                    anyhow::Error::from(e).context(format!("component `{component}` trapped"))
                }
                Err(e) => anyhow::Error::from(e).context(format!("component `{component}`")),
            }
            .into()),
        }
    }
}

/// Compiles one component and checks that this runtime provides all its imports.
fn prepare(
    engine: &Engine,
    linker: &Linker<InstanceState>,
    id: &str,
    source: &std::path::Path,
) -> anyhow::Result<ProxyPre<InstanceState>> {
    // Compiled components are kept on disk (as Spin does), so restarts skip Cranelift.
    let component = CompileCache::from_env()
        .load(engine, source)
        .with_context(|| format!("component `{id}`: cannot load {}", source.display()))?;
    let instance_pre = match linker.instantiate_pre(&component) {
        Ok(pre) => pre,
        Err(e) => {
            let message = format!("{e:#}");
            let ty = component.component_type();
            let missing = ty
                .imports(engine)
                .map(|(name, _)| name)
                .find(|name| message.contains(&format!("`{name}`")));
            return Err(match missing {
                Some(name) => {
                    anyhow!("component `{id}` imports `{name}`, which boxoffice does not provide")
                }
                None => anyhow!("component `{id}` cannot be linked: {message}"),
            });
        }
    };
    ProxyPre::new(instance_pre)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("component `{id}` does not export wasi:http/incoming-handler@0.2"))
}

#[cfg(test)]
mod tests {

    #[test]
    fn every_depth_of_chained_calls_has_turns_of_its_own() {
        let permits = |instances| -> Vec<usize> {
            turns_by_depth(instances)
                .iter()
                .map(|t| t.available_permits())
                .collect()
        };
        assert_eq!(permits(1000), [596, 198, 198]);
        assert_eq!(permits(MIN_INSTANCES), [8, 2, 2]);
        assert_eq!(permits(1000).len(), MAX_CHAIN_DEPTH + 1);
    }

    use super::*;

    fn manifest() -> (tempfile::TempDir, Manifest) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spin.toml");
        std::fs::write(
            &path,
            "spin_manifest_version = 2\n[application]\nname = \"a\"\n[variables]\n\
             broker_url = { default = \"http://127.0.0.1:3001\" }\n\
             broker_host = { default = \"http://127.0.0.1:3001\" }\n",
        )
        .unwrap();
        let manifest = Manifest::load(&path).unwrap();
        (dir, manifest)
    }

    fn resolve(env: &[(&str, &str)]) -> AppVariables {
        let (dir, manifest) = manifest();
        resolve_variables(&manifest, true, dir.path(), |k| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        })
        .unwrap()
    }

    #[test]
    fn the_broker_grant_follows_the_broker_url_without_its_path() {
        let knative = "http://broker-ingress.knative-eventing.svc.cluster.local/shop/default";
        let v = resolve(&[("SPIN_VARIABLE_BROKER_URL", knative)]);
        assert_eq!(v.get("broker_url"), Some(knative));
        assert_eq!(
            v.get("broker_host"),
            Some("http://broker-ingress.knative-eventing.svc.cluster.local")
        );
        let v = resolve(&[
            ("SPIN_VARIABLE_BROKER_URL", knative),
            ("SPIN_VARIABLE_BROKER_HOST", "http://other:8080"),
        ]);
        assert_eq!(v.get("broker_host"), Some("http://other:8080"), "set wins");
        let v = resolve(&[]);
        assert_eq!(v.get("broker_host"), Some("http://127.0.0.1:3001"));
    }
}
