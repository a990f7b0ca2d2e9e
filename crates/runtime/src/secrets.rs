//! Shop credentials at rest: XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`) under a
//! keyring of named 256-bit keys.
//!
//! The keyring comes from `SHOPSYNC_SECRET_KEYS` (a Kubernetes Secret in deployments):
//! `id=BASE64KEY[,id=BASE64KEY…]`, the first key seals, every listed key opens. To rotate, put
//! a new key first and keep the old one listed; the scheduler re-seals what the old key sealed
//! at start-up, after which the old key can go. Every sealed value carries its key id and a
//! random 24-byte nonce, and is bound to its shop and purpose by the associated data
//! (`<shop>/access_token`), so a ciphertext copied to another shop or field does not open.

use base64::Engine;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::fmt;

const NONCE_LEN: usize = 24;

/// A secret encrypted under one key of the keyring.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed {{ key_id: {:?}, {} bytes }}", self.key_id, self.ciphertext.len())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("SHOPSYNC_SECRET_KEYS: {0}")]
    Config(String),
    #[error("secret sealed under key {0:?}, which is not in the keyring (SHOPSYNC_SECRET_KEYS)")]
    UnknownKey(String),
    #[error("secret does not open under key {0:?} (wrong key, or not this shop's secret)")]
    Open(String),
}

/// Named keys; the first seals.
#[derive(Clone)]
pub struct Keyring {
    active: String,
    keys: HashMap<String, XChaCha20Poly1305>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<_> = self.keys.keys().collect();
        ids.sort();
        write!(f, "Keyring {{ active: {:?}, keys: {ids:?} }}", self.active)
    }
}

impl Keyring {
    /// Parse `id=BASE64KEY[,id=BASE64KEY…]` (standard base64 of 32 bytes).
    pub fn parse(spec: &SecretString) -> Result<Self, SecretError> {
        let mut active = None;
        let mut keys = HashMap::new();
        for part in spec.expose_secret().split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((id, key)) = part.split_once('=') else {
                return Err(SecretError::Config("expected id=BASE64KEY[,id=BASE64KEY…]".into()));
            };
            let id = id.trim();
            if id.is_empty()
                || id.len() > 32
                || !id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
            {
                return Err(SecretError::Config(format!(
                    "key id {id:?} must be 1-32 letters, digits, '-' or '_'"
                )));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(key.trim())
                .map_err(|_| SecretError::Config(format!("key {id:?} is not base64")))?;
            let cipher = XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| {
                SecretError::Config(format!("key {id:?} must be 32 bytes, not {}", bytes.len()))
            })?;
            if keys.insert(id.to_owned(), cipher).is_some() {
                return Err(SecretError::Config(format!("key {id:?} is listed twice")));
            }
            active.get_or_insert_with(|| id.to_owned());
        }
        let active = active.ok_or_else(|| SecretError::Config("no key given".into()))?;
        Ok(Self { active, keys })
    }

    /// A keyring of one fresh random key (tests, local experiments).
    pub fn generate(id: &str) -> (Self, SecretString) {
        let key: [u8; 32] = rand::random();
        let spec = SecretString::from(format!(
            "{id}={}",
            base64::engine::general_purpose::STANDARD.encode(key)
        ));
        let ring = Self::parse(&spec).unwrap_or_else(|e| unreachable!("generated keyring: {e}"));
        (ring, spec)
    }

    /// The id of the key that seals.
    pub fn active_id(&self) -> &str {
        &self.active
    }

    pub fn seal(&self, plaintext: &SecretString, aad: &str) -> Sealed {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let cipher = &self.keys[&self.active];
        let ciphertext = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload { msg: plaintext.expose_secret().as_bytes(), aad: aad.as_bytes() },
            )
            // Encryption fails only for messages over 256 GiB.
            .unwrap_or_else(|_| unreachable!("XChaCha20-Poly1305 refused a short message"));
        Sealed { key_id: self.active.clone(), nonce: nonce.to_vec(), ciphertext }
    }

    pub fn open(&self, sealed: &Sealed, aad: &str) -> Result<SecretString, SecretError> {
        let cipher =
            self.keys.get(&sealed.key_id).ok_or(SecretError::UnknownKey(sealed.key_id.clone()))?;
        let nonce: [u8; NONCE_LEN] = sealed
            .nonce
            .as_slice()
            .try_into()
            .map_err(|_| SecretError::Open(sealed.key_id.clone()))?;
        let plain = cipher
            .decrypt(&XNonce::from(nonce), Payload { msg: &sealed.ciphertext, aad: aad.as_bytes() })
            .map_err(|_| SecretError::Open(sealed.key_id.clone()))?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| SecretError::Open(sealed.key_id.clone()))
    }
}

/// The associated data binding a shop's secret to its shop and purpose.
pub fn aad(shop: &str, purpose: &str) -> String {
    format!("{shop}/{purpose}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_rotate_and_bind() {
        let (old, old_spec) = Keyring::generate("k1");
        let token = SecretString::from("shpat_secret".to_owned());
        let sealed = old.seal(&token, &aad("a", "access_token"));
        assert_eq!(sealed.key_id, "k1");
        assert!(!String::from_utf8_lossy(&sealed.ciphertext).contains("shpat_secret"));
        assert!(!format!("{sealed:?}{old:?}").contains("shpat"));
        assert_eq!(old.open(&sealed, "a/access_token").unwrap().expose_secret(), "shpat_secret");
        // Another shop's or field's associated data does not open it.
        assert!(matches!(old.open(&sealed, "b/access_token"), Err(SecretError::Open(_))));
        assert!(old.open(&sealed, "a/webhook_secret").is_err());
        // A new key first: it seals, the old one still opens.
        let (_, new_spec) = Keyring::generate("k2");
        let both = Keyring::parse(&SecretString::from(format!(
            "{},{}",
            new_spec.expose_secret(),
            old_spec.expose_secret()
        )))
        .unwrap();
        assert_eq!(both.active_id(), "k2");
        assert!(both.open(&sealed, "a/access_token").is_ok());
        let (other, _) = Keyring::generate("k9");
        assert!(matches!(other.open(&sealed, "a/access_token"), Err(SecretError::UnknownKey(_))));
    }

    #[test]
    fn bad_keyrings_are_refused() {
        for bad in ["", "k1", "k1=notbase64!", "k1=AAAA", "k 1=AAAA"] {
            assert!(Keyring::parse(&SecretString::from(bad.to_owned())).is_err(), "{bad}");
        }
    }
}
