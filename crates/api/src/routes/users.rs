//! `/api/users/me`: the caller's own account.

use actix_web::HttpResponse;
use actix_web::web::{self, Data, Json};

use crate::dto::{
    ChangePasswordRequest, SubscriptionChangeResponse, SubscriptionResponse, UpdateMeRequest,
    UpdateSubscriptionRequest, UserResponse,
};
use crate::error::{ApiError, ErrorBody};
use crate::extractors::{AuthUser, JsonBody};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/users/me")
            .route(web::get().to(get_me))
            .route(web::put().to(update_me)),
    )
    .service(web::resource("/users/me/password").post(change_password))
    .service(
        web::resource("/users/me/subscription")
            .route(web::get().to(get_my_subscription))
            .route(web::put().to(update_my_subscription)),
    );
}

/// The caller's account with subscription and preferences.
#[utoipa::path(get, path = "/api/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = UserResponse), (status = 401, body = ErrorBody)))]
pub async fn get_me(state: Data<AppState>, user: AuthUser) -> Result<Json<UserResponse>, ApiError> {
    Ok(Json(
        state.services.accounts.profile(user.0.id).await?.into(),
    ))
}

/// Changes the caller's name and/or email. An email change needs `current_password`, is
/// throttled per user, tells the old address, and must be verified again.
#[utoipa::path(put, path = "/api/users/me", tag = "users", security(("bearer" = [])), request_body = UpdateMeRequest,
    responses(
        (status = 200, body = UserResponse),
        (status = 403, description = "invalid_credentials: an email change without the right current_password", body = ErrorBody),
        (status = 409, description = "email_taken", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, description = "too_many_attempts: `EMAIL_CHANGE_MAX_PER_USER` or `PASSWORD_CHANGE_MAX_FAILURES` spent (with Retry-After)", body = ErrorBody),
    ))]
pub async fn update_me(
    state: Data<AppState>,
    user: AuthUser,
    body: JsonBody<UpdateMeRequest>,
) -> Result<Json<UserResponse>, ApiError> {
    let changes = body.into_inner().try_into()?;
    let accounts = &state.services.accounts;
    let profile = accounts.update_profile(user.0.id, changes).await?;
    Ok(Json(profile.into()))
}

/// Changes the caller's password; every other session is signed out.
#[utoipa::path(post, path = "/api/users/me/password", tag = "users", security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "changed"),
        (status = 403, description = "invalid_credentials (wrong current password)", body = ErrorBody),
        (status = 422, description = "weak_password", body = ErrorBody),
        (status = 429, description = "too_many_attempts: `PASSWORD_CHANGE_MAX_FAILURES` wrong current passwords; even the right one waits (with Retry-After)", body = ErrorBody),
        (status = 503, description = "service_busy: too many password hashes queued (with Retry-After)", body = ErrorBody),
    ))]
pub async fn change_password(
    state: Data<AppState>,
    user: AuthUser,
    body: JsonBody<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    state
        .services
        .accounts
        .change_password(&user.0, &body.current_password, &body.new_password)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's subscription, as in force now (a lapsed paid plan reads as free).
#[utoipa::path(get, path = "/api/users/me/subscription", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = SubscriptionResponse), (status = 401, body = ErrorBody)))]
pub async fn get_my_subscription(
    state: Data<AppState>,
    user: AuthUser,
) -> Result<Json<SubscriptionResponse>, ApiError> {
    Ok(Json(
        state
            .services
            .accounts
            .subscription(user.0.id)
            .await?
            .into(),
    ))
}

/// Changes the plan (through Stripe), the payment method or renewal. Upgrades and changes
/// between paid plans are prorated and apply once paid; `free` cancels at the period end.
#[utoipa::path(put, path = "/api/users/me/subscription", tag = "users", security(("bearer" = [])),
    request_body = UpdateSubscriptionRequest,
    responses(
        (status = 200, body = SubscriptionChangeResponse),
        (status = 401, body = ErrorBody),
        (status = 402, description = "payment_failed: declined, nothing changed", body = ErrorBody),
        (status = 409, description = "subscription_change_in_progress: another change is under way (Retry-After)", body = ErrorBody),
        (status = 422, description = "validation_error (plan, billing_period, payment_method_id)", body = ErrorBody),
        (status = 502, description = "payment_provider_unavailable", body = ErrorBody),
        (status = 503, description = "billing_unavailable", body = ErrorBody),
    ))]
pub async fn update_my_subscription(
    state: Data<AppState>,
    user: AuthUser,
    body: JsonBody<UpdateSubscriptionRequest>,
) -> Result<Json<SubscriptionChangeResponse>, ApiError> {
    let update = body.into_inner().try_into()?;
    let billing = &state.services.billing;
    let outcome = billing.update_subscription(&user.0, update).await?;
    Ok(Json(outcome.into()))
}
