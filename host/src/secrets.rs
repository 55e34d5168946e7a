//! The secrets of a local shop: when `jwt_key` or a publisher's `<service>_events_key` is
//! not set, `boxoffice up` (and `boxoffice broker`, for the event keys) use a random key
//! made once per state dir and kept there in a file only the owner can read, so that no
//! two shops share a key and no key is written in the source. The public keys of the
//! publishers (`events_public_keys`), unless set, are derived from their signing keys
//! ([`public_keys`]). `--production` makes no key: it requires them to be set, `jwt_key`
//! at least [`PRODUCTION_KEY_BYTES`] long ([`check_production_keys`]).

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

/// The variable holding the session signing keys.
pub const JWT_KEY: &str = "jwt_key";
pub use boxoffice_wire::signature::PUBLIC_KEYS_VARIABLE as EVENTS_PUBLIC_KEYS;
use boxoffice_wire::signature::{signing_variable, PublicKeys, SigningKey};

/// The random bytes of a generated key (256 bits), written as hex.
const KEY_BYTES: usize = 32;
/// The shortest kept key accepted.
const MIN_KEY_CHARS: usize = 16;

/// The shortest key `--production` accepts in `jwt_key`: 256 bits, as much as the
/// HMAC-SHA256 it signs with can use (the services alone accept 12). Event signing keys
/// are Ed25519 seeds, 32 bytes by their form.
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

/// What [`signing_keys`] does for a publisher whose key the environment does not set.
#[derive(Debug, Clone, Copy)]
pub enum Unset<'a> {
    /// Use the key kept for it under this state dir (made on first use).
    Keep(&'a Path),
    /// Make a fresh one, kept nowhere (`boxoffice events keys`).
    Make,
    /// Refuse: `--production` makes no key.
    Refuse,
}

/// A publisher's signing key: its service, its seed as the variable holds it, and the key.
#[derive(Debug, Clone)]
pub struct Signer {
    /// The publishing service.
    pub service: String,
    /// The seed, 64 hex digits, as `<service>_events_key` holds it.
    pub seed: String,
    /// The key of that seed.
    pub key: SigningKey,
}

/// The signing key of each of `services` (`<service>_events_key`, by the variable's env
/// name through `env`), or, when `env` has none, what `unset` says. Each is checked to be
/// a signing key; the error names the variable, never the key.
pub fn signing_keys<'a>(
    services: impl IntoIterator<Item = &'a str>,
    unset: Unset<'_>,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Vec<Signer>> {
    let mut signers = Vec::new();
    for service in services {
        let name = signing_variable(service);
        let env_name = crate::variables::env_name(&name);
        let seed = match (env(&env_name), unset) {
            (Some(seed), _) => seed,
            (None, Unset::Keep(state_dir)) => state_key(state_dir, &name)?,
            (None, Unset::Make) => random_key()?,
            (None, Unset::Refuse) => {
                bail!("{name} is not set ({env_name}); --production makes no key")
            }
        };
        let key = SigningKey::parse(&seed).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        signers.push(Signer {
            service: service.to_owned(),
            seed,
            key,
        });
    }
    Ok(signers)
}

/// The public keys of `signers`.
pub fn public_keys(signers: &[Signer]) -> PublicKeys {
    PublicKeys::of(signers.iter().map(|s| (s.service.as_str(), &s.key)))
}

/// The environment lines that give an app `signers` and the public keys of them all:
/// `SPIN_VARIABLE_ORDERS_EVENTS_KEY=...`, then `SPIN_VARIABLE_EVENTS_PUBLIC_KEYS=...`.
pub fn env_lines(signers: &[Signer]) -> String {
    let mut lines: Vec<String> = signers
        .iter()
        .map(|s| {
            format!(
                "{}={}",
                crate::variables::env_name(&signing_variable(&s.service)),
                s.seed
            )
        })
        .collect();
    lines.push(format!(
        "{}={}",
        crate::variables::env_name(EVENTS_PUBLIC_KEYS),
        public_keys(signers)
    ));
    lines.join("\n")
}

