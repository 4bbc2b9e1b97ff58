//! Password hashing with argon2id at OWASP's parameters (19 MiB, t=2, p=1), run on the
//! blocking pool under a concurrency cap so a flood of log-ins cannot exhaust memory.
//!
//! Each permit owns its 19 MiB of argon2 working memory, allocated once and reused.
//! argon2's own `hash_password` allocates it on every call, from whichever blocking
//! thread runs it; glibc keeps such freed blocks in per-thread arenas, and under a flood
//! of sign-ups the process grew past 1 GiB for four hashes at a time. With the memory
//! reused, it stays at `concurrency` × 19 MiB.

pub mod prework;

use std::sync::{Arc, Mutex};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use crate::error::AppError;
use crate::input::Password;

/// Hashes and verifies passwords, at most `concurrency` at a time.
#[derive(Clone)]
pub struct PasswordHasherPool {
    permits: Arc<Semaphore>,
    /// argon2's working memory, one per permit (see the module's documentation).
    memories: Arc<Mutex<Vec<Vec<Block>>>>,
    /// Verified against when the account does not exist, so that a wrong email costs as
    /// long as a wrong password and timing tells nothing.
    dummy_hash: Arc<String>,
    /// Work done inside a transaction, none having been prepared (see `prework`).
    late: Arc<prework::LateWork>,
}

fn params() -> Params {
    // 19 MiB, 2 iterations, 1 lane: OWASP's argon2id recommendation. Constant, so the
    // `expect` cannot fire.
    #[allow(clippy::expect_used)]
    Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters")
}

fn failed(error: impl std::fmt::Display) -> AppError {
    AppError::internal(anyhow::anyhow!("argon2: {error}"))
}

/// Working memory for `params`: `memory` when it is large enough, else its own.
fn blocks_for(params: &Params, memory: &mut Vec<Block>) -> Vec<Block> {
    let needed = params.block_count();
    if memory.len() < needed {
        return vec![Block::default(); needed];
    }
    std::mem::take(memory)
}

/// The PHC string of a new hash of `password` (what `PasswordHasher::hash_password`
/// makes, computed in `memory`).
fn hash_with(password: &[u8], memory: &mut Vec<Block>) -> Result<String, AppError> {
    let params = params();
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(failed)?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let mut blocks = blocks_for(&params, memory);
    let computed = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password, salt_bytes, &mut out, &mut blocks[..]);
    *memory = blocks;
    computed.map_err(failed)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: (&params).try_into().map_err(failed)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(failed)?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `stored` (computed in `memory`; `Output`
/// compares in constant time). An unreadable `stored` matches nothing.
fn verify_with(password: &[u8], stored: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
        parsed.salt,
        parsed.hash,
    ) else {
        return false;
    };
    let version = parsed
        .version
        .and_then(|v| Version::try_from(v).ok())
        .unwrap_or_default();
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let mut blocks = blocks_for(&params, memory);
    let computed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password,
        salt_bytes,
        &mut out,
        &mut blocks[..],
    );
    if blocks.len() >= memory.len() {
        *memory = blocks;
    }
    computed.is_ok() && Output::new(&out).is_ok_and(|out| out == expected)
}

impl PasswordHasherPool {
    pub fn new(concurrency: usize) -> anyhow::Result<Self> {
        let concurrency = concurrency.max(1);
        let blocks = params().block_count();
        let mut memory = vec![Block::default(); blocks];
        let dummy_hash = hash_with(b"tenantgate-timing-equaliser", &mut memory)
            .map_err(|_| anyhow::anyhow!("cannot compute the dummy password hash"))?;
        let mut memories = vec![memory];
        memories.resize_with(concurrency, || vec![Block::default(); blocks]);
        Ok(PasswordHasherPool {
            permits: Arc::new(Semaphore::new(concurrency)),
            memories: Arc::new(Mutex::new(memories)),
            dummy_hash: Arc::new(dummy_hash),
            late: Default::default(),
        })
    }

    /// The count of hashes and verifications done inside a transaction.
    pub fn late_work(&self) -> &prework::LateWork {
        &self.late
    }

    /// Runs `work` on the blocking pool with a permit and the permit's working memory.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let _permit = self.permits.acquire().await.map_err(AppError::internal)?;
        let memories = self.memories.clone();
        tokio::task::spawn_blocking(move || {
            // A permit is held, so a memory is free; `unwrap_or_default` only guards.
            let mut memory = crate::lock(&memories).pop().unwrap_or_default();
            let answer = work(&mut memory);
            crate::lock(&memories).push(memory);
            answer
        })
        .await
        .map_err(AppError::internal)
    }

    pub async fn hash(&self, password: &Password) -> Result<String, AppError> {
        let password = password.expose().to_owned();
        self.run(move |memory| hash_with(password.as_bytes(), memory))
            .await?
    }

    /// Whether `password` matches `stored`; `stored = None` (no such account) takes as
    /// long and answers false.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<bool, AppError> {
        let exists = stored.is_some();
        let stored = stored.map_or_else(|| self.dummy_hash.as_str().to_owned(), str::to_owned);
        let password = password.to_owned();
        let matches = self
            .run(move |memory| verify_with(password.as_bytes(), &stored, memory))
            .await?;
        Ok(exists && matches)
    }
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;

    #[test]
    fn hashes_are_argon2s_own_format_both_ways() {
        let mut memory = Vec::new();
        let ours = hash_with(b"correct horse battery", &mut memory).expect("hash");
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        let parsed = PasswordHash::new(&ours).expect("PHC");
        let reference = Argon2::new(Algorithm::Argon2id, Version::V0x13, params());
        assert!(
            reference
                .verify_password(b"correct horse battery", &parsed)
                .is_ok()
        );
        assert!(reference.verify_password(b"wrong", &parsed).is_err());

        let salt = SaltString::generate(&mut OsRng);
        let theirs = reference
            .hash_password(b"correct horse battery", &salt)
            .expect("hash")
            .to_string();
        assert!(verify_with(b"correct horse battery", &theirs, &mut memory));
        assert!(!verify_with(b"correct horse batterz", &theirs, &mut memory));
        assert!(!verify_with(b"anything", "not a hash", &mut memory));
        // A stored hash of other parameters still verifies.
        let cheaper = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).expect("params"),
        )
        .hash_password(b"old", &salt)
        .expect("hash")
        .to_string();
        assert!(verify_with(b"old", &cheaper, &mut memory));
        assert_eq!(memory.len(), params().block_count(), "the memory is kept");
    }
}
