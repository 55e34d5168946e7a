//! The tables, in markdown: the flows of every server side by side, event propagation,
//! contention, the footprint, and the targets of issue 12 with what this run measured.

use std::time::Duration;

use crate::shop::{orders_at_target, Figures, Row, PLAIN_ROUTE};
use crate::Args;

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

/// This machine, in a line: cores, CPU model, memory.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    format!("{cores} cores ({model}), {memory_gib:.0} GiB; the load generator on the same cores")
}

pub fn print(args: &Args, figures: &[Figures]) {
    println!(
        "boxoffice bench: {} users, {} tickets, {} connections at the fixed concurrency{}",
        args.users,
        args.tickets,
        args.connections,
        if args.tiny {
            " (tiny: figures mean nothing)"
        } else {
            ""
        }
    );
    println!("{}", machine());
    flows(figures);
    events(figures);
    contention(figures);
    footprint(figures);
    targets(figures);
}

fn flows(figures: &[Figures]) {
    println!();
    println!("| Flow | Runs on | Highest rate with p95 < 5 ms | req/s | p50 ms | p99 ms | errors | server CPU ms/req |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    // Flow by flow, in the order first measured, every server's row together.
    let mut names: Vec<&str> = Vec::new();
    for row in figures.iter().flat_map(|f| &f.rows) {
        if !names.contains(&row.flow.as_str()) {
            names.push(&row.flow);
        }
    }
    for name in names {
        for row in figures
            .iter()
            .flat_map(|f| &f.rows)
            .filter(|row| row.flow == name)
        {
            let best = row
                .best_rate
                .map_or_else(|| "—".to_owned(), |rate| format!("{rate:.0}/s"));
            println!(
                "| {} | {} | {} | {:.0} | {} | {} | {} | {:.2} |",
                row.flow,
                row.runs_on,
                best,
                row.fixed.rate(),
                ms(row.fixed.quantile(0.5)),
                ms(row.fixed.quantile(0.99)),
                row.fixed.errors,
                row.cpu_ms
            );
        }
    }
}

fn events(figures: &[Figures]) {
    if figures.iter().all(|f| f.propagation.is_none()) {
        return;
    }
    println!();
    println!("| Event | Backends | samples | p50 ms | p99 ms | not seen within 5 s |");
    println!("|---|---|---:|---:|---:|---:|");
    for f in figures {
        let Some(travel) = &f.propagation else {
            continue;
        };
        println!(
            "| ticket:created → orderable | {} | {} | {} | {} | {} |",
            f.backend,
            travel.latencies.len() as u64 + travel.errors,
            ms(travel.quantile(0.5)),
            ms(travel.quantile(0.99)),
            travel.errors
        );
    }
}

fn contention(figures: &[Figures]) {
    if figures.iter().all(|f| f.contention.is_none()) {
        return;
    }
    println!();
    println!("| Contention | Backends | all decided in | 201 (ordered) | 400 (refused) | other | orders in the database | tickets reserved |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for f in figures {
        let Some(c) = &f.contention else { continue };
        let status = |s: u16| c.statuses.get(&s).copied().unwrap_or(0);
        // Any other answer, by status, and buyers who got no answer at all.
        let mut other: Vec<String> = c
            .statuses
            .iter()
            .filter(|(s, _)| **s != 201 && **s != 400)
            .map(|(s, n)| format!("{n} × {s}"))
            .collect();
        let unanswered = c.buyers.saturating_sub(c.statuses.values().sum());
        if unanswered > 0 {
            other.push(format!("{unanswered} unanswered"));
        }
        let other = if other.is_empty() {
            "0".to_owned()
        } else {
            other.join(", ")
        };
        println!(
            "| {} buyers at once for {} tickets | {} | {:.2} s | {} | {} | {} | {} | {} |",
            c.buyers,
            c.tickets,
            f.backend,
            c.decided.as_secs_f64(),
            status(201),
            status(400),
            other,
            c.orders,
            c.reserved
        );
    }
}

fn footprint(figures: &[Figures]) {
    let Some(fp) = figures.iter().find_map(|f| f.footprint.as_ref()) else {
        return;
    };
    println!();
    println!("| Footprint (embedded backends) | |");
    println!("|---|---:|");
    println!(
        "| runtime peak RSS, the flows | {:.0} MiB |",
        fp.peak_rss_flows_kib as f64 / 1024.0
    );
    println!(
        "| runtime peak RSS, with the contention run | {:.0} MiB |",
        fp.peak_rss_kib as f64 / 1024.0
    );
    if let Some(cost) = fp.wasm_cost_ms {
        println!(
            "| Wasm cost of a request (plain route CPU, boxoffice up less native) | {:.3} ms |",
            cost
        );
    }
    println!(
        "| `boxoffice up`, fresh state, warm module cache: to the first 200 | {:.2} s |",
        fp.cold_start.as_secs_f64()
    );
    println!(
        "| restart on the same state: to the first 200 | {:.2} s |",
        fp.restart.as_secs_f64()
    );
    for (name, bytes) in &fp.sizes {
        println!("| {name}.wasm | {:.0} KiB |", *bytes as f64 / 1024.0);
    }
}

/// A row of the embedded figures.
fn embedded_row<'a>(figures: &'a [Figures], flow: &str, runs_on: &str) -> Option<&'a Row> {
    figures
        .first()?
        .rows
        .iter()
        .find(|row| row.flow == flow && row.runs_on.starts_with(runs_on))
}

