//! `/api/usage/me/alerts`: the caller's usage alerts of the current period.

use actix_web::web::{self, Data, Json};

use crate::dto::webhooks::UsageAlertsResponse;
use crate::error::ApiError;
use crate::extractors::AuthUser;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/usage/me/alerts").get(get_usage_alerts));
}

/// The thresholds the caller's counters crossed this period, in the order they were crossed.
#[utoipa::path(get, path = "/api/usage/me/alerts", tag = "tokens", security(("bearer" = [])),
    responses((status = 200, body = UsageAlertsResponse)))]
pub async fn get_usage_alerts(
    state: Data<AppState>,
    user: AuthUser,
) -> Result<Json<UsageAlertsResponse>, ApiError> {
    let alerts = state.services.metering.alerts(user.0.id).await?;
    Ok(Json(UsageAlertsResponse {
        alerts: alerts.into_iter().map(Into::into).collect(),
    }))
}
