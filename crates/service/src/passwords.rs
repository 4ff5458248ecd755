//! Password hashing with argon2id, always off the async workers.

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use domain::Password;
use tokio::sync::Semaphore;

use crate::ServiceError;

/// Hashes and verifies passwords (argon2id PHC strings) on the blocking thread pool.
///
/// At most `concurrency` computations run at once; the rest wait their turn. Each argon2id
/// computation holds 19 MiB and a whole core for ~30 ms, so an unbounded burst of sign-ins
/// would take every core from the requests that do not hash (and one allocation of 19 MiB
/// per waiting thread). The default leaves one core to everything else.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// A hash of a random password, verified against when the account does not exist, so an
    /// unknown email costs the same time as a wrong password.
    decoy: Arc<String>,
}

impl PasswordHasher {
    /// argon2id with m = 19456 KiB, t = 2, p = 1 (the OWASP minimum the contract asks for).
    pub fn production() -> Result<Self, ServiceError> {
        Self::with_params(
            Params::DEFAULT_M_COST,
            Params::DEFAULT_T_COST,
            Params::DEFAULT_P_COST,
        )
    }

    /// The default bound on concurrent hashes: one core fewer than the machine has (at least 1).
    pub fn default_concurrency() -> usize {
        std::thread::available_parallelism()
            .map(|n| n.get().saturating_sub(1))
            .unwrap_or(1)
            .max(1)
    }

    /// Bounds how many hashes or verifications run at once (at least 1).
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.permits = Arc::new(Semaphore::new(concurrency.max(1)));
        self
    }

    /// Custom cost parameters (memory in KiB, iterations, lanes).
    pub fn with_params(m_cost: u32, t_cost: u32, p_cost: u32) -> Result<Self, ServiceError> {
        let params = Params::new(m_cost, t_cost, p_cost, None)
            .map_err(|e| ServiceError::internal("argon2 parameters", e.to_string()))?;
        let mut random = [0u8; 32];
        getrandom::fill(&mut random)
            .map_err(|e| ServiceError::internal("randomness", e.to_string()))?;
        let decoy = hash_with(&params, &random)?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(Self::default_concurrency())),
            decoy: Arc::new(decoy),
        })
    }

    /// Hashes a password.
    pub async fn hash(&self, password: &Password) -> Result<String, ServiceError> {
        let params = self.params.clone();
        let plain = password.expose().as_bytes().to_vec();
        let permit = self.permit().await?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            hash_with(&params, &plain)
        })
        .await
        .map_err(|e| ServiceError::internal("password hashing task", e))?
    }

    /// Verifies `plain` against a stored hash, or against the decoy when there is none.
    /// Always costs one argon2 computation.
    pub async fn verify(&self, plain: &str, stored: Option<&str>) -> Result<bool, ServiceError> {
        let (hash, real) = match stored {
            Some(h) => (h.to_owned(), true),
            None => (self.decoy.as_str().to_owned(), false),
        };
        let plain = plain.as_bytes().to_vec();
        let permit = self.permit().await?;
        let matched = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            Argon2::default()
                .verify_password(&plain, hash.as_str())
                .is_ok()
        })
        .await
        .map_err(|e| ServiceError::internal("password verification task", e))?;
        Ok(real && matched)
    }

    /// Waits for a turn to run argon2. The permit moves into the blocking task, so it is held
    /// until the computation ends even when the request is dropped meanwhile; a request
    /// dropped while waiting simply leaves the queue.
    async fn permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ServiceError> {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| ServiceError::internal("password hashing queue", e))
    }
}

fn hash_with(params: &Params, plain: &[u8]) -> Result<String, ServiceError> {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let hash: argon2::password_hash::phc::PasswordHash = argon
        .hash_password(plain)
        .map_err(|e| ServiceError::internal("password hashing", e.to_string()))?;
    Ok(hash.to_string())
}
