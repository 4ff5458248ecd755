//! `/api/admin/users`: account administration (role `admin`).

use actix_web::HttpResponse;
use actix_web::middleware::from_fn;
use actix_web::web::{self, Data, Json, Path};
use uuid::Uuid;

use crate::dto::{
    AdminCreateUserRequest, AdminPatchRequest, UserListParams, UserListResponse, UserResponse,
};
use crate::error::{ApiError, ErrorBody};
use crate::extractors::{AdminUser, JsonBody, QueryParams, admin_first};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin")
            .wrap(from_fn(admin_first))
            .configure(super::webhooks::configure)
            .configure(super::api_keys::configure)
            .service(
                web::resource("/users")
                    .route(web::get().to(list_users))
                    .route(web::post().to(create_user)),
            )
            .service(
                web::resource("/users/{id}")
                    .route(web::get().to(get_user))
                    .route(web::patch().to(patch_user))
                    .route(web::delete().to(delete_user)),
            ),
    );
}

/// Lists accounts with filters, sorting and pagination.
#[utoipa::path(get, path = "/api/admin/users", tag = "admin", security(("bearer" = [])), params(UserListParams),
    responses(
        (status = 200, body = UserListResponse),
        (status = 403, description = "admin_required", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn list_users(
    state: Data<AppState>,
    admin: AdminUser,
    params: QueryParams<UserListParams>,
) -> Result<Json<UserListResponse>, ApiError> {
    let query = params.into_inner().try_into()?;
    let page = state.services.admin.list_users(&admin.0, query).await?;
    Ok(Json(page.into()))
}

/// One account.
#[utoipa::path(get, path = "/api/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = UserResponse), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_user(
    state: Data<AppState>,
    admin: AdminUser,
    id: Path<Uuid>,
) -> Result<Json<UserResponse>, ApiError> {
    let profile = state
        .services
        .admin
        .get_user(&admin.0, id.into_inner())
        .await?;
    Ok(Json(profile.into()))
}

/// Creates an account; an admin may choose its role and plan (no payment).
#[utoipa::path(post, path = "/api/admin/users", tag = "admin", security(("bearer" = [])),
    request_body = AdminCreateUserRequest,
    responses(
        (status = 201, body = UserResponse),
        (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn create_user(
    state: Data<AppState>,
    admin: AdminUser,
    body: JsonBody<AdminCreateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let new = body.into_inner().try_into()?;
    let profile = state.services.admin.create_user(&admin.0, new).await?;
    Ok(HttpResponse::Created().json(UserResponse::from(profile)))
}

/// Admin override: activation, verification, role, plan and limits, without payment.
#[utoipa::path(patch, path = "/api/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = AdminPatchRequest,
    responses(
        (status = 200, body = UserResponse),
        (status = 403, description = "admin_required / forbidden_self_change", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "last_admin: the change would leave no active admin", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn patch_user(
    state: Data<AppState>,
    admin: AdminUser,
    id: Path<Uuid>,
    body: JsonBody<AdminPatchRequest>,
) -> Result<Json<UserResponse>, ApiError> {
    let patch = body.into_inner().try_into()?;
    let admins = &state.services.admin;
    let profile = admins.patch_user(&admin.0, id.into_inner(), patch).await?;
    Ok(Json(profile.into()))
}

/// Deletes an account and everything it owns.
#[utoipa::path(delete, path = "/api/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "deleted"),
        (status = 403, description = "admin_required / forbidden_self_change", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "last_admin: the change would leave no active admin", body = ErrorBody),
    ))]
pub async fn delete_user(
    state: Data<AppState>,
    admin: AdminUser,
    id: Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let admins = &state.services.admin;
    admins.delete_user(&admin.0, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
