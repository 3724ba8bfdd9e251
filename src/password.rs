//! Passwords and PINs: the rules a new one must meet, and Argon2id hashing on the blocking
//! pool behind a semaphore, so that sign-ins never starve page requests.

use std::sync::{Arc, LazyLock};

use anyhow::Context;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// Common passwords of 12 characters or more (from Django's list of 20,000 common
/// passwords, plus a few), lower-cased; shorter ones fail the length rule anyway.
static COMMON: LazyLock<std::collections::HashSet<&'static str>> =
    LazyLock::new(|| include_str!("common-passwords.txt").lines().collect());

/// A password that meets the rules: 12 to 1024 characters of any Unicode, never truncated,
/// not a common password. Its `Debug` never shows it.
#[derive(Clone)]
pub struct NewPassword(String);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(<redacted>)")
    }
}

impl NewPassword {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let chars = raw.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err("Use at least 12 characters.");
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err("Use at most 1024 characters.");
        }
        if COMMON.contains(raw.to_lowercase().as_str()) {
            return Err("This is one of the most common passwords; choose another.");
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A PIN: 6 to 12 ASCII digits.
#[derive(Clone)]
pub struct Pin(String);

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

impl Pin {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        if !(6..=12).contains(&raw.len()) || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err("A PIN is 6 to 12 digits.");
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Argon2id (m = 19456 KiB, t = 2, p = 1) on the blocking pool, at most `permits` at once.
#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    dummy: Arc<String>,
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(19456, 2, 1, None).expect("fixed Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(secret: &[u8]) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2()
        .hash_password(secret, &salt)
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?
        .to_string())
}

fn verify_blocking(hash: &str, secret: &[u8]) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| argon2().verify_password(secret, &parsed).is_ok())
        .unwrap_or(false)
}

impl Hasher {
    /// `permits` hashes may run at once; the rest wait their turn without holding a thread.
    pub fn new(permits: usize) -> anyhow::Result<Self> {
        let dummy = hash_blocking(b"berth dummy password for unknown users")?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(permits.max(1))),
            dummy: Arc::new(dummy),
        })
    }

    /// One permit per core but one (at least one), so a sign-in flood leaves a core for
    /// page requests.
    pub fn for_this_machine() -> anyhow::Result<Self> {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Self::new(cores.saturating_sub(1).max(1))
    }

    pub async fn hash(&self, secret: &str) -> anyhow::Result<String> {
        let _permit = self.permits.acquire().await.context("hasher closed")?;
        let secret = secret.as_bytes().to_vec();
        tokio::task::spawn_blocking(move || hash_blocking(&secret)).await?
    }

    /// Verifies `secret` against `hash`; with no hash (an unknown user) it verifies against
    /// a dummy so that the answer takes as long either way, and is `false`.
    pub async fn verify(&self, hash: Option<&str>, secret: &str) -> anyhow::Result<bool> {
        let _permit = self.permits.acquire().await.context("hasher closed")?;
        let known = hash.is_some();
        let hash = hash
            .map(str::to_owned)
            .unwrap_or_else(|| self.dummy.as_str().to_owned());
        let secret = secret.as_bytes().to_vec();
        let ok = tokio::task::spawn_blocking(move || verify_blocking(&hash, &secret)).await?;
        Ok(known && ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_rules() {
        assert!(NewPassword::parse("short").is_err());
        assert!(NewPassword::parse("elevenchars").is_err());
        assert!(NewPassword::parse("twelve chars").is_ok());
        // Twelve characters of any script count as characters, not bytes.
        assert!(NewPassword::parse("ñandú-ñandú1").is_ok());
        assert!(NewPassword::parse("日本語のパスワード").is_err());
        assert!(NewPassword::parse("日本語のパスワードです長い").is_ok());
        assert!(NewPassword::parse(&"x".repeat(128)).is_ok());
        assert!(NewPassword::parse(&"x".repeat(1025)).is_err());
        assert!(NewPassword::parse("Password1234").is_err(), "common, any case");
    }

    #[test]
    fn pin_rules() {
        for ok in ["123456", "000000000000"] {
            assert!(Pin::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["12345", "1234567890123", "12345a", "١٢٣٤٥٦", " 123456", ""] {
            assert!(Pin::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn hash_then_verify_without_truncation() {
        let hasher = Hasher::new(2).unwrap();
        let long = "p".repeat(200);
        let hash = hasher.hash(&long).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(hasher.verify(Some(&hash), &long).await.unwrap());
        assert!(!hasher.verify(Some(&hash), &"p".repeat(199)).await.unwrap());
        assert!(!hasher.verify(None, &long).await.unwrap());
    }
}
