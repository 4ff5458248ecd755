//! `/api/tokens` and `/api/usage`: metering and usage statistics.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::middleware::from_fn;
use actix_web::web::{self, Data, Json};

use crate::dto::usage::{
    AdminUsageParams, AdminUsageRequest, AdminUsageResponse, CheckRequestBody, CheckResponse,
    HistoryParams, HistoryResponse, ReportFormat, TokenStatsResponse, TrackRequestBody,
    TrackResponse, UsageResponse,
};
use crate::error::{ApiError, ErrorBody};
use crate::extractors::{AdminUser, AuthSubscriber, AuthUser, JsonBody, QueryParams, admin_first};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/tokens/me").get(get_token_stats))
        .service(web::resource("/tokens/me/track").post(track_usage))
        .service(web::resource("/tokens/me/check").post(check_usage))
        .service(web::resource("/tokens/me/history").get(get_usage_history))
        .service(
            web::resource("/tokens/admin/usage")
                .wrap(from_fn(admin_first))
                .get(get_admin_usage),
        )
        .service(web::resource("/usage/me").get(get_usage))
        .service(web::resource("/users/me/usage").get(get_usage_alias));
}

/// Records one LLM request's tokens, exactly once per `request_id`.
#[utoipa::path(post, path = "/api/tokens/me/track", tag = "tokens", security(("bearer" = [])),
    request_body = TrackRequestBody,
    responses(
        (status = 200, body = TrackResponse),
        (status = 402, description = "token_limit_exceeded / *_limit_exceeded (with limit, used, reset_date)", body = ErrorBody),
        (status = 403, description = "model_not_allowed", body = ErrorBody),
        (status = 409, description = "request_id_conflict", body = ErrorBody),
        (status = 422, description = "validation_error / unknown_model", body = ErrorBody),
    ))]
pub async fn track_usage(
    state: Data<AppState>,
    caller: AuthSubscriber,
    body: JsonBody<TrackRequestBody>,
) -> Result<Json<TrackResponse>, ApiError> {
    let metering = &state.services.metering;
    Ok(Json(
        metering
            .track_for(caller.0, body.into_inner())
            .await?
            .into(),
    ))
}

/// Answers whether a request would be accepted now; records nothing.
#[utoipa::path(post, path = "/api/tokens/me/check", tag = "tokens", security(("bearer" = [])),
    request_body = CheckRequestBody,
    responses(
        (status = 200, body = CheckResponse),
        (status = 402, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn check_usage(
    state: Data<AppState>,
    caller: AuthSubscriber,
    body: JsonBody<CheckRequestBody>,
) -> Result<Json<CheckResponse>, ApiError> {
    let command = body.into_inner().try_into()?;
    Ok(Json(
        state
            .services
            .metering
            .check_for(caller.0, command)
            .await?
            .into(),
    ))
}

/// This period's token statistics (from roll-ups: cost independent of the number of events).
#[utoipa::path(get, path = "/api/tokens/me", tag = "tokens", security(("bearer" = [])),
    responses((status = 200, body = TokenStatsResponse), (status = 401, body = ErrorBody)))]
pub async fn get_token_stats(
    state: Data<AppState>,
    user: AuthUser,
) -> Result<Json<TokenStatsResponse>, ApiError> {
    Ok(Json(
        state.services.metering.statistics(user.0.id).await?.into(),
    ))
}

/// The caller's recorded requests, newest first.
#[utoipa::path(get, path = "/api/tokens/me/history", tag = "tokens", security(("bearer" = [])),
    params(HistoryParams),
    responses((status = 200, body = HistoryResponse), (status = 422, body = ErrorBody)))]
pub async fn get_usage_history(
    state: Data<AppState>,
    user: AuthUser,
    params: QueryParams<HistoryParams>,
) -> Result<Json<HistoryResponse>, ApiError> {
    Ok(Json(
        state
            .services
            .reports
            .history(user.0.id, params.into_inner())
            .await?
            .into(),
    ))
}

/// Usage across all users (admin), as JSON or CSV.
#[utoipa::path(get, path = "/api/tokens/admin/usage", tag = "tokens", security(("bearer" = [])),
    params(AdminUsageParams),
    responses(
        (status = 200, description = "JSON, or CSV with format=csv", content(
            (AdminUsageResponse = "application/json"),
            (String = "text/csv"),
        )),
        (status = 403, description = "admin_required", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn get_admin_usage(
    state: Data<AppState>,
    admin: AdminUser,
    params: QueryParams<AdminUsageParams>,
) -> Result<HttpResponse, ApiError> {
    let AdminUsageRequest { query, format } = params.into_inner().try_into()?;
    let report = state.services.reports.admin_usage(&admin.0, query).await?;
    Ok(answer_in(format, report.into()))
}

/// The report as JSON, or as a CSV attachment.
fn answer_in(format: ReportFormat, report: AdminUsageResponse) -> HttpResponse {
    match format {
        ReportFormat::Json => HttpResponse::Ok().json(report),
        ReportFormat::Csv => HttpResponse::build(StatusCode::OK)
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                "content-disposition",
                "attachment; filename=\"token-usage.csv\"",
            ))
            .body(report.to_csv()),
    }
}

/// This period's counters with their limits.
#[utoipa::path(get, path = "/api/usage/me", tag = "tokens", security(("bearer" = [])),
    responses((status = 200, body = UsageResponse), (status = 401, body = ErrorBody)))]
pub async fn get_usage(
    state: Data<AppState>,
    user: AuthUser,
) -> Result<Json<UsageResponse>, ApiError> {
    Ok(Json(state.services.metering.usage(user.0.id).await?.into()))
}

/// The same as `GET /api/usage/me`.
#[utoipa::path(get, path = "/api/users/me/usage", tag = "tokens", security(("bearer" = [])),
    responses((status = 200, body = UsageResponse), (status = 401, body = ErrorBody)))]
pub async fn get_usage_alias(
    state: Data<AppState>,
    user: AuthUser,
) -> Result<Json<UsageResponse>, ApiError> {
    get_usage(state, user).await
}
