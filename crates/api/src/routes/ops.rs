//! Operations: liveness, readiness, metrics.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{self, Data, Json};

use crate::dto::HealthResponse;
use crate::error::{ApiError, ErrorBody};
use crate::extractors::MetricsScraper;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/health").get(health))
        .service(web::resource("/health/ready").get(ready))
        .service(web::resource("/metrics").get(metrics));
}

/// Liveness: 200 while the process runs.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, body = HealthResponse)))]
pub async fn health() -> Json<HealthResponse> {
    Json(HealthResponse {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// Readiness: 200 when the database answers, else 503.
#[utoipa::path(get, path = "/health/ready", tag = "operations",
    responses((status = 200, body = HealthResponse), (status = 503, body = ErrorBody)))]
pub async fn ready(state: Data<AppState>) -> Result<Json<HealthResponse>, ApiError> {
    state.services.ready().await.map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "The database does not answer.",
        )
    })?;
    Ok(Json(HealthResponse {
        status: "ready",
        version: env!("CARGO_PKG_VERSION"),
    }))
}

/// The metrics in the OpenMetrics text format (which Prometheus scrapes natively). With
/// `METRICS_TOKEN` set, only for `Authorization: Bearer <METRICS_TOKEN>`.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "OpenMetrics 1.0 text", body = String,
            content_type = "application/openmetrics-text"),
        (status = 401, description = "not_authenticated / invalid_token: METRICS_TOKEN is set and was not presented", body = ErrorBody),
    ))]
pub async fn metrics(state: Data<AppState>, _scraper: MetricsScraper) -> HttpResponse {
    // The gauges come from the database; while it is away they keep their last values.
    match state.services.operational_gauges().await {
        Ok(gauges) => state.metrics.set_gauges(&gauges),
        Err(e) => tracing::warn!(error = %e, "metrics: the gauges could not be read"),
    }
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.render())
}
