//! `/api/admin/webhooks`: outgoing webhook endpoints and their deliveries (role `admin`).

use actix_web::HttpResponse;
use actix_web::web::{self, Data, Json, Path};
use uuid::Uuid;

use crate::dto::webhooks::{
    CreateWebhookRequest, DeliveryListParams, WebhookDeliveryListResponse,
    WebhookEndpointListResponse, WebhookEndpointResponse,
};
use crate::error::{ApiError, ErrorBody};
use crate::extractors::{AdminUser, JsonBody, QueryParams};
use crate::state::AppState;

/// Registered inside the `/admin` scope (actix gives one scope per prefix).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/webhooks")
            .route(web::get().to(list_webhooks))
            .route(web::post().to(create_webhook)),
    )
    .service(
        web::resource("/webhooks/{id}")
            .route(web::get().to(get_webhook))
            .route(web::delete().to(delete_webhook)),
    )
    .service(web::resource("/webhooks/{id}/deliveries").route(web::get().to(list_deliveries)));
}

/// Registers an endpoint; the answer carries its signing secret, this once.
#[utoipa::path(post, path = "/api/admin/webhooks", tag = "admin", security(("bearer" = [])),
    request_body = CreateWebhookRequest,
    responses(
        (status = 201, body = WebhookEndpointResponse),
        (status = 403, description = "admin_required", body = ErrorBody),
        (status = 422, description = "validation_error (url, event_types, description)", body = ErrorBody),
    ))]
pub async fn create_webhook(
    state: Data<AppState>,
    admin: AdminUser,
    body: JsonBody<CreateWebhookRequest>,
) -> Result<HttpResponse, ApiError> {
    let endpoint = body.into_inner().try_into()?;
    let created = state.services.webhooks.create(&admin.0, endpoint).await?;
    Ok(HttpResponse::Created().json(WebhookEndpointResponse::from(created)))
}

/// Every endpoint, newest first (without secrets).
#[utoipa::path(get, path = "/api/admin/webhooks", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, body = WebhookEndpointListResponse),
        (status = 403, description = "admin_required", body = ErrorBody),
    ))]
pub async fn list_webhooks(
    state: Data<AppState>,
    admin: AdminUser,
) -> Result<Json<WebhookEndpointListResponse>, ApiError> {
    let endpoints = state.services.webhooks.list(&admin.0).await?;
    Ok(Json(WebhookEndpointListResponse {
        endpoints: endpoints.into_iter().map(Into::into).collect(),
    }))
}

/// One endpoint (without its secret).
#[utoipa::path(get, path = "/api/admin/webhooks/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = WebhookEndpointResponse),
        (status = 403, description = "admin_required", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
    ))]
pub async fn get_webhook(
    state: Data<AppState>,
    admin: AdminUser,
    id: Path<Uuid>,
) -> Result<Json<WebhookEndpointResponse>, ApiError> {
    Ok(Json(
        state
            .services
            .webhooks
            .get(&admin.0, id.into_inner())
            .await?
            .into(),
    ))
}

/// Deletes an endpoint and its deliveries (pending ones are not sent).
#[utoipa::path(delete, path = "/api/admin/webhooks/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "deleted"),
        (status = 403, description = "admin_required", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
    ))]
pub async fn delete_webhook(
    state: Data<AppState>,
    admin: AdminUser,
    id: Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state
        .services
        .webhooks
        .delete(&admin.0, id.into_inner())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// An endpoint's deliveries, newest first: event, status, attempts, last error.
#[utoipa::path(get, path = "/api/admin/webhooks/{id}/deliveries", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path), DeliveryListParams),
    responses(
        (status = 200, body = WebhookDeliveryListResponse),
        (status = 403, description = "admin_required", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
        (status = 422, description = "validation_error (page, limit)", body = ErrorBody),
    ))]
pub async fn list_deliveries(
    state: Data<AppState>,
    admin: AdminUser,
    id: Path<Uuid>,
    params: QueryParams<DeliveryListParams>,
) -> Result<Json<WebhookDeliveryListResponse>, ApiError> {
    Ok(Json(
        state
            .services
            .webhooks
            .deliveries(&admin.0, id.into_inner(), params.into_inner())
            .await?
            .into(),
    ))
}
