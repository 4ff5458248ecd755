//! Standard Webhooks signatures: the endpoint's secret (`whsec_` + base64 of 32 random bytes)
//! and `v1,<base64 HMAC-SHA256>` over `"{webhook-id}.{webhook-timestamp}.{body}"`, keyed with
//! the base64-decoded secret.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = hmac::Hmac<Sha256>;

/// The prefix of every secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// Random bytes in a new secret (the specification asks for 24 to 64).
const SECRET_BYTES: usize = 32;

/// An endpoint's signing secret. Never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret {
    text: String,
    key: Vec<u8>,
}

/// Why a stored secret cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a webhook secret starts with whsec_ followed by base64 of 24 to 64 bytes")]
    Malformed,
    #[error("no randomness available: {0}")]
    NoRandomness(String),
}

impl WebhookSecret {
    /// A new secret from the operating system's randomness.
    pub fn generate() -> Result<Self, SecretError> {
        let mut key = vec![0u8; SECRET_BYTES];
        getrandom::fill(&mut key).map_err(|e| SecretError::NoRandomness(e.to_string()))?;
        Ok(Self {
            text: format!("{SECRET_PREFIX}{}", STANDARD.encode(&key)),
            key,
        })
    }

    /// Reads a secret as stored (`whsec_...`).
    pub fn parse(raw: &str) -> Result<Self, SecretError> {
        let encoded = raw
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::Malformed)?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::Malformed)?;
        if !(24..=64).contains(&key.len()) {
            return Err(SecretError::Malformed);
        }
        Ok(Self {
            text: raw.to_owned(),
            key,
        })
    }

    /// The secret as shown to the admin once and stored.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The `webhook-signature` header value of one attempt.
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &str) -> String {
        // An HMAC takes a key of any length; the error branch cannot happen.
        let Ok(mut mac) = HmacSha256::new_from_slice(&self.key) else {
            return String::new();
        };
        mac.update(message_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body.as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The test vector of the Standard Webhooks reference libraries.
    #[test]
    fn signs_like_the_reference_libraries() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            secret.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                r#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn generated_secrets_are_distinct_parse_back_and_never_print() {
        let a = WebhookSecret::generate().unwrap();
        let b = WebhookSecret::generate().unwrap();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with(SECRET_PREFIX));
        assert_eq!(WebhookSecret::parse(a.expose()).unwrap(), a);
        assert_eq!(format!("{a:?}"), "WebhookSecret(***)");
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn malformed_secrets_are_refused() {
        for bad in [
            "",
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_",
            "whsec_not base64!",
            "whsec_c2hvcnQ=",
        ] {
            assert_eq!(
                WebhookSecret::parse(bad),
                Err(SecretError::Malformed),
                "{bad}"
            );
        }
    }
}
