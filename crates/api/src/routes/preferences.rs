//! `/api/preferences/me`.

use actix_web::web::{self, Data, Json};

use crate::dto::{PreferencesResponse, PreferencesUpdateRequest};
use crate::error::{ApiError, ErrorBody};
use crate::extractors::{AuthUser, JsonBody};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/preferences/me")
            .get(get_preferences)
            .put(update_preferences),
    );
}

/// The caller's preferences (defaults on first read).
#[utoipa::path(get, path = "/api/preferences/me", tag = "preferences", security(("bearer" = [])),
    responses((status = 200, body = PreferencesResponse), (status = 401, body = ErrorBody)))]
pub async fn get_preferences(
    state: Data<AppState>,
    user: AuthUser,
) -> Result<Json<PreferencesResponse>, ApiError> {
    Ok(Json(
        state.services.preferences.get(user.0.id).await?.into(),
    ))
}

/// Partial update of the caller's preferences.
#[utoipa::path(put, path = "/api/preferences/me", tag = "preferences", security(("bearer" = [])),
    request_body = PreferencesUpdateRequest,
    responses(
        (status = 200, body = PreferencesResponse),
        (status = 403, description = "model_not_allowed", body = ErrorBody),
        (status = 422, description = "validation_error / unknown_model", body = ErrorBody),
    ))]
pub async fn update_preferences(
    state: Data<AppState>,
    user: AuthUser,
    body: JsonBody<PreferencesUpdateRequest>,
) -> Result<Json<PreferencesResponse>, ApiError> {
    let update = body.into_inner().try_into()?;
    let preferences = state.services.preferences.update(user.0.id, update).await?;
    Ok(Json(preferences.into()))
}
