//! The secrets of a local shop: when `jwt_key` or `events_key` is not set, `boxoffice up`
//! (and `boxoffice broker`, for `events_key`) use a random key made once per state dir and
//! kept there in a file only the owner can read, so that no two shops share a key and no
//! key is written in the source. `--production` uses none of these: it requires the keys
//! to be set, each at least [`PRODUCTION_KEY_BYTES`] long ([`check_production_keys`]).

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// The variable holding the session signing keys.
pub const JWT_KEY: &str = "jwt_key";
/// The variable holding the event signing keys.
pub const EVENTS_KEY: &str = "events_key";

/// The random bytes of a generated key (256 bits), written as hex.
const KEY_BYTES: usize = 32;
/// The shortest kept key accepted (what the services accept for `events_key`).
const MIN_KEY_CHARS: usize = 16;

/// The shortest key `--production` accepts in `jwt_key` and `events_key`: 256 bits, as
/// much as the HMAC-SHA256 they sign with can use (the services alone accept 12 and 16).
pub const PRODUCTION_KEY_BYTES: usize = 32;

/// Checks that every key of `variable`'s comma-separated `value` is at least
/// [`PRODUCTION_KEY_BYTES`] long: an error naming the variable and the key's position,
/// never the key.
pub fn check_production_keys(variable: &str, value: &str) -> anyhow::Result<()> {
    let keys: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .collect();
    if keys.is_empty() {
        anyhow::bail!("{variable} holds no key; --production requires one");
    }
    if let Some(short) = keys.iter().position(|k| k.len() < PRODUCTION_KEY_BYTES) {
        anyhow::bail!(
            "key {} of {variable} is {} bytes; --production requires at least \
             {PRODUCTION_KEY_BYTES} (e.g. `openssl rand -hex 32`)",
            short + 1,
            keys[short].len()
        );
    }
    Ok(())
}

/// The file under the state dir that keeps the generated value of `variable`.
pub fn key_file(state_dir: &Path, variable: &str) -> PathBuf {
    state_dir.join(format!("{variable}.secret"))
}

/// The key kept for `variable` under `state_dir`, made (atomically, mode 0600) on first
/// use. A kept file that others can read, or that holds no key, is an error.
pub fn state_key(state_dir: &Path, variable: &str) -> anyhow::Result<String> {
    let path = key_file(state_dir, variable);
    if !path.exists() {
        create(&path)?;
    }
    let mode = std::fs::metadata(&path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .permissions()
        .mode();
    anyhow::ensure!(
        mode & 0o077 == 0,
        "{} is readable by other users (mode {:o}); run `chmod 600` on it or delete it",
        path.display(),
        mode & 0o777
    );
    let key = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .trim()
        .to_owned();
    anyhow::ensure!(
        key.len() >= MIN_KEY_CHARS,
        "{} holds no usable key; delete it to make a new one",
        path.display()
    );
    Ok(key)
}

/// Writes a fresh key to a private temporary file, then links it into place, so that a
/// concurrent start never reads a half-written key: the first link wins, the others read it.
fn create(path: &Path) -> anyhow::Result<()> {
    let mut bytes = [0u8; KEY_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness for a key: {e}"))?;
    let key: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let temp = path.with_extension(format!("tmp{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .and_then(|mut file| {
            file.write_all(format!("{key}\n").as_bytes())?;
            file.sync_all()
        });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(e).with_context(|| format!("cannot write {}", temp.display()));
    }
    let linked = std::fs::hard_link(&temp, path);
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => {
            tracing::info!("made a new key in {}", path.display());
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_made_once_per_state_dir_and_kept_private() {
        let one = tempfile::tempdir().unwrap();
        let two = tempfile::tempdir().unwrap();
        let first = state_key(one.path(), EVENTS_KEY).unwrap();
        assert_eq!(first.len(), 64);
        assert!(first.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(state_key(one.path(), EVENTS_KEY).unwrap(), first, "kept");
        assert_ne!(state_key(two.path(), EVENTS_KEY).unwrap(), first);
        assert_ne!(state_key(one.path(), JWT_KEY).unwrap(), first);
        let file = key_file(one.path(), EVENTS_KEY);
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let leftovers: Vec<_> = std::fs::read_dir(one.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().contains("tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_readable_or_empty_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        state_key(dir.path(), JWT_KEY).unwrap();
        let file = key_file(dir.path(), JWT_KEY);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = state_key(dir.path(), JWT_KEY).unwrap_err().to_string();
        assert!(err.contains("chmod 600") && err.contains("644"), "{err}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&file, "short\n").unwrap();
        let err = state_key(dir.path(), JWT_KEY).unwrap_err().to_string();
        assert!(err.contains("no usable key"), "{err}");
    }

    #[test]
    fn production_keys_are_256_bits_or_refused_without_showing_them() {
        let strong = "0123456789abcdef0123456789abcdef";
        assert!(check_production_keys(JWT_KEY, strong).is_ok());
        assert!(check_production_keys(JWT_KEY, &format!("{strong}, {strong}")).is_ok());
        let weak = check_production_keys(JWT_KEY, "twelve-bytes")
            .unwrap_err()
            .to_string();
        assert_eq!(
            weak,
            "key 1 of jwt_key is 12 bytes; --production requires at least 32 (e.g. `openssl rand -hex 32`)"
        );
        let second = check_production_keys(EVENTS_KEY, &format!("{strong},short-one")).unwrap_err();
        assert!(
            second
                .to_string()
                .starts_with("key 2 of events_key is 9 bytes"),
            "{second}"
        );
        assert!(check_production_keys(EVENTS_KEY, " , ").is_err());
    }
}
