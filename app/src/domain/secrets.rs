//! Secrets at rest (TOTP secrets now; provider keys and connector tokens
//! later) are sealed with AES-256-GCM under the server's master key, so a
//! copy of the database alone does not reveal them.
//!
//! Sealed form: base64 of `nonce (12 bytes) || ciphertext+tag`. The purpose
//! is bound as associated data, so a value sealed for one use cannot be
//! swapped into another column.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;

use crate::model::AppError;

pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

/// Holds the cipher, never the key bytes in a printable form.
#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        Self { cipher: Aes256Gcm::new(key.into()) }
    }

    /// A fresh random master key.
    pub fn generate_key() -> [u8; KEY_LEN] {
        let mut key = [0u8; KEY_LEN];
        rand::rngs::OsRng.fill_bytes(&mut key);
        key
    }

    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: purpose.as_bytes() })
            .expect("AES-GCM encryption does not fail for in-memory data");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        STANDARD.encode(out)
    }

    /// Fails when the value was sealed under another key or purpose, or
    /// was altered.
    pub fn open(&self, purpose: &str, sealed: &str) -> Result<Vec<u8>, AppError> {
        let broken = || {
            tracing::error!(purpose, "a sealed secret could not be opened (wrong master key?)");
            AppError::internal()
        };
        let bytes = STANDARD.decode(sealed).map_err(|_| broken())?;
        if bytes.len() <= NONCE_LEN {
            return Err(broken());
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: purpose.as_bytes() })
            .map_err(|_| broken())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_purpose() {
        let sealer = Sealer::new(&Sealer::generate_key());
        let sealed = sealer.seal("totp", b"JBSWY3DPEHPK3PXP");
        assert!(!sealed.contains("JBSWY3DP"));
        assert_eq!(sealer.open("totp", &sealed).unwrap(), b"JBSWY3DPEHPK3PXP");
        assert!(sealer.open("connector", &sealed).is_err());
        assert!(Sealer::new(&Sealer::generate_key()).open("totp", &sealed).is_err());
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce() {
        let sealer = Sealer::new(&Sealer::generate_key());
        assert_ne!(sealer.seal("totp", b"same"), sealer.seal("totp", b"same"));
    }
}
