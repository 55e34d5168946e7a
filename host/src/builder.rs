//! Building components as `spin build` does: each component's `build.command` runs in its
//! `workdir` (default: the manifest's directory). `up` builds only what is stale: a
//! missing `.wasm`, or one older than a file matched by the component's `watch` globs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use indicatif::{ProgressBar, ProgressStyle};

use crate::manifest::{Component, Manifest};

/// The Rust target the components are built for.
pub const WASM_TARGET: &str = "wasm32-wasip2";

/// Why a build could not be done.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The command could not be started.
    #[error("cannot run build command of component `{component}` (`{command}`): {source}")]
    Spawn {
        /// The component.
        component: String,
        /// The command.
        command: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The command ran and failed.
    #[error("build of component `{component}` failed ({status})")]
    Failed {
        /// The component.
        component: String,
        /// How it exited.
        status: std::process::ExitStatus,
    },
    /// The component has no `.wasm` and no way to build one.
    #[error("component `{component}`: source {} does not exist and there is no build command", source_path.display())]
    NoSource {
        /// The component.
        component: String,
        /// The missing file.
        source_path: PathBuf,
    },
    /// The build succeeded but left no `.wasm` where `source` points.
    #[error("component `{component}`: build succeeded but {} does not exist", source_path.display())]
    MissingAfterBuild {
        /// The component.
        component: String,
        /// The missing file.
        source_path: PathBuf,
    },
    /// A `watch` glob is malformed.
    #[error("component `{component}`: invalid watch pattern `{pattern}`: {message}")]
    BadWatch {
        /// The component.
        component: String,
        /// The glob.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
}

/// Whether `component` needs a build before it can run: its `.wasm` is missing, or a file
/// matched by its `watch` globs (relative to the build `workdir`) is newer.
pub fn is_stale(component: &Component) -> Result<bool, BuildError> {
    let Ok(built) = std::fs::metadata(&component.source).and_then(|m| m.modified()) else {
        return Ok(true);
    };
    let Some(build) = &component.build else {
        return Ok(false);
    };
    for pattern in &build.watch {
        let full = build.workdir.join(pattern);
        let paths = glob::glob(&full.to_string_lossy()).map_err(|e| BuildError::BadWatch {
            component: component.id.clone(),
            pattern: pattern.clone(),
            message: e.msg.to_owned(),
        })?;
        for path in paths.flatten() {
            if modified(&path).is_some_and(|m| m > built) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Adds the `wasm32-wasip2` target through rustup if it is not installed. Without rustup
/// nothing is done: the build itself will say what is missing.
pub fn ensure_wasm_target() {
    let Ok(out) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
    else {
        tracing::debug!("rustup not found; not checking for the {WASM_TARGET} target");
        return;
    };
    if String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == WASM_TARGET)
    {
        return;
    }
    eprintln!("Adding the {WASM_TARGET} Rust target (rustup target add {WASM_TARGET})");
    match Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .status()
    {
        Ok(status) if status.success() => {}
        Ok(status) => tracing::warn!("rustup target add {WASM_TARGET} failed ({status})"),
        Err(e) => tracing::warn!("rustup target add {WASM_TARGET} failed: {e}"),
    }
}

/// Builds the components of `manifest` for which `select` is true, one after another,
/// showing progress on stderr. Stops at the first failure, after printing its output.
pub fn build(manifest: &Manifest, select: impl Fn(&Component) -> bool) -> Result<(), BuildError> {
    let selected: Vec<&Component> = manifest.components.values().filter(|c| select(c)).collect();
    for component in &selected {
        if component.build.is_none() && !component.source.exists() {
            return Err(BuildError::NoSource {
                component: component.id.clone(),
                source_path: component.source.clone(),
            });
        }
    }
    let buildable: Vec<&Component> = selected.into_iter().filter(|c| c.build.is_some()).collect();
    if buildable.is_empty() {
        eprintln!("Nothing to build: all components are up to date");
        return Ok(());
    }
    ensure_wasm_target();
    let start = Instant::now();
    for component in &buildable {
        build_one(component)?;
    }
    eprintln!(
        "Finished building {} component{} in {}",
        buildable.len(),
        if buildable.len() == 1 { "" } else { "s" },
        seconds(start.elapsed())
    );
    Ok(())
}

fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

fn build_one(component: &Component) -> Result<(), BuildError> {
    let build = component.build.as_ref().expect("only buildable components");
    let spinner = ProgressBar::new_spinner();
    spinner.set_style(
        ProgressStyle::with_template("{spinner:.cyan} Building {prefix:.bold} [{elapsed}] {msg}")
            .expect("valid template"),
    );
    spinner.set_prefix(component.id.clone());
    spinner.set_message(build.command.clone());
    spinner.enable_steady_tick(Duration::from_millis(100));
    if spinner.is_hidden() {
        eprintln!(
            "Building component {} with `{}`",
            component.id, build.command
        );
    }
    let start = Instant::now();
    let output = Command::new("sh")
        .arg("-c")
        .arg(&build.command)
        .current_dir(&build.workdir)
        .output();
    spinner.finish_and_clear();
    let output = output.map_err(|source| BuildError::Spawn {
        component: component.id.clone(),
        command: build.command.clone(),
        source,
    })?;
    if !output.status.success() {
        eprintln!(
            "✗ {} failed after {}",
            component.id,
            seconds(start.elapsed())
        );
        eprint!("{}", String::from_utf8_lossy(&output.stdout));
        eprint!("{}", String::from_utf8_lossy(&output.stderr));
        return Err(BuildError::Failed {
            component: component.id.clone(),
            status: output.status,
        });
    }
    if !component.source.exists() {
        return Err(BuildError::MissingAfterBuild {
            component: component.id.clone(),
            source_path: component.source.clone(),
        });
    }
    eprintln!("✓ {} built in {}", component.id, seconds(start.elapsed()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::BuildConfig;

    fn component(dir: &Path, watch: &[&str]) -> Component {
        Component {
            id: "c".into(),
            source: dir.join("out.wasm"),
            variables: Default::default(),
            key_value_stores: vec![],
            sqlite_databases: vec![],
            allowed_outbound_hosts: vec![],
            build: Some(BuildConfig {
                command: "printf built > out.wasm".into(),
                workdir: dir.to_owned(),
                watch: watch.iter().map(|s| s.to_string()).collect(),
            }),
        }
    }

    fn set_mtime(path: &Path, t: SystemTime) {
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }

    #[test]
    fn missing_wasm_is_stale_and_watch_decides_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let c = component(dir.path(), &["src/**/*.rs"]);
        assert!(is_stale(&c).unwrap());

        std::fs::create_dir_all(dir.path().join("src/a")).unwrap();
        let src = dir.path().join("src/a/lib.rs");
        std::fs::write(&src, "").unwrap();
        std::fs::write(&c.source, "").unwrap();
        let now = SystemTime::now();
        set_mtime(&src, now - Duration::from_secs(60));
        set_mtime(&c.source, now);
        assert!(!is_stale(&c).unwrap());

        set_mtime(&src, now + Duration::from_secs(60));
        assert!(is_stale(&c).unwrap());
    }

    #[test]
    fn build_runs_the_command_in_its_workdir() {
        let dir = tempfile::tempdir().unwrap();
        let c = component(dir.path(), &[]);
        build_one(&c).unwrap();
        assert_eq!(std::fs::read_to_string(&c.source).unwrap(), "built");
    }

    #[test]
    fn failed_and_empty_builds_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = component(dir.path(), &[]);
        c.build.as_mut().unwrap().command = "echo broken >&2; exit 3".into();
        assert!(matches!(build_one(&c), Err(BuildError::Failed { .. })));
        c.build.as_mut().unwrap().command = "true".into();
        assert!(matches!(
            build_one(&c),
            Err(BuildError::MissingAfterBuild { .. })
        ));
    }
}
