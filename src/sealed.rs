//! Secrets Berth must read back, sealed at rest (issue 16): a TOTP secret is compared with
//! every code, so it cannot be hashed like a password; it is encrypted instead, with
//! ChaCha20-Poly1305 under the operator's key (`BERTH_SECRET_KEY`, 32 random bytes as 64
//! hex digits) and a random nonce per value. A stolen database dump alone then gives no
//! second factor away.
//!
//! Rotation: the key that was current is given as `BERTH_SECRET_KEY_PREVIOUS` and still
//! opens what it sealed; `berth secret-key rotate` seals everything again under the current
//! key, after which the previous one can go. A value is the nonce followed by the
//! ciphertext; which key sealed it is found by trying (the tag tells a wrong key apart).

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::Context;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};

const NONCE_LEN: usize = 12;

/// 32 bytes of key, read from 64 hex digits; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    /// A new random key (the development key of the embedded default).
    pub fn random() -> Self {
        Self(ChaCha20Poly1305::generate_key(&mut OsRng).into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl FromStr for SecretKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes =
            hex::decode(s.trim()).map_err(|_| "the key must be 64 hex digits (openssl rand -hex 32)".to_owned())?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "the key must be 64 hex digits: 32 bytes (openssl rand -hex 32)".to_owned())?;
        Ok(Self(bytes))
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// Why a value could not be sealed or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("no secret key is set (BERTH_SECRET_KEY)")]
    NoKey,
    #[error("the value does not open with BERTH_SECRET_KEY or BERTH_SECRET_KEY_PREVIOUS")]
    WrongKey,
}

/// Seals with the current key, opens with the current or the previous one. Cheap to clone.
#[derive(Clone, Default)]
pub struct Sealer {
    current: Option<Arc<ChaCha20Poly1305>>,
    previous: Option<Arc<ChaCha20Poly1305>>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("current", &self.current.is_some())
            .field("previous", &self.previous.is_some())
            .finish()
    }
}

impl Sealer {
    pub fn new(current: Option<&SecretKey>, previous: Option<&SecretKey>) -> Self {
        let cipher = |key: &SecretKey| Arc::new(ChaCha20Poly1305::new(&key.0.into()));
        Self {
            current: current.map(cipher),
            previous: previous.map(cipher),
        }
    }

    /// Whether a key is set: without one nothing can be sealed.
    pub fn has_key(&self) -> bool {
        self.current.is_some()
    }

    /// `plain` under the current key, with a fresh random nonce.
    pub fn seal(&self, plain: &[u8]) -> Result<Vec<u8>, SealError> {
        let cipher = self.current.as_ref().ok_or(SealError::NoKey)?;
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = cipher.encrypt(&nonce, plain).map_err(|_| SealError::WrongKey)?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    /// What [`Sealer::seal`] sealed, under the current key or the previous one.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        if self.current.is_none() {
            return Err(SealError::NoKey);
        }
        if sealed.len() < NONCE_LEN {
            return Err(SealError::WrongKey);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::from_slice(nonce);
        [&self.current, &self.previous]
            .into_iter()
            .flatten()
            .find_map(|cipher| cipher.decrypt(nonce, ciphertext).ok())
            .ok_or(SealError::WrongKey)
    }
}

/// The development key of the embedded default (`cargo run` without settings): kept in
/// `data/secret-key`, made on first use, readable by its owner only. A deployment sets
/// `BERTH_SECRET_KEY` instead.
pub fn development_key(data: &Path) -> anyhow::Result<SecretKey> {
    let path = data.join("secret-key");
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .parse()
            .map_err(|err: String| anyhow::anyhow!("{}: {err}", path.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let key = SecretKey::random();
            std::fs::create_dir_all(data).with_context(|| format!("cannot create {}", data.display()))?;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            writeln!(file, "{}", key.to_hex())?;
            Ok(key)
        }
        Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_with_the_current_or_the_previous_key_only() {
        let (old, new, other) = (SecretKey::random(), SecretKey::random(), SecretKey::random());
        let sealed_old = Sealer::new(Some(&old), None).seal(b"JBSWY3DPEHPK3PXP").unwrap();
        let rotating = Sealer::new(Some(&new), Some(&old));
        assert_eq!(rotating.open(&sealed_old).unwrap(), b"JBSWY3DPEHPK3PXP");
        let sealed_new = rotating.seal(b"JBSWY3DPEHPK3PXP").unwrap();
        assert_eq!(
            Sealer::new(Some(&new), None).open(&sealed_new).unwrap(),
            b"JBSWY3DPEHPK3PXP"
        );
        assert_eq!(
            Sealer::new(Some(&new), None).open(&sealed_old),
            Err(SealError::WrongKey)
        );
        assert_eq!(
            Sealer::new(Some(&other), None).open(&sealed_new),
            Err(SealError::WrongKey)
        );
        assert_eq!(Sealer::default().open(&sealed_new), Err(SealError::NoKey));
        assert_eq!(Sealer::default().seal(b"x"), Err(SealError::NoKey));
    }

    #[test]
    fn each_value_has_its_own_nonce() {
        let sealer = Sealer::new(Some(&SecretKey::random()), None);
        assert_ne!(sealer.seal(b"same").unwrap(), sealer.seal(b"same").unwrap());
    }

    #[test]
    fn keys_are_64_hex_digits_and_never_printed() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let key: SecretKey = hex.parse().unwrap();
        assert_eq!(key.to_hex(), hex);
        assert!(!format!("{key:?}").contains("0011"));
        assert!("0011".parse::<SecretKey>().is_err());
        assert!(format!("{hex}00").parse::<SecretKey>().is_err());
        assert!("zz".repeat(32).parse::<SecretKey>().is_err());
    }
}
