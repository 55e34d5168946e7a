//! Files the CLI renders from the app's own sources (`spin.toml`, `events.toml`) and the
//! repository commits: written by `render`, compared by `render --check` and the tests
//! that keep them current.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The header of every generated YAML file.
pub fn header(command: &str, source: &str) -> String {
    format!("# Generated from {source} by `{command}`: do not edit.\n")
}

/// `docs` as one YAML file (documents separated by `---`) under the generated header.
pub fn yaml_documents(
    command: &str,
    source: &str,
    docs: &[serde_json::Value],
) -> anyhow::Result<String> {
    let mut out = header(command, source);
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&serde_norway::to_string(doc)?);
    }
    Ok(out)
}

/// The files under `dir` that differ from `files` (paths relative to `dir`): changed,
/// missing, or left over in one of the `owned` folders, which hold generated files only.
pub fn stale(dir: &Path, files: &BTreeMap<PathBuf, String>, owned: &[&str]) -> Vec<PathBuf> {
    let mut stale: Vec<PathBuf> = files
        .iter()
        .filter(|(path, content)| {
            std::fs::read_to_string(dir.join(path)).ok().as_deref() != Some(content.as_str())
        })
        .map(|(path, _)| path.clone())
        .collect();
    for sub in owned {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = Path::new(sub).join(entry.file_name());
            if !files.contains_key(&path) {
                stale.push(path);
            }
        }
    }
    stale.sort();
    stale
}

/// Writes `files` under `dir`, removing what is left over in the `owned` folders; returns
/// how many files changed.
pub fn write(
    dir: &Path,
    files: &BTreeMap<PathBuf, String>,
    owned: &[&str],
) -> anyhow::Result<usize> {
    let changed = stale(dir, files, owned);
    for path in &changed {
        let full = dir.join(path);
        match files.get(path) {
            Some(content) => {
                if let Some(parent) = full.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create {}", parent.display()))?;
                }
                std::fs::write(&full, content)
                    .with_context(|| format!("cannot write {}", full.display()))?;
            }
            None => std::fs::remove_file(&full)
                .with_context(|| format!("cannot remove {}", full.display()))?,
        }
    }
    Ok(changed.len())
}

/// Renders into `out`, or with `check` only compares: an error names every stale file.
pub fn render_or_check(
    out: &Path,
    files: &BTreeMap<PathBuf, String>,
    owned: &[&str],
    check: bool,
    command: &str,
) -> anyhow::Result<()> {
    if check {
        let stale = stale(out, files, owned);
        if !stale.is_empty() {
            let list: Vec<String> = stale.iter().map(|p| p.display().to_string()).collect();
            anyhow::bail!(
                "{} is not what its sources render: {} (run `{command}`)",
                out.display(),
                list.join(", ")
            );
        }
        println!("{}: up to date ({} files)", out.display(), files.len());
        return Ok(());
    }
    let changed = write(out, files, owned)?;
    println!(
        "{}: {} files, {changed} changed",
        out.display(),
        files.len()
    );
    Ok(())
}
