//! `auth_tokens`: what proves who the caller is. Access tokens (JWT, EdDSA with a configured
//! Ed25519 key or HS256), opaque refresh tokens and email-link tokens (random, stored as their
//! SHA-256). Not to be confused with the LLM tokens that metering counts.

use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use domain::Role;
use hmac::{KeyInit, Mac};
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{AuthConfig, ServiceError};

const ACCESS_TYPE: &str = "access";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    iat: i64,
    nbf: i64,
    exp: i64,
    iss: String,
    aud: String,
    jti: Uuid,
    typ: String,
    /// The sign-in (refresh token family) this token belongs to.
    sid: Uuid,
    /// Issue time in milliseconds: `iat` has whole seconds only, and revocation
    /// (`tokens_valid_after`) must not spare a token issued earlier in the same second.
    iat_ms: i64,
}

/// The caller, as proved by a valid access token and re-read from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentUser {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    /// The sign-in the token belongs to.
    pub session_id: Uuid,
}

/// A pair of tokens for a client.
#[derive(Debug, Clone)]
pub struct SessionTokens {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

/// What a verified access token says.
pub(crate) struct AccessClaims {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub issued_at: DateTime<Utc>,
}

pub(crate) fn issue_access(
    config: &AuthConfig,
    user_id: Uuid,
    session_id: Uuid,
    now: DateTime<Utc>,
) -> Result<String, ServiceError> {
    let ttl = i64::try_from(config.access_ttl.as_secs()).unwrap_or(i64::MAX / 2);
    let iat = now.timestamp();
    let claims = Claims {
        sub: user_id,
        iat,
        nbf: iat,
        exp: iat.saturating_add(ttl),
        iss: config.issuer.clone(),
        aud: config.audience.clone(),
        jti: Uuid::now_v7(),
        typ: ACCESS_TYPE.to_owned(),
        sid: session_id,
        iat_ms: now.timestamp_millis(),
    };
    let encoded = match &config.signing_key {
        Some(keys) => {
            let mut header = Header::new(Algorithm::EdDSA);
            header.kid = Some(keys.kid().to_owned());
            jsonwebtoken::encode(&header, &claims, &keys.encoding_key())
        }
        None => {
            let (key, _) = config.hs256_keys()?;
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key)
        }
    };
    encoded.map_err(|e| ServiceError::internal("jwt encode", e))
}

/// Signs and verifies a token with the configured keys (at start-up: a key the JWT library
/// cannot use stops the server instead of failing every sign-in).
pub(crate) fn self_test(config: &AuthConfig, now: DateTime<Utc>) -> Result<(), ServiceError> {
    let token = issue_access(config, Uuid::nil(), Uuid::nil(), now)?;
    verify_access(config, &token, now)
        .map(|_| ())
        .map_err(|_| ServiceError::internal("jwt keys", "a token just signed does not verify"))
}

/// How far `exp` and `nbf` may be off the service's clock (another instance's clock may differ).
const LEEWAY_SECS: i64 = 5;

