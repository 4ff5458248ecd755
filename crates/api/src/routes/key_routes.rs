//! The key routes: what an AI backend does for a user with a service API key
//! (`/api/tokens/users/{user_id}/...`, `/api/usage/users/{user_id}`, `/api/users/lookup`).
//! They answer exactly what the user's own `/me` routes answer; a user's access token never
//! opens them, and a key opens nothing else.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{self, Data, Json, Path};
use uuid::Uuid;

use crate::dto::api_keys::{UserLookupParams, UserSummaryResponse};
use crate::dto::reservations::{
    ReservationListResponse, ReservationRequestBody, ReservationResponse,
};
use crate::dto::usage::{
    CheckRequestBody, CheckResponse, HistoryParams, HistoryResponse, TokenStatsResponse,
    TrackRequestBody, TrackResponse, UsageResponse,
};
use crate::error::{ApiError, ErrorBody};
use crate::extractors::{ApiKeyCredential, JsonBody, QueryParams};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/tokens/users/{user_id}").get(get_user_token_stats))
        .service(web::resource("/tokens/users/{user_id}/track").post(track_user_usage))
        .service(web::resource("/tokens/users/{user_id}/check").post(check_user_usage))
        .service(web::resource("/tokens/users/{user_id}/history").get(get_user_usage_history))
        .service(
            web::resource("/tokens/users/{user_id}/reservations")
                .route(web::post().to(reserve_for_user))
                .route(web::get().to(list_user_reservations)),
        )
        .service(
            web::resource("/tokens/users/{user_id}/reservations/{id}")
                .delete(release_user_reservation),
        )
        .service(web::resource("/usage/users/{user_id}").get(get_user_usage))
        .service(web::resource("/users/lookup").get(lookup_user));
}

/// Records one LLM request's tokens for a user (`usage:write`), exactly once per `request_id`
/// (shared with the user's own `/me/track`).
#[utoipa::path(post, path = "/api/tokens/users/{user_id}/track", tag = "keys", security(("api_key" = [])),
    params(("user_id" = Uuid, Path)),
    request_body = TrackRequestBody,
    responses(
        (status = 200, body = TrackResponse),
        (status = 401, description = "not_authenticated / invalid_api_key", body = ErrorBody),
        (status = 402, description = "token_limit_exceeded / *_limit_exceeded (with limit, used, reset_date)", body = ErrorBody),
        (status = 403, description = "insufficient_scope / model_not_allowed", body = ErrorBody),
        (status = 404, description = "not_found: no such active user", body = ErrorBody),
        (status = 409, description = "request_id_conflict / reservation_settled", body = ErrorBody),
        (status = 422, description = "validation_error / unknown_model", body = ErrorBody),
    ))]
pub async fn track_user_usage(
    state: Data<AppState>,
    key: ApiKeyCredential,
    user_id: Path<Uuid>,
    body: JsonBody<TrackRequestBody>,
) -> Result<Json<TrackResponse>, ApiError> {
    let keys = &state.services.api_keys;
    Ok(Json(
        keys.track(&key.0, user_id.into_inner(), body.into_inner())
            .await?
            .into(),
    ))
}

/// Whether a user's request would be accepted now (`usage:write`); records nothing.
#[utoipa::path(post, path = "/api/tokens/users/{user_id}/check", tag = "keys", security(("api_key" = [])),
    params(("user_id" = Uuid, Path)),
    request_body = CheckRequestBody,
    responses(
        (status = 200, body = CheckResponse),
        (status = 401, description = "not_authenticated / invalid_api_key", body = ErrorBody),
        (status = 402, body = ErrorBody),
        (status = 403, description = "insufficient_scope / model_not_allowed", body = ErrorBody),
        (status = 404, description = "not_found: no such active user", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn check_user_usage(
    state: Data<AppState>,
    key: ApiKeyCredential,
    user_id: Path<Uuid>,
    body: JsonBody<CheckRequestBody>,
) -> Result<Json<CheckResponse>, ApiError> {
    let keys = &state.services.api_keys;
    Ok(Json(
        keys.check(&key.0, user_id.into_inner(), body.into_inner())
            .await?
            .into(),
    ))
}

/// A user's token statistics of this period (`usage:read`).
#[utoipa::path(get, path = "/api/tokens/users/{user_id}", tag = "keys", security(("api_key" = [])),
    params(("user_id" = Uuid, Path)),
    responses(
        (status = 200, body = TokenStatsResponse),
        (status = 401, description = "not_authenticated / invalid_api_key", body = ErrorBody),
        (status = 403, description = "insufficient_scope", body = ErrorBody),
        (status = 404, description = "not_found: no such active user", body = ErrorBody),
    ))]
pub async fn get_user_token_stats(
    state: Data<AppState>,
    key: ApiKeyCredential,
    user_id: Path<Uuid>,
) -> Result<Json<TokenStatsResponse>, ApiError> {
    let keys = &state.services.api_keys;
    Ok(Json(
        keys.statistics(&key.0, user_id.into_inner()).await?.into(),
    ))
}

