//! What the shop costs besides time per request: the runtime's peak memory, each
//! component's size, the Wasm cost of one request, and how long `boxoffice up` takes to its
//! first 200, started fresh and restarted on its state.

use std::time::{Duration, Instant};

use boxoffice_testkit::{self as support, Shop, ShopOptions};

/// How long a start may take before the bench gives up.
const START_LIMIT: Duration = Duration::from_secs(60);

pub struct Footprint {
    /// The runtime's peak resident memory (`VmHWM`), KiB, after the flows.
    pub peak_rss_flows_kib: u64,
    /// The same after the contention run too (a thousand instances at once).
    pub peak_rss_kib: u64,
    /// Each component of spin.toml and its `.wasm` size in bytes.
    pub sizes: Vec<(String, u64)>,
    /// The plain route's CPU time per request on `boxoffice up` less the native
    /// baseline's: what an instance per request and the runtime's HTTP cost, in ms.
    pub wasm_cost_ms: Option<f64>,
    /// `boxoffice up` on a fresh state dir, with a warm module cache, to the first 200 of
    /// GET /api/tickets.
    pub cold_start: Duration,
    /// `boxoffice up` again on the state of a killed runtime, to the first 200.
    pub restart: Duration,
}

/// Measures the footprint of `shop` (embedded), which it stops; `variables` start the
/// shops it starts after it.
pub fn measure(
    shop: Shop,
    variables: &[(String, String)],
    peak_rss_flows_kib: u64,
    wasm_cost_ms: Option<f64>,
) -> anyhow::Result<Footprint> {
    eprintln!("bench: footprint");
    let peak_rss_kib = peak_rss_kib(shop.runtime().pid());
    let kept = shop.kill_keeping_state();
    let started = Instant::now();
    let again = kept.restart_with(variables.to_vec());
    first_200(&again)?;
    let restart = started.elapsed();
    drop(again);
    let started = Instant::now();
    let fresh = Shop::start_with(ShopOptions {
        variables: variables.to_vec(),
        ..ShopOptions::default()
    });
    first_200(&fresh)?;
    let cold_start = started.elapsed();
    Ok(Footprint {
        peak_rss_flows_kib,
        peak_rss_kib,
        sizes: sizes()?,
        wasm_cost_ms,
        cold_start,
        restart,
    })
}

/// Waits for GET /api/tickets to answer 200.
fn first_200(shop: &Shop) -> anyhow::Result<()> {
    let started = Instant::now();
    let url = shop.url("/api/tickets");
    loop {
        if support::try_send("GET", &url, &[], None).is_ok_and(|resp| resp.status == 200) {
            return Ok(());
        }
        anyhow::ensure!(started.elapsed() < START_LIMIT, "no 200 from {url}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The components of spin.toml and the sizes of their built `.wasm` files.
fn sizes() -> anyhow::Result<Vec<(String, u64)>> {
    let root = support::workspace_root();
    let manifest: toml::Table = std::fs::read_to_string(root.join("spin.toml"))?.parse()?;
    let components = manifest
        .get("component")
        .and_then(toml::Value::as_table)
        .ok_or_else(|| anyhow::anyhow!("spin.toml has no components"))?;
    components
        .iter()
        .filter_map(|(name, component)| {
            let source = component.get("source")?.as_str()?;
            Some((name.clone(), root.join(source)))
        })
        .map(|(name, path)| Ok((name, std::fs::metadata(&path)?.len())))
        .collect()
}

/// The peak resident memory of process `pid` (`VmHWM`), in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The CPU time (user + system) process `pid` has used, in seconds (at Linux's 100 clock
/// ticks a second).
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
