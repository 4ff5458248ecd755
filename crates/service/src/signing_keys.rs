//! The Ed25519 keys of access tokens: the current signing key (from a PKCS#8 PEM file, or
//! generated at start in development) and the public keys of retired signing keys still
//! accepted while tokens they signed live out. Each key is named by its RFC 7638 thumbprint
//! (`kid`), published in the JWKS so that other services verify tokens without any secret.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use jsonwebtoken::{DecodingKey, EncodingKey};
use sha2::{Digest, Sha256};

use crate::JwtSecret;

/// One public key as the JWKS shows it (`kty: OKP`, `crv: Ed25519`, `alg: EdDSA`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicJwk {
    /// The RFC 7638 thumbprint of the key.
    pub kid: String,
    /// The 32-byte public key, base64url without padding.
    pub x: String,
}

#[derive(Clone)]
struct PublicKey {
    bytes: [u8; 32],
    kid: String,
}

impl PublicKey {
    fn new(key: &VerifyingKey) -> Self {
        let bytes = key.to_bytes();
        let x = URL_SAFE_NO_PAD.encode(bytes);
        // RFC 7638: the SHA-256 of the required members in lexicographic order, no spaces.
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        Self { bytes, kid }
    }
}

/// The signing key and the accepted verification keys. Never printed.
#[derive(Clone)]
pub struct Ed25519Keys {
    /// The current key as PKCS#8 DER (what the JWT library signs with).
    pkcs8_der: Vec<u8>,
    seed: [u8; 32],
    current: PublicKey,
    previous: Vec<PublicKey>,
}

impl fmt::Debug for Ed25519Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ed25519Keys")
            .field("kid", &self.current.kid)
            .field("previous", &self.previous.len())
            .finish_non_exhaustive()
    }
}

impl Ed25519Keys {
    /// The signing key from a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let key = SigningKey::from_pkcs8_pem(pem.trim())
            .map_err(|e| format!("is not an Ed25519 private key in PKCS#8 PEM: {e}"))?;
        Self::from_signing_key(&key)
    }

    /// A fresh random signing key (development: tokens die with the process).
    pub fn generate() -> Result<Self, String> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| format!("no randomness available: {e}"))?;
        Self::from_signing_key(&SigningKey::from_bytes(&seed))
    }

    fn from_signing_key(key: &SigningKey) -> Result<Self, String> {
        let der = key
            .to_pkcs8_der()
            .map_err(|e| format!("cannot encode the key: {e}"))?;
        Ok(Self {
            pkcs8_der: der.as_bytes().to_vec(),
            seed: key.to_bytes(),
            current: PublicKey::new(&key.verifying_key()),
            previous: Vec::new(),
        })
    }

    /// Also accepts tokens signed by the key of `pem`: a public key (SPKI, `BEGIN PUBLIC KEY`)
    /// or a private key (PKCS#8, `BEGIN PRIVATE KEY`), of which only the public half is kept.
    pub fn also_accept_pem(&mut self, pem: &str) -> Result<(), String> {
        let pem = pem.trim();
        let key = match VerifyingKey::from_public_key_pem(pem) {
            Ok(key) => key,
            Err(_) => SigningKey::from_pkcs8_pem(pem)
                .map(|k| k.verifying_key())
                .map_err(|_| {
                    "is neither an Ed25519 public key (SPKI PEM) nor private key (PKCS#8 PEM)"
                        .to_owned()
                })?,
        };
        let key = PublicKey::new(&key);
        if key.kid != self.current.kid && !self.previous.iter().any(|k| k.kid == key.kid) {
            self.previous.push(key);
        }
        Ok(())
    }

    /// The `kid` of the current signing key.
    pub fn kid(&self) -> &str {
        &self.current.kid
    }

    /// The secret refresh-token successors are derived with when no `JWT_SECRET` is set:
    /// a hash of the signing key under its own label, so it is as stable and as secret as the
    /// key itself.
    pub fn derived_secret(&self) -> Result<JwtSecret, String> {
        let mut hasher = Sha256::new();
        hasher.update(b"doztra-auth/refresh-successor-secret-from-ed25519/v1");
        hasher.update(self.seed);
        JwtSecret::new(hasher.finalize().to_vec())
    }

    /// The current key and then the previous ones, as the JWKS publishes them.
    pub fn public_jwks(&self) -> Vec<PublicJwk> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .map(|k| PublicJwk {
                kid: k.kid.clone(),
                x: URL_SAFE_NO_PAD.encode(k.bytes),
            })
            .collect()
    }

    /// Accepts `other`'s current key as a previous one (tests).
    #[cfg(test)]
    pub(crate) fn accept_for_tests(&mut self, other: &Ed25519Keys) {
        self.previous.push(other.current.clone());
    }

    pub(crate) fn encoding_key(&self) -> EncodingKey {
        EncodingKey::from_ed_der(&self.pkcs8_der)
    }

    /// The verification key named `kid`, if it is the current or an accepted previous key.
    pub(crate) fn decoding_key(&self, kid: &str) -> Option<DecodingKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.kid == kid)
            .map(|k| DecodingKey::from_ed_der(&k.bytes))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_key_survives_pem_and_keeps_its_kid() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let pem = key.to_pkcs8_pem(Default::default()).unwrap();
        let keys = Ed25519Keys::from_pem(&pem).unwrap();
        let again = Ed25519Keys::from_pem(&pem).unwrap();
        assert_eq!(keys.kid(), again.kid());
        assert_eq!(keys.kid().len(), 43);
        assert_ne!(keys.kid(), Ed25519Keys::generate().unwrap().kid());
        assert!(
            Ed25519Keys::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")
                .is_err()
        );
        assert!(format!("{keys:?}").contains(keys.kid()));
        assert!(!format!("{keys:?}").contains(&pem[30..50]));
    }

    #[test]
    fn previous_keys_are_accepted_from_public_or_private_pem() {
        use ed25519_dalek::pkcs8::EncodePublicKey;
        let old = SigningKey::from_bytes(&[1u8; 32]);
        let older = SigningKey::from_bytes(&[2u8; 32]);
        let mut keys = Ed25519Keys::generate().unwrap();
        keys.also_accept_pem(
            &old.verifying_key()
                .to_public_key_pem(Default::default())
                .unwrap(),
        )
        .unwrap();
        keys.also_accept_pem(&older.to_pkcs8_pem(Default::default()).unwrap())
            .unwrap();
        assert!(keys.also_accept_pem("not a key").is_err());
        let jwks = keys.public_jwks();
        assert_eq!(jwks.len(), 3);
        assert_eq!(jwks[0].kid, keys.kid());
        assert!(jwks.iter().all(|k| keys.decoding_key(&k.kid).is_some()));
        assert!(keys.decoding_key("unknown").is_none());
    }
}