fn targets(figures: &[Figures]) {
    let Some(embedded) = figures.first() else {
        return;
    };
    println!();
    println!("| Target (issue 12) | Goal | This run | Met |");
    println!("|---|---|---:|---|");
    let line = |target: &str, goal: &str, value: Option<String>, met: Option<bool>| {
        println!(
            "| {target} | {goal} | {} | {} |",
            value.unwrap_or_else(|| "not measured".to_owned()),
            met.map_or("—", |met| if met { "yes" } else { "no" })
        );
    };
    let rate =
        |flow: &str, runs_on: &str| embedded_row(figures, flow, runs_on).map(|r| r.fixed.rate());
    let ratio = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a / b.max(1e-9));
    let plain = ratio(
        rate(PLAIN_ROUTE, "boxoffice up"),
        rate(PLAIN_ROUTE, "wasmtime serve"),
    );
    line(
        "plain route, boxoffice up ÷ wasmtime serve (req/s)",
        "≥ 1× (aim 1.5×)",
        plain.map(|r| format!("{r:.2}×")),
        plain.map(|r| r >= 1.0),
    );
    let listing = ratio(
        rate("GET /api/tickets", "boxoffice up"),
        rate("GET /api/tickets", "native"),
    );
    line(
        "GET /api/tickets, Wasm ÷ native (req/s)",
        "≥ 0.5×",
        listing.map(|r| format!("{r:.2}×")),
        listing.map(|r| r >= 0.5),
    );
    let orders = embedded_row(figures, &orders_at_target(), "boxoffice up")
        .map(|row| (row.fixed.quantile(0.99), row.fixed.errors));
    line(
        &format!("{} p99", orders_at_target()),
        "≤ 10 ms, no error",
        orders.map(|(p99, errors)| format!("{} ms, {errors} errors", ms(p99))),
        orders.map(|(p99, errors)| p99 <= Duration::from_millis(10) && errors == 0),
    );
    let travel = embedded.propagation.as_ref().map(|s| s.quantile(0.5));
    line(
        "event propagation p50, embedded broker",
        "≤ 5 ms",
        travel.map(|p50| format!("{} ms", ms(p50))),
        travel.map(|p50| p50 <= Duration::from_millis(5)),
    );
    let contended = embedded.contention.as_ref();
    line(
        "contention: all decided, one order per ticket, every other buyer a 400",
        "≤ 2 s",
        contended.map(|c| {
            format!(
                "{:.2} s, {} orders for {} tickets",
                c.decided.as_secs_f64(),
                c.orders,
                c.tickets
            )
        }),
        contended.map(|c| {
            let answered: u64 = c.statuses.values().sum();
            let clear = c.statuses.get(&201).copied().unwrap_or(0)
                + c.statuses.get(&400).copied().unwrap_or(0);
            c.decided <= Duration::from_secs(2)
                && c.orders == c.tickets as i64
                && answered == c.buyers
                && clear == c.buyers
        }),
    );
    let restart = embedded.footprint.as_ref().map(|fp| fp.restart);
    line(
        "restart to first 200",
        "≤ 1 s",
        restart.map(|d| format!("{:.2} s", d.as_secs_f64())),
        restart.map(|d| d <= Duration::from_secs(1)),
    );
}