/// Verifies signature, `exp` and `nbf` (at `now`, the service's clock), `iss`, `aud` and `typ`.
/// The algorithm is pinned to the configured key's: EdDSA with a `kid` naming the current or a
/// previous key when a signing key is configured, else HS256.
pub(crate) fn verify_access(
    config: &AuthConfig,
    token: &str,
    now: DateTime<Utc>,
) -> Result<AccessClaims, ServiceError> {
    let (algorithm, key) = match &config.signing_key {
        Some(keys) => {
            let header =
                jsonwebtoken::decode_header(token).map_err(|_| ServiceError::InvalidToken)?;
            if header.alg != Algorithm::EdDSA {
                return Err(ServiceError::InvalidToken);
            }
            let key = header
                .kid
                .as_deref()
                .and_then(|kid| keys.decoding_key(kid))
                .ok_or(ServiceError::InvalidToken)?;
            (Algorithm::EdDSA, key)
        }
        None => (Algorithm::HS256, config.hs256_keys()?.1),
    };
    let mut validation = Validation::new(algorithm);
    validation.algorithms = vec![algorithm];
    // The library would compare `exp` and `nbf` with the system's time; they are checked below
    // against the service's clock instead, the one that set them.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_issuer(&[config.issuer.as_str()]);
    validation.set_audience(&[config.audience.as_str()]);
    validation.required_spec_claims = ["exp", "nbf", "iat", "iss", "aud", "sub"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect::<HashSet<_>>();
    let data = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map_err(|_| ServiceError::InvalidToken)?;
    let claims = data.claims;
    let now = now.timestamp();
    let expired = claims.exp < now.saturating_sub(LEEWAY_SECS);
    let not_yet_valid = claims.nbf > now.saturating_add(LEEWAY_SECS);
    if expired || not_yet_valid || claims.typ != ACCESS_TYPE {
        return Err(ServiceError::InvalidToken);
    }
    let issued_at =
        DateTime::from_timestamp_millis(claims.iat_ms).ok_or(ServiceError::InvalidToken)?;
    Ok(AccessClaims {
        user_id: claims.sub,
        session_id: claims.sid,
        issued_at,
    })
}

/// A new opaque secret (refresh, verification and reset tokens): 256 random bits, URL-safe.
pub(crate) fn random_token() -> Result<String, ServiceError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ServiceError::internal("randomness", e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The refresh token that replaces `parent` at rotation: `HMAC-SHA256(k, parent)`, URL-safe,
/// where `k = HMAC-SHA256(JWT secret, SUCCESSOR_KEY_LABEL)`. Only the server can compute it,
/// and only from the raw parent token, which the database never holds; so within the reuse
/// interval the server can hand a second caller of the same parent the very successor the
/// first caller got, without storing any raw token. (Every successor is as unpredictable as a
/// random token to anyone without the secret.)
pub(crate) fn successor_token(config: &AuthConfig, parent: &str) -> Result<String, ServiceError> {
    let mut key = HmacSha256::new_from_slice(config.secret.expose())
        .map_err(|e| ServiceError::internal("successor key", e.to_string()))?;
    key.update(SUCCESSOR_KEY_LABEL);
    let key = key.finalize().into_bytes();
    let mut mac = HmacSha256::new_from_slice(&key)
        .map_err(|e| ServiceError::internal("successor token", e.to_string()))?;
    mac.update(parent.as_bytes());
    Ok(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// Separates the successor key from every other use of the JWT secret.
const SUCCESSOR_KEY_LABEL: &[u8] = b"doztra-auth/refresh-token-successor/v1";

type HmacSha256 = hmac::Hmac<Sha256>;

/// The stored form of a secret token: hex SHA-256.
pub(crate) fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let mut out = String::with_capacity(64);
    for byte in digest.iter() {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use super::*;
    use crate::JwtSecret;

    fn config(secret: &[u8]) -> AuthConfig {
        AuthConfig {
            secret: JwtSecret::new(secret.to_vec()).unwrap(),
            signing_key: None,
            issuer: "i".into(),
            audience: "a".into(),
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(86_400),
            refresh_idle_ttl: Duration::from_secs(3600),
            refresh_reuse_interval: Duration::from_secs(10),
        }
    }

    fn eddsa(keys: crate::Ed25519Keys) -> AuthConfig {
        AuthConfig {
            signing_key: Some(keys),
            ..config(&[9u8; 32])
        }
    }

    fn instant() -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000, 0).unwrap()
    }

    #[test]
    fn an_access_token_is_valid_on_the_given_clock_from_its_issue_to_the_end_of_its_lifetime() {
        let signer = config(&[7u8; 32]); // 900 s
        let issued = instant();
        let token = issue_access(&signer, Uuid::nil(), Uuid::nil(), issued).unwrap();
        let at = |secs| issued + chrono::TimeDelta::seconds(secs);
        // Five seconds of leeway either side, for instances whose clocks differ a little.
        for valid in [-5, 0, 899, 905] {
            assert!(verify_access(&signer, &token, at(valid)).is_ok(), "{valid}");
        }
        for refused in [-6, 906, 86_400] {
            assert!(
                verify_access(&signer, &token, at(refused)).is_err(),
                "{refused}"
            );
        }
    }

    #[test]
    fn eddsa_tokens_name_their_key_and_verify_only_with_a_known_one() {
        let now = instant();
        let old = crate::Ed25519Keys::generate().unwrap();
        let signer = eddsa(old.clone());
        let token = issue_access(&signer, Uuid::nil(), Uuid::nil(), now).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.kid.as_deref(), Some(old.kid()));
        assert!(verify_access(&signer, &token, now).is_ok());
        // A new key that still accepts the old one, then one that does not.
        let mut rolled = crate::Ed25519Keys::generate().unwrap();
        assert!(verify_access(&eddsa(rolled.clone()), &token, now).is_err());
        rolled.accept_for_tests(&old);
        assert!(verify_access(&eddsa(rolled), &token, now).is_ok());
        // The same claims under HS256 with the configured secret are refused: the algorithm
        // is pinned.
        let hs = issue_access(&config(&[9u8; 32]), Uuid::nil(), Uuid::nil(), now).unwrap();
        assert!(verify_access(&signer, &hs, now).is_err());
        assert!(verify_access(&config(&[9u8; 32]), &token, now).is_err());
    }

    #[test]
    fn a_successor_is_fixed_by_its_parent_and_the_secret_alone() {
        let one = config(&[1u8; 32]);
        let parent = random_token().unwrap();
        let successor = successor_token(&one, &parent).unwrap();
        assert_eq!(successor, successor_token(&one, &parent).unwrap());
        assert_eq!(successor.len(), 43, "256 bits, URL-safe");
        assert_ne!(successor, parent);
        assert_ne!(
            successor,
            successor_token(&one, &random_token().unwrap()).unwrap()
        );
        assert_ne!(
            successor,
            successor_token(&config(&[2u8; 32]), &parent).unwrap()
        );
        // A chain never repeats a token.
        let grandchild = successor_token(&one, &successor).unwrap();
        assert_ne!(grandchild, successor);
        assert_ne!(grandchild, parent);
    }
}
