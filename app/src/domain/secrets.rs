//! Secrets at rest (TOTP secrets now; provider keys and connector tokens
//! later) are sealed with AES-256-GCM under the server's master key, so a
//! copy of the database alone does not reveal them.
//!
//! Sealed form: base64 of `nonce (12 bytes) || ciphertext+tag`. The purpose
//! is bound as associated data, so a value sealed for one use cannot be
//! swapped into another column.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::model::AppError;

pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

/// Holds the cipher, never the key bytes in a printable form.
#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
    /// HMAC key for signed URLs, derived from the master key (so one
    /// secret to keep, and a signature reveals nothing of the sealing key).
    signing: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(b"alumia signed urls v1");
        Self { cipher: Aes256Gcm::new(key.into()), signing: mac.finalize().into_bytes().into() }
    }

    /// A signature of `message` for `purpose` (base64url, 43 characters):
    /// what a signed URL carries, so the route it names can tell it was
    /// handed out by this server and not altered.
    pub fn sign(&self, purpose: &str, message: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(purpose, message).finalize().into_bytes())
    }

    /// Whether `signature` is `sign(purpose, message)`, compared in
    /// constant time.
    pub fn verify(&self, purpose: &str, message: &str, signature: &str) -> bool {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(signature) else { return false };
        self.mac(purpose, message).verify_slice(&bytes).is_ok()
    }

    fn mac(&self, purpose: &str, message: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.signing).expect("HMAC takes any key length");
        // The purpose cannot run into the message: it holds no NUL.
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(message.as_bytes());
        mac
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
    fn a_signature_holds_for_its_purpose_message_and_key_only() {
        let sealer = Sealer::new(&Sealer::generate_key());
        let signature = sealer.sign("frame", "block-1.1700000000");
        assert_eq!(signature.len(), 43);
        assert!(sealer.verify("frame", "block-1.1700000000", &signature));
        assert!(!sealer.verify("frame", "block-2.1700000000", &signature), "another message");
        assert!(!sealer.verify("file", "block-1.1700000000", &signature), "another purpose");
        assert!(!Sealer::new(&Sealer::generate_key()).verify("frame", "block-1.1700000000", &signature));
        assert!(!sealer.verify("frame", "block-1.1700000000", "not base64!"));
    }

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
