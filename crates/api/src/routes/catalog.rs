//! `/api/plans` (public) and `/api/models`.

use actix_web::web::{self, Data, Json};

use crate::dto::{ModelsResponse, PlansResponse};
use crate::error::{ApiError, ErrorBody};
use crate::extractors::AuthUser;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/plans").get(list_plans))
        .service(web::resource("/models").get(list_models));
}

/// Every plan with price, limits and allowed models.
#[utoipa::path(get, path = "/api/plans", tag = "catalog", responses((status = 200, body = PlansResponse)))]
pub async fn list_plans(state: Data<AppState>) -> Json<PlansResponse> {
    Json(PlansResponse {
        plans: state
            .services
            .catalogs
            .plans()
            .into_iter()
            .map(Into::into)
            .collect(),
    })
}

/// The model catalog with each model's tier and whether the caller's plan allows it.
#[utoipa::path(get, path = "/api/models", tag = "catalog", security(("bearer" = [])),
    responses((status = 200, body = ModelsResponse), (status = 401, body = ErrorBody)))]
pub async fn list_models(
    state: Data<AppState>,
    user: AuthUser,
) -> Result<Json<ModelsResponse>, ApiError> {
    Ok(Json(
        state.services.catalogs.models_for(user.0.id).await?.into(),
    ))
}
