//! What the browser tests (tests/browser.rs) and `scripts/screenshots` need: Debian's
//! Chromium, Node, and the npm packages of `tests/browser/` that `scripts/setup` installs.

use std::path::PathBuf;
use std::process::Command;

/// The scenarios and their npm packages.
pub fn dir() -> PathBuf {
    crate::workspace_root().join("tests/browser")
}

/// The Chromium the scenarios drive: `CHROMIUM`, or Debian's.
pub fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// Why the browser tests cannot run here, if they cannot.
pub fn missing() -> Option<String> {
    if !chromium().exists() {
        return Some(format!(
            "{} is not installed (scripts/setup installs it)",
            chromium().display()
        ));
    }
    if !dir().join("node_modules/playwright-core").exists() {
        return Some("tests/browser/node_modules is missing (scripts/setup runs npm ci)".into());
    }
    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => None,
        _ => Some("node is not installed (scripts/setup installs it)".into()),
    }
}
