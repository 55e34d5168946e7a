//! Compiled components kept on disk, so that a restart skips Cranelift (as Spin does).
//!
//! One file per component and engine, `<dir>/<sha256 of the .wasm>-<engine>.cwasm`, where
//! `<engine>` digests what makes compiled code usable by an engine (wasmtime's version and
//! the engine's settings: `Engine::precompile_compatibility_hash`). The directory is
//! `BOXOFFICE_CACHE_DIR`, else `$XDG_CACHE_HOME/boxoffice`, else `~/.cache/boxoffice`.
//! Files not used for a week are removed when a new one is written.
//!
//! This replaces wasmtime's own cache (its `cache` feature), which compresses with zstd: the
//! C build of zstd alone was 35 s of CPU in a fresh machine's start (docs/performance.md).

use std::hash::{Hash as _, Hasher as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use sha2::Digest as _;
use wasmtime::component::Component;
use wasmtime::Engine;

/// How long an unused compiled component is kept.
const KEEP_UNUSED: Duration = Duration::from_secs(7 * 24 * 3600);

/// Where compiled components are kept, if anywhere.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: Option<PathBuf>,
}

impl CompileCache {
    /// The cache in `dir`.
    pub fn in_dir(dir: impl Into<PathBuf>) -> CompileCache {
        CompileCache {
            dir: Some(dir.into()),
        }
    }

    /// The cache the environment names (see the module's documentation); none when no
    /// directory can be named (no `HOME`).
    pub fn from_env() -> CompileCache {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let dir = var("BOXOFFICE_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| var("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("boxoffice")))
            .or_else(|| var("HOME").map(|d| PathBuf::from(d).join(".cache/boxoffice")));
        CompileCache { dir }
    }

    /// The component in `source`, compiled for `engine`: from the cache when it holds it,
    /// else compiled and kept. A cache that cannot be read or written only costs time.
    pub fn load(&self, engine: &Engine, source: &Path) -> anyhow::Result<Component> {
        let wasm =
            std::fs::read(source).with_context(|| format!("cannot read {}", source.display()))?;
        let Some(dir) = &self.dir else {
            return Component::new(engine, &wasm).map_err(anyhow::Error::from);
        };
        let path = dir.join(file_name(engine, &wasm));
        if path.exists() {
            // SAFETY: the file was written by `keep` below, from `Component::serialize`,
            // into a directory of the user's own: the trust wasmtime's cache gives its
            // files. One made by another engine or wasmtime version is refused by the
            // check `deserialize_file` makes of its header.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => {
                    touch(&path);
                    return Ok(component);
                }
                Err(e) => tracing::warn!("ignoring {}: {e}", path.display()),
            }
        }
        let component = Component::new(engine, &wasm)?;
        if let Err(e) = keep(dir, &path, &component) {
            tracing::warn!("compiled {} but cannot keep it: {e:#}", source.display());
        }
        Ok(component)
    }
}

/// `<sha256 of the wasm>-<digest of the engine's compatibility>.cwasm`.
fn file_name(engine: &Engine, wasm: &[u8]) -> String {
    let mut hasher = std::hash::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let wasm: String = sha2::Sha256::digest(wasm)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{wasm}-{:016x}.cwasm", hasher.finish())
}

/// Writes `component` to `path` in one step (a temporary file, then a rename), so that a
/// concurrent start never reads half a file, and removes files left unused too long.
fn keep(dir: &Path, path: &Path, component: &Component) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let bytes = component.serialize()?;
    let temp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temp, bytes).with_context(|| format!("cannot write {}", temp.display()))?;
    std::fs::rename(&temp, path).with_context(|| format!("cannot write {}", path.display()))?;
    prune(dir);
    Ok(())
}

/// Marks a cached file as used now.
fn touch(path: &Path) {
    if let Ok(file) = std::fs::File::options().write(true).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}

/// Removes the compiled components not used for [`KEEP_UNUSED`].
fn prune(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let path = entry.path();
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > KEEP_UNUSED);
        if stale && path.extension().is_some_and(|x| x == "cwasm") {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component there is.
    const EMPTY: &[u8] = b"\0asm\x0d\0\x01\0";

    #[test]
    fn a_component_is_compiled_once_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("empty.wasm");
        std::fs::write(&source, EMPTY).unwrap();
        let cache = CompileCache::in_dir(dir.path().join("cache"));
        let engine = Engine::default();
        cache.load(&engine, &source).unwrap();
        let kept: Vec<PathBuf> = std::fs::read_dir(dir.path().join("cache"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert!(kept[0].to_string_lossy().ends_with(".cwasm"));

        // Read back, not compiled again (a compilation writes a new file in its place).
        use std::os::unix::fs::MetadataExt as _;
        let inode = |p: &Path| std::fs::metadata(p).unwrap().ino();
        let first = inode(&kept[0]);
        cache.load(&engine, &source).unwrap();
        assert_eq!(inode(&kept[0]), first);

        // A file that is not a compiled component is refused and replaced.
        std::fs::write(&kept[0], b"not a compiled component").unwrap();
        cache.load(&engine, &source).unwrap();
        assert_ne!(
            std::fs::read(&kept[0]).unwrap(),
            b"not a compiled component"
        );
    }

    #[test]
    fn files_unused_for_a_week_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old.cwasm");
        let recent = dir.path().join("recent.cwasm");
        let other = dir.path().join("notes.txt");
        for path in [&old, &recent, &other] {
            std::fs::write(path, b"x").unwrap();
        }
        let long_ago = SystemTime::now() - KEEP_UNUSED - Duration::from_secs(60);
        for path in [&old, &other] {
            std::fs::File::options()
                .write(true)
                .open(path)
                .unwrap()
                .set_modified(long_ago)
                .unwrap();
        }
        prune(dir.path());
        assert!(!old.exists() && recent.exists() && other.exists());
    }
}
