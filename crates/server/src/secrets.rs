//! Secrets: random tokens (stored only as SHA-256 hashes) and argon2id passwords hashed off the
//! async runtime. An unknown user is verified against a dummy hash, so it costs the same.

use crate::error::ApiError;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// 256 random bits, hex-encoded.
pub fn random_token() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::Internal(format!("no randomness: {e}")))?;
    Ok(hex::encode(bytes))
}

/// How a token is stored and looked up.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares secrets without an early exit.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane).
fn argon2() -> Result<Argon2<'static>, ApiError> {
    let params = Params::new(19 * 1024, 2, 1, None).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes and verifies passwords on the blocking thread pool.
#[derive(Clone)]
pub struct Passwords {
    dummy_hash: Arc<String>,
    verifications: Arc<AtomicU64>,
}

impl Passwords {
    /// Prepares the dummy hash that unknown users are verified against.
    pub async fn new() -> Result<Self, ApiError> {
        let dummy = random_token()?;
        Ok(Self { dummy_hash: Arc::new(Self::hash_blocking(&dummy)?), verifications: Arc::default() })
    }

    /// Hashes on the calling thread: only for the blocking pool and for benchmarks.
    pub fn hash_blocking(password: &str) -> Result<String, ApiError> {
        argon2()?
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| ApiError::Internal(format!("hashing failed: {e}")))
    }

    /// Verifies on the calling thread: only for the blocking pool and for benchmarks.
    pub fn verify_blocking(password: &str, hash: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(hash) else {
            return false;
        };
        argon2().is_ok_and(|a| a.verify_password(password.as_bytes(), &parsed).is_ok())
    }

    /// How many password verifications ran (served in `/metrics`).
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    pub async fn hash(&self, password: &str) -> Result<String, ApiError> {
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || Self::hash_blocking(&password))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
    }

    /// Verifies `password` against `hash`, or against the dummy hash when there is none, so that
    /// unknown users and users without a password cost as much as a wrong password.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, ApiError> {
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let password = password.to_owned();
        let (target, real) = match hash {
            Some(h) => (h.to_owned(), true),
            None => (self.dummy_hash.as_str().to_owned(), false),
        };
        let ok = tokio::task::spawn_blocking(move || Self::verify_blocking(&password, &target))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(ok && real)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_password_verifies_only_against_its_own_hash() -> Result<(), ApiError> {
        let passwords = Passwords::new().await?;
        let hash = passwords.hash("correct horse battery").await?;
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(passwords.verify("correct horse battery", Some(&hash)).await?);
        assert!(!passwords.verify("wrong horse battery", Some(&hash)).await?);
        Ok(())
    }

    #[tokio::test]
    async fn a_missing_hash_never_verifies_even_with_the_dummy_password() -> Result<(), ApiError> {
        let passwords = Passwords::new().await?;
        let dummy_password = "anything at all";
        assert!(!passwords.verify(dummy_password, None).await?);
        Ok(())
    }

    #[test]
    fn tokens_are_256_bits_and_stored_hashed() -> Result<(), ApiError> {
        let token = random_token()?;
        assert_eq!(token.len(), 64);
        assert_ne!(token_hash(&token), token);
        assert_ne!(random_token()?, token);
        Ok(())
    }
}
