//! `/api/admin/api-keys`: service API keys (role `admin`).

use actix_web::HttpResponse;
use actix_web::web::{self, Data, Json, Path};
use uuid::Uuid;

use crate::dto::api_keys::{ApiKeyListResponse, ApiKeyResponse, CreateApiKeyRequest};
use crate::error::{ApiError, ErrorBody};
use crate::extractors::{AdminUser, JsonBody};
use crate::state::AppState;

/// Registered inside the `/admin` scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api-keys")
            .route(web::get().to(list_api_keys))
            .route(web::post().to(create_api_key)),
    )
    .service(
        web::resource("/api-keys/{id}")
            .route(web::get().to(get_api_key))
            .route(web::delete().to(revoke_api_key)),
    );
}

/// Creates a key; the answer carries its secret, this once.
#[utoipa::path(post, path = "/api/admin/api-keys", tag = "admin", security(("bearer" = [])),
    request_body = CreateApiKeyRequest,
    responses(
        (status = 201, body = ApiKeyResponse),
        (status = 403, description = "admin_required", body = ErrorBody),
        (status = 422, description = "validation_error (name, scopes, expires_at)", body = ErrorBody),
    ))]
pub async fn create_api_key(
    state: Data<AppState>,
    admin: AdminUser,
    body: JsonBody<CreateApiKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let new = body.into_inner().try_into()?;
    let created = state.services.api_keys.create(&admin.0, new).await?;
    Ok(HttpResponse::Created().json(ApiKeyResponse::from(created)))
}

/// Every key, newest first (without secrets).
#[utoipa::path(get, path = "/api/admin/api-keys", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, body = ApiKeyListResponse),
        (status = 403, description = "admin_required", body = ErrorBody),
    ))]
pub async fn list_api_keys(
    state: Data<AppState>,
    admin: AdminUser,
) -> Result<Json<ApiKeyListResponse>, ApiError> {
    let keys = state.services.api_keys.list(&admin.0).await?;
    Ok(Json(ApiKeyListResponse {
        api_keys: keys.into_iter().map(Into::into).collect(),
    }))
}

/// One key (without its secret).
#[utoipa::path(get, path = "/api/admin/api-keys/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = ApiKeyResponse),
        (status = 403, description = "admin_required", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
    ))]
pub async fn get_api_key(
    state: Data<AppState>,
    admin: AdminUser,
    id: Path<Uuid>,
) -> Result<Json<ApiKeyResponse>, ApiError> {
    Ok(Json(
        state
            .services
            .api_keys
            .get(&admin.0, id.into_inner())
            .await?
            .into(),
    ))
}

/// Revokes a key: refused from the next request on.
#[utoipa::path(delete, path = "/api/admin/api-keys/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "revoked"),
        (status = 403, description = "admin_required", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
    ))]
pub async fn revoke_api_key(
    state: Data<AppState>,
    admin: AdminUser,
    id: Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state
        .services
        .api_keys
        .revoke(&admin.0, id.into_inner())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