/// Checks that `public` lists the public key of every one of `signers`: a publisher whose
/// key is not listed would have every event refused.
pub fn check_public_keys(public: &PublicKeys, signers: &[Signer]) -> anyhow::Result<()> {
    for Signer { service, key, .. } in signers {
        anyhow::ensure!(
            public.lists(service, key),
            "{EVENTS_PUBLIC_KEYS} does not list the public key of {} ({service}:{}): \
             every event of {service} would be refused",
            signing_variable(service),
            key.public_hex()
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
    let key = random_key()?;
    let temp = private_temp(path, &format!("{key}\n"))?;
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

/// A fresh random key: 256 bits, written as 64 hex digits (also an Ed25519 seed).
pub fn random_key() -> anyhow::Result<String> {
    let mut bytes = [0u8; KEY_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness for a key: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes `contents` to `path` with mode 0600, replacing it at once (a reader sees the old
/// file or the new one, never half of it).
pub fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    let temp = private_temp(path, contents)?;
    std::fs::rename(&temp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// A new file beside `path`, mode 0600, holding `contents`, synced.
fn private_temp(path: &Path, contents: &str) -> anyhow::Result<PathBuf> {
    let temp = path.with_extension(format!("tmp{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .and_then(|mut file| {
            file.write_all(contents.as_bytes())?;
            file.sync_all()
        });
    match written {
        Ok(()) => Ok(temp),
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(e).with_context(|| format!("cannot write {}", temp.display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_made_once_per_state_dir_and_kept_private() {
        let one = tempfile::tempdir().unwrap();
        let two = tempfile::tempdir().unwrap();
        let first = state_key(one.path(), "orders_events_key").unwrap();
        assert_eq!(first.len(), 64);
        assert!(first.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(
            state_key(one.path(), "orders_events_key").unwrap(),
            first,
            "kept"
        );
        assert_ne!(state_key(two.path(), "orders_events_key").unwrap(), first);
        assert_ne!(state_key(one.path(), JWT_KEY).unwrap(), first);
        let file = key_file(one.path(), "orders_events_key");
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
        let second = check_production_keys(JWT_KEY, &format!("{strong},short-one")).unwrap_err();
        assert!(
            second
                .to_string()
                .starts_with("key 2 of jwt_key is 9 bytes"),
            "{second}"
        );
        assert!(check_production_keys(JWT_KEY, " , ").is_err());
    }

    #[test]
    fn each_publisher_has_its_own_key_and_the_public_list_must_name_it() {
        let dir = tempfile::tempdir().unwrap();
        let given = "0f".repeat(32);
        let env = |name: &str| (name == "SPIN_VARIABLE_ORDERS_EVENTS_KEY").then(|| given.clone());
        let keys = signing_keys(["orders", "payments"], Unset::Keep(dir.path()), env).unwrap();
        assert_eq!(
            (keys[0].service.as_str(), keys[0].seed.as_str()),
            ("orders", given.as_str()),
            "the environment's key"
        );
        assert!(
            key_file(dir.path(), "payments_events_key").exists(),
            "a kept one"
        );
        assert!(!key_file(dir.path(), "orders_events_key").exists());
        assert_ne!(keys[0].seed, keys[1].seed);
        let public = public_keys(&keys);
        assert!(check_public_keys(&public, &keys).is_ok());
        let only_orders = public_keys(&keys[..1]);
        let missing = check_public_keys(&only_orders, &keys)
            .unwrap_err()
            .to_string();
        assert!(missing.contains("payments_events_key"), "{missing}");
        // Production: nothing is made, and a key that is not a seed is named, not shown.
        let none = signing_keys(["orders"], Unset::Refuse, |_| None)
            .unwrap_err()
            .to_string();
        assert!(none.contains("SPIN_VARIABLE_ORDERS_EVENTS_KEY"), "{none}");
        let bad = "not-a-seed-but-a-secret";
        let weak = signing_keys(["orders"], Unset::Refuse, |_| Some(bad.to_owned()))
            .unwrap_err()
            .to_string();
        assert!(
            weak.contains("orders_events_key") && !weak.contains(bad),
            "{weak}"
        );
        // Made afresh and kept nowhere: `boxoffice events keys`.
        let made = signing_keys(["orders"], Unset::Make, |_| None).unwrap();
        assert_eq!(made[0].seed.len(), 64);
        assert!(!key_file(dir.path(), "orders_events_key").exists());
    }
}
