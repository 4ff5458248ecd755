//! `/api/tokens/me/reservations`: reserve tokens before a streamed call, list, release.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{self, Data, Json, Path};

use crate::dto::reservations::{
    ReservationListResponse, ReservationRequestBody, ReservationResponse,
};
use crate::error::{ApiError, ErrorBody};
use crate::extractors::{AuthSubscriber, AuthUser, JsonBody};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/tokens/me/reservations")
            .post(create_reservation)
            .get(list_reservations),
    )
    .service(web::resource("/tokens/me/reservations/{id}").delete(release_reservation));
}

/// Reserves an estimate when all of it fits (201); a retry with the same `request_id` answers
/// the same reservation (200).
#[utoipa::path(post, path = "/api/tokens/me/reservations", tag = "tokens", security(("bearer" = [])),
    request_body = ReservationRequestBody,
    responses(
        (status = 201, body = ReservationResponse),
        (status = 200, description = "a retry: the reservation granted before", body = ReservationResponse),
        (status = 402, description = "the estimate does not fit (token_limit_exceeded) or a unit limit is reached", body = ErrorBody),
        (status = 403, description = "model_not_allowed", body = ErrorBody),
        (status = 409, description = "request_id_conflict", body = ErrorBody),
        (status = 422, description = "validation_error / unknown_model", body = ErrorBody),
    ))]
pub async fn create_reservation(
    state: Data<AppState>,
    caller: AuthSubscriber,
    body: JsonBody<ReservationRequestBody>,
) -> Result<HttpResponse, ApiError> {
    let command = body.into_inner().try_into()?;
    let (reservation, created) = state
        .services
        .metering
        .reserve_for(caller.0, command)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(ReservationResponse::from(reservation)))
}

/// The caller's reservations that count now, and what they hold.
#[utoipa::path(get, path = "/api/tokens/me/reservations", tag = "tokens", security(("bearer" = [])),
    responses((status = 200, body = ReservationListResponse), (status = 401, body = ErrorBody)))]
pub async fn list_reservations(
    state: Data<AppState>,
    user: AuthUser,
) -> Result<Json<ReservationListResponse>, ApiError> {
    Ok(Json(
        state
            .services
            .metering
            .reservations(user.0.id)
            .await?
            .into(),
    ))
}

/// Gives a reservation back (a released or expired one: nothing to do).
#[utoipa::path(delete, path = "/api/tokens/me/reservations/{id}", tag = "tokens", security(("bearer" = [])),
    params(("id" = String, Path, description = "The reservation id")),
    responses(
        (status = 204, description = "released"),
        (status = 404, description = "not_found (unknown, or another user's)", body = ErrorBody),
        (status = 409, description = "reservation_settled", body = ErrorBody),
    ))]
pub async fn release_reservation(
    state: Data<AppState>,
    user: AuthUser,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.services.metering.release(user.0.id, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
