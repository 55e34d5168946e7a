//! Password hashing: argon2id at OWASP's minimum (19 MiB, 2 passes, 1 lane), stored as a
//! PHC string so the parameters can be raised later without breaking old hashes.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use boxoffice_shared::{ids, ApiError};

fn hasher() -> Result<Argon2<'static>, ApiError> {
    let params = Params::new(19_456, 2, 1, None).map_err(ApiError::internal)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The PHC string of `password` with a fresh random salt.
pub fn hash(password: &str) -> Result<String, ApiError> {
    let mut salt = [0u8; 16];
    ids::random_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(ApiError::internal)?;
    let hash = hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(ApiError::internal)?;
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `stored` (with the parameters it names).
pub fn verify(password: &str, stored: &str) -> Result<bool, ApiError> {
    let parsed = PasswordHash::new(stored)
        .map_err(|e| ApiError::internal(format!("stored password hash: {e}")))?;
    Ok(Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_at_owasp_minimum() {
        let stored = hash("password").unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(verify("password", &stored).unwrap());
        assert!(!verify("Password", &stored).unwrap());
        assert_ne!(hash("password").unwrap(), stored, "salts are random");
    }
}
