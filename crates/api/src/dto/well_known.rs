//! `/.well-known`: the public keys of access tokens (JWKS) and the discovery document.

use serde::Serialize;
use service::PublicJwk;
use utoipa::ToSchema;

/// One public key.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Jwk {
    /// `OKP`.
    #[schema(example = "OKP")]
    pub kty: &'static str,
    /// `Ed25519`.
    #[schema(example = "Ed25519")]
    pub crv: &'static str,
    /// The public key, base64url.
    #[schema(example = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")]
    pub x: String,
    /// The key's RFC 7638 thumbprint, the `kid` of the tokens it signs.
    #[schema(example = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")]
    pub kid: String,
    /// `EdDSA`.
    #[schema(example = "EdDSA")]
    pub alg: &'static str,
    /// `sig`.
    #[serde(rename = "use")]
    #[schema(example = "sig")]
    pub use_: &'static str,
}

impl From<PublicJwk> for Jwk {
    fn from(key: PublicJwk) -> Self {
        Self {
            kty: "OKP",
            crv: "Ed25519",
            x: key.x,
            kid: key.kid,
            alg: "EdDSA",
            use_: "sig",
        }
    }
}

/// `GET /.well-known/jwks.json`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JwksResponse {
    /// The current signing key first, then the previous ones still accepted (none with HS256).
    pub keys: Vec<Jwk>,
}

impl From<Vec<PublicJwk>> for JwksResponse {
    fn from(keys: Vec<PublicJwk>) -> Self {
        Self {
            keys: keys.into_iter().map(Into::into).collect(),
        }
    }
}

/// The discovery document (the OpenID Provider Metadata fields that apply).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OpenIdConfiguration {
    /// `JWT_ISSUER`: the `iss` of every access token.
    #[schema(example = "doztra-auth")]
    pub issuer: String,
    /// Where the public keys are.
    #[schema(example = "https://auth.example.com/.well-known/jwks.json")]
    pub jwks_uri: String,
    #[schema(example = json!(["EdDSA"]))]
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    #[schema(example = json!(["public"]))]
    pub subject_types_supported: Vec<&'static str>,
    #[schema(example = json!(["code"]))]
    pub response_types_supported: Vec<&'static str>,
}

impl OpenIdConfiguration {
    /// The document of `issuer`, whose access tokens are signed with `algorithm` and whose
    /// public keys are at `jwks_uri`.
    pub fn new(issuer: &str, algorithm: &'static str, jwks_uri: String) -> Self {
        Self {
            issuer: issuer.to_owned(),
            jwks_uri,
            id_token_signing_alg_values_supported: vec![algorithm],
            subject_types_supported: vec!["public"],
            response_types_supported: vec!["code"],
        }
    }
}
