//! Event keys as a service holds them: its own signing key, if it publishes, and the
//! public keys of every publisher (the scheme is [`boxoffice_wire::signature`]).

pub use boxoffice_wire::signature::*;

use crate::config::variable;
use crate::ApiError;

/// What one service holds: the public keys of every publisher (`events_public_keys`) and,
/// if it publishes, its own signing key (`<service>_events_key`).
#[derive(Clone, Debug)]
pub struct EventKeys {
    service: String,
    signer: Option<SigningKey>,
    public: PublicKeys,
}

impl EventKeys {
    /// The keys of `service`: `public`, and `signer` if it publishes.
    pub fn new(service: &str, signer: Option<SigningKey>, public: PublicKeys) -> Self {
        Self {
            service: service.to_owned(),
            signer,
            public,
        }
    }

    /// `service`'s keys from its Spin variables. Unset or invalid public keys, or an
    /// invalid signing key, are a misconfiguration of this component: a 503 (logged), so
    /// that the broker keeps the event for later. A service given no signing key can
    /// verify but not sign.
    pub fn from_variables(service: &str) -> Result<Self, ApiError> {
        let list = variable(PUBLIC_KEYS_VARIABLE)?.unwrap_or_default();
        let public = PublicKeys::parse(&list).map_err(ApiError::BackendDown)?;
        let name = signing_variable(service);
        let signer = match variable(&name)?.filter(|seed| !seed.trim().is_empty()) {
            Some(seed) => Some(
                SigningKey::parse(&seed)
                    .map_err(|e| ApiError::BackendDown(format!("{name}: {e}")))?,
            ),
            None => None,
        };
        Ok(Self::new(service, signer, public))
    }

    /// The key this service signs with: a 503 when it was given none.
    pub fn signer(&self) -> Result<&SigningKey, ApiError> {
        self.signer.as_ref().ok_or_else(|| {
            ApiError::BackendDown(format!(
                "{} cannot publish: {} is not set",
                self.service,
                signing_variable(&self.service)
            ))
        })
    }

    /// The public keys of every publisher.
    pub fn public(&self) -> &PublicKeys {
        &self.public
    }
}
