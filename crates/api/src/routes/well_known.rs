//! `/.well-known`: the public keys of access tokens (JWKS) and the discovery document that
//! points at them, so other services verify access tokens locally without any secret.

use actix_web::web::{self, Data};
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/.well-known/jwks.json").get(get_jwks))
        .service(web::resource("/.well-known/openid-configuration").get(get_openid_configuration));
}

/// How long verifiers may cache the documents: a new key is published before it signs (see
/// docs/INTEGRATION.md), so a few minutes of staleness never refuses a token.
const CACHE_CONTROL: &str = "public, max-age=300";

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

/// `GET /.well-known/jwks.json`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JwksResponse {
    /// The current signing key first, then the previous ones still accepted (none with HS256).
    pub keys: Vec<Jwk>,
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

/// The public keys access tokens are verified with.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "operations",
    responses((status = 200, body = JwksResponse)))]
pub async fn get_jwks(state: Data<AppState>) -> HttpResponse {
    let keys = state
        .services
        .public_keys()
        .into_iter()
        .map(|k| Jwk {
            kty: "OKP",
            crv: "Ed25519",
            x: k.x,
            kid: k.kid,
            alg: "EdDSA",
            use_: "sig",
        })
        .collect();
    HttpResponse::Ok()
        .insert_header(("cache-control", CACHE_CONTROL))
        .json(JwksResponse { keys })
}

/// The issuer and where its keys are.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "operations",
    responses((status = 200, body = OpenIdConfiguration)))]
pub async fn get_openid_configuration(state: Data<AppState>, req: HttpRequest) -> HttpResponse {
    // The address the caller reached us at (the Host header, and the scheme the connection or a
    // proxy reports).
    let info = req.connection_info();
    let jwks_uri = format!("{}://{}/.well-known/jwks.json", info.scheme(), info.host());
    let algorithm = if state.services.public_keys().is_empty() {
        "HS256"
    } else {
        "EdDSA"
    };
    // Not cacheable by shared caches: jwks_uri follows the request's Host.
    HttpResponse::Ok()
        .insert_header(("cache-control", "no-cache"))
        .json(OpenIdConfiguration {
            issuer: state.services.token_issuer().to_owned(),
            jwks_uri,
            id_token_signing_alg_values_supported: vec![algorithm],
            subject_types_supported: vec!["public"],
            response_types_supported: vec!["code"],
        })
}