/// A user's recorded requests, newest first (`usage:read`).
#[utoipa::path(get, path = "/api/tokens/users/{user_id}/history", tag = "keys", security(("api_key" = [])),
    params(("user_id" = Uuid, Path), HistoryParams),
    responses(
        (status = 200, body = HistoryResponse),
        (status = 401, description = "not_authenticated / invalid_api_key", body = ErrorBody),
        (status = 403, description = "insufficient_scope", body = ErrorBody),
        (status = 404, description = "not_found: no such active user", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn get_user_usage_history(
    state: Data<AppState>,
    key: ApiKeyCredential,
    user_id: Path<Uuid>,
    params: QueryParams<HistoryParams>,
) -> Result<Json<HistoryResponse>, ApiError> {
    let keys = &state.services.api_keys;
    Ok(Json(
        keys.history(&key.0, user_id.into_inner(), params.into_inner())
            .await?
            .into(),
    ))
}

/// A user's counters of this period with their limits (`usage:read`).
#[utoipa::path(get, path = "/api/usage/users/{user_id}", tag = "keys", security(("api_key" = [])),
    params(("user_id" = Uuid, Path)),
    responses(
        (status = 200, body = UsageResponse),
        (status = 401, description = "not_authenticated / invalid_api_key", body = ErrorBody),
        (status = 403, description = "insufficient_scope", body = ErrorBody),
        (status = 404, description = "not_found: no such active user", body = ErrorBody),
    ))]
pub async fn get_user_usage(
    state: Data<AppState>,
    key: ApiKeyCredential,
    user_id: Path<Uuid>,
) -> Result<Json<UsageResponse>, ApiError> {
    let keys = &state.services.api_keys;
    Ok(Json(keys.usage(&key.0, user_id.into_inner()).await?.into()))
}

/// A user by id or email (`users:read`): id, email, name, plan, is_active.
#[utoipa::path(get, path = "/api/users/lookup", tag = "keys", security(("api_key" = [])),
    params(UserLookupParams),
    responses(
        (status = 200, body = UserSummaryResponse),
        (status = 401, description = "not_authenticated / invalid_api_key", body = ErrorBody),
        (status = 403, description = "insufficient_scope", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
        (status = 422, description = "validation_error: neither or both of id and email, a malformed id", body = ErrorBody),
    ))]
pub async fn lookup_user(
    state: Data<AppState>,
    key: ApiKeyCredential,
    params: QueryParams<UserLookupParams>,
) -> Result<Json<UserSummaryResponse>, ApiError> {
    let by = params.into_inner().try_into()?;
    Ok(Json(
        state.services.api_keys.lookup(&key.0, by).await?.into(),
    ))
}

/// Reserves an estimate for a user's streamed call (`usage:write`): 201 when granted, 200 for
/// a retry with the same `request_id`. A track through the key route (or the user's own) with
/// `reservation_id` settles it.
#[utoipa::path(post, path = "/api/tokens/users/{user_id}/reservations", tag = "keys", security(("api_key" = [])),
    params(("user_id" = Uuid, Path)),
    request_body = ReservationRequestBody,
    responses(
        (status = 201, body = ReservationResponse),
        (status = 200, description = "a retry: the reservation granted before", body = ReservationResponse),
        (status = 401, description = "not_authenticated / invalid_api_key", body = ErrorBody),
        (status = 402, description = "the estimate does not fit (token_limit_exceeded) or a unit limit is reached", body = ErrorBody),
        (status = 403, description = "insufficient_scope / model_not_allowed", body = ErrorBody),
        (status = 404, description = "not_found: no such active user", body = ErrorBody),
        (status = 409, description = "request_id_conflict", body = ErrorBody),
        (status = 422, description = "validation_error / unknown_model", body = ErrorBody),
    ))]
pub async fn reserve_for_user(
    state: Data<AppState>,
    key: ApiKeyCredential,
    user_id: Path<Uuid>,
    body: JsonBody<ReservationRequestBody>,
) -> Result<HttpResponse, ApiError> {
    let keys = &state.services.api_keys;
    let (reservation, created) = keys
        .reserve(&key.0, user_id.into_inner(), body.into_inner())
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(ReservationResponse::from(reservation)))
}

/// A user's reservations that count now, and what they hold (`usage:read`).
#[utoipa::path(get, path = "/api/tokens/users/{user_id}/reservations", tag = "keys", security(("api_key" = [])),
    params(("user_id" = Uuid, Path)),
    responses(
        (status = 200, body = ReservationListResponse),
        (status = 401, description = "not_authenticated / invalid_api_key", body = ErrorBody),
        (status = 403, description = "insufficient_scope", body = ErrorBody),
        (status = 404, description = "not_found: no such active user", body = ErrorBody),
    ))]
pub async fn list_user_reservations(
    state: Data<AppState>,
    key: ApiKeyCredential,
    user_id: Path<Uuid>,
) -> Result<Json<ReservationListResponse>, ApiError> {
    let keys = &state.services.api_keys;
    Ok(Json(
        keys.reservations(&key.0, user_id.into_inner())
            .await?
            .into(),
    ))
}

/// Gives back one of a user's reservations (`usage:write`).
#[utoipa::path(delete, path = "/api/tokens/users/{user_id}/reservations/{id}", tag = "keys", security(("api_key" = [])),
    params(("user_id" = Uuid, Path), ("id" = String, Path, description = "The reservation id")),
    responses(
        (status = 204, description = "released"),
        (status = 401, description = "not_authenticated / invalid_api_key", body = ErrorBody),
        (status = 403, description = "insufficient_scope", body = ErrorBody),
        (status = 404, description = "not_found (no such active user, or not this user's reservation)", body = ErrorBody),
        (status = 409, description = "reservation_settled", body = ErrorBody),
    ))]
pub async fn release_user_reservation(
    state: Data<AppState>,
    key: ApiKeyCredential,
    path: Path<(Uuid, String)>,
) -> Result<HttpResponse, ApiError> {
    let (user_id, id) = path.into_inner();
    state
        .services
        .api_keys
        .release(&key.0, user_id, &id)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
