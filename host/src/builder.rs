//! Building components as `spin build` does: each component's `build.command` runs in its
//! `workdir` (default: the manifest's directory), but that the `cargo build` commands of
//! several components run as one ([`steps`]). `up` builds only what is stale: a missing
//! `.wasm`, or one older than a file matched by the component's `watch` globs.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
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

/// One command of a build: it builds `components`, running `command` in `workdir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step<'a> {
    /// The components it builds.
    pub components: Vec<&'a Component>,
    /// The shell command.
    pub command: String,
    /// Where it runs.
    pub workdir: PathBuf,
}

impl Step<'_> {
    fn names(&self) -> String {
        let ids: Vec<&str> = self.components.iter().map(|c| c.id.as_str()).collect();
        ids.join(", ")
    }
}

/// The commands that build `components`, in their order. Commands that are the same
/// `cargo build` but for the packages they name (`-p NAME`, `--package NAME`), in the same
/// workdir, become one cargo invocation naming every package: cargo then builds the
/// dependencies they share once and keeps both cores busy, where one invocation after
/// another waits for each component's last, single-threaded steps (docs/performance.md,
/// "A newcomer's wait"). Any other command runs as written, as `spin build` runs it.
pub fn steps<'a>(components: &[&'a Component]) -> Vec<Step<'a>> {
    let mut steps: Vec<Step<'a>> = Vec::new();
    // Per merged step (by index): the command without its packages, and the packages.
    let mut merged: Vec<Option<(String, Vec<String>)>> = Vec::new();
    for component in components {
        let Some(build) = &component.build else {
            continue;
        };
        if let Some((rest, package)) = cargo_build_of_one_package(&build.command) {
            let same = merged
                .iter()
                .position(|m| m.as_ref().is_some_and(|(r, _)| *r == rest));
            if let Some(i) = same.filter(|&i| steps[i].workdir == build.workdir) {
                let (rest, packages) = merged[i].as_mut().expect("a merged step");
                packages.push(package);
                steps[i].command = with_packages(rest, packages);
                steps[i].components.push(component);
                continue;
            }
            merged.push(Some((rest.clone(), vec![package.clone()])));
        } else {
            merged.push(None);
        }
        steps.push(Step {
            components: vec![component],
            command: build.command.clone(),
            workdir: build.workdir.clone(),
        });
    }
    steps
}

/// `cargo build ARGS -p NAME` as (`cargo build ARGS`, NAME), when the command is plain
/// words (nothing the shell would interpret) and names exactly one package.
fn cargo_build_of_one_package(command: &str) -> Option<(String, String)> {
    let plain = |word: &str| {
        word.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:+,@".contains(c))
    };
    let words: Vec<&str> = command.split_whitespace().collect();
    if words.len() < 2 || words[..2] != ["cargo", "build"] || !words.iter().all(|w| plain(w)) {
        return None;
    }
    let mut rest = Vec::new();
    let mut packages = Vec::new();
    let mut words = words.into_iter();
    while let Some(word) = words.next() {
        match word {
            "-p" | "--package" => packages.push(words.next()?),
            _ => match word.strip_prefix("--package=") {
                Some(package) => packages.push(package),
                None => rest.push(word),
            },
        }
    }
    match packages[..] {
        [package] => Some((rest.join(" "), package.to_owned())),
        _ => None,
    }
}

fn with_packages(command: &str, packages: &[String]) -> String {
    let mut out = command.to_owned();
    for package in packages {
        out.push_str(" -p ");
        out.push_str(package);
    }
    out
}

/// Builds the components of `manifest` for which `select` is true ([`steps`]), showing
/// progress on stderr. Stops at the first failure, after printing its output.
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
    let steps = steps(&selected);
    if steps.is_empty() {
        eprintln!("Nothing to build: all components are up to date");
        return Ok(());
    }
    ensure_wasm_target();
    let start = Instant::now();
    for step in &steps {
        run(step)?;
    }
    let built: usize = steps.iter().map(|s| s.components.len()).sum();
    eprintln!(
        "Finished building {built} component{} in {}",
        if built == 1 { "" } else { "s" },
        seconds(start.elapsed())
    );
    Ok(())
}

fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// Runs one step, its last line of output (cargo's `Compiling ...`) as the spinner's
/// message, so that a long first build shows what it is doing.
fn run(step: &Step) -> Result<(), BuildError> {
    let names = step.names();
    let spinner = ProgressBar::new_spinner();
    spinner.set_style(
        ProgressStyle::with_template("{spinner:.cyan} Building {prefix:.bold} [{elapsed}] {msg}")
            .expect("valid template"),
    );
    spinner.set_prefix(names.clone());
    spinner.set_message(step.command.clone());
    spinner.enable_steady_tick(Duration::from_millis(100));
    if spinner.is_hidden() {
        eprintln!("Building {names} with `{}`", step.command);
    }
    let start = Instant::now();
    let failed = |source| BuildError::Spawn {
        component: names.clone(),
        command: step.command.clone(),
        source,
    };
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&step.command)
        .current_dir(&step.workdir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(failed)?;
    let mut stdout = child.stdout.take().expect("piped");
    let stdout = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let mut stderr = String::new();
    for line in BufReader::new(child.stderr.take().expect("piped")).lines() {
        let Ok(line) = line else { break };
        spinner.set_message(line.trim().to_owned());
        stderr.push_str(&line);
        stderr.push('\n');
    }
    let status = child.wait().map_err(failed)?;
    let stdout = stdout.join().unwrap_or_default();
    spinner.finish_and_clear();
    if !status.success() {
        eprintln!("✗ {names} failed after {}", seconds(start.elapsed()));
        eprint!("{stdout}");
        eprint!("{stderr}");
        return Err(BuildError::Failed {
            component: names,
            status,
        });
    }
    for component in &step.components {
        if !component.source.exists() {
            return Err(BuildError::MissingAfterBuild {
                component: component.id.clone(),
                source_path: component.source.clone(),
            });
        }
    }
    eprintln!("✓ {names} built in {}", seconds(start.elapsed()));
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
        run(&steps(&[&c])[0]).unwrap();
        assert_eq!(std::fs::read_to_string(&c.source).unwrap(), "built");
    }

    #[test]
    fn failed_and_empty_builds_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = component(dir.path(), &[]);
        c.build.as_mut().unwrap().command = "echo broken >&2; exit 3".into();
        assert!(matches!(
            run(&steps(&[&c])[0]),
            Err(BuildError::Failed { .. })
        ));
        c.build.as_mut().unwrap().command = "true".into();
        assert!(matches!(
            run(&steps(&[&c])[0]),
            Err(BuildError::MissingAfterBuild { .. })
        ));
    }

    fn with_command(id: &str, dir: &Path, command: &str) -> Component {
        let mut c = component(dir, &[]);
        c.id = id.into();
        c.build.as_mut().unwrap().command = command.into();
        c
    }

    #[test]
    fn cargo_builds_of_one_package_each_run_as_one_build() {
        let dir = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let wasm = "cargo build --target wasm32-wasip2 --release";
        let a = with_command("a", dir.path(), &format!("{wasm} -p a"));
        let b = with_command("b", dir.path(), &format!("{wasm} --package=b"));
        let shell = with_command("s", dir.path(), "make && cp s.wasm out.wasm");
        let c = with_command("c", dir.path(), &format!("{wasm} --package c"));
        let debug = with_command("d", dir.path(), "cargo build --target wasm32-wasip2 -p d");
        let elsewhere = with_command("e", other.path(), &format!("{wasm} -p e"));
        let two = with_command("t", dir.path(), &format!("{wasm} -p t -p u"));
        let steps = steps(&[&a, &b, &shell, &c, &debug, &elsewhere, &two]);
        let shown: Vec<(Vec<&str>, &str)> = steps
            .iter()
            .map(|s| {
                let ids = s.components.iter().map(|c| c.id.as_str()).collect();
                (ids, s.command.as_str())
            })
            .collect();
        let merged = format!("{wasm} -p a -p b -p c");
        let elsewhere = format!("{wasm} -p e");
        let two = format!("{wasm} -p t -p u");
        assert_eq!(
            shown,
            [
                (vec!["a", "b", "c"], merged.as_str()),
                (vec!["s"], "make && cp s.wasm out.wasm"),
                (vec!["d"], "cargo build --target wasm32-wasip2 -p d"),
                (vec!["e"], elsewhere.as_str()),
                (vec!["t"], two.as_str()),
            ]
        );
    }
}
