//! `/.well-known`: the public keys of access tokens (JWKS) and the discovery document that
//! points at them, so other services verify access tokens locally without any secret.

use actix_web::web::{self, Data};
use actix_web::{HttpRequest, HttpResponse};

use crate::dto::well_known::{JwksResponse, OpenIdConfiguration};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/.well-known/jwks.json").get(get_jwks))
        .service(web::resource("/.well-known/openid-configuration").get(get_openid_configuration));
}

/// How long verifiers may cache the documents: a new key is published before it signs (see
/// docs/INTEGRATION.md), so a few minutes of staleness never refuses a token.
const CACHE_CONTROL: &str = "public, max-age=300";

/// The public keys access tokens are verified with.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "operations",
    responses((status = 200, body = JwksResponse)))]
pub async fn get_jwks(state: Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("cache-control", CACHE_CONTROL))
        .json(JwksResponse::from(state.services.public_keys()))
}

/// The issuer and where its keys are.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "operations",
    responses((status = 200, body = OpenIdConfiguration)))]
pub async fn get_openid_configuration(state: Data<AppState>, req: HttpRequest) -> HttpResponse {
    let services = &state.services;
    let algorithm = services.access_token_algorithm();
    let document = OpenIdConfiguration::new(services.token_issuer(), algorithm, jwks_uri(&req));
    // Not cacheable by shared caches: jwks_uri follows the request's Host.
    HttpResponse::Ok()
        .insert_header(("cache-control", "no-cache"))
        .json(document)
}

/// Where the keys are, at the address the caller reached us at (the Host header, and the
/// scheme the connection or a proxy reports).
fn jwks_uri(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}/.well-known/jwks.json", info.scheme(), info.host())
}
