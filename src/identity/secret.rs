//! Key secrets: `berth_` and 40 hex digits (160 random bits). The visible prefix (`berth_`
//! and the first 8 digits) makes a leaked key recognisable; only its SHA-256 is stored.

use rand::RngCore;
use sha2::{Digest, Sha256};

pub const MARK: &str = "berth_";
const PREFIX_DIGITS: usize = 8;

/// A new secret. It is shown once and then dropped; it is never stored or logged.
pub struct Secret(String);

impl Secret {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 20];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(format!("{MARK}{}", hex::encode(bytes)))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What is stored and shown to recognise the key: `berth_` and 8 digits.
    pub fn prefix(&self) -> String {
        self.0[..MARK.len() + PREFIX_DIGITS].to_owned()
    }

    pub fn hash(&self) -> [u8; 32] {
        hash(&self.0)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({}…)", self.prefix())
    }
}

/// The SHA-256 of a presented secret, to look its key up by.
pub fn hash(presented: &str) -> [u8; 32] {
    Sha256::digest(presented.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_recognisable() {
        let a = Secret::generate();
        let b = Secret::generate();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with("berth_"));
        assert_eq!(a.expose().len(), 6 + 40);
        assert!(a.expose()[6..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a.prefix().len(), 14);
        assert!(a.expose().starts_with(&a.prefix()));
        assert_eq!(a.hash(), hash(a.expose()));
        assert!(!format!("{a:?}").contains(a.expose()));
    }
}
