//! `/api/auth`: registration, sign-in, token refresh, sign-out, email verification and
//! password reset.

use actix_web::HttpResponse;
use actix_web::web::{self, Data, Json, Path};
use service::LoginRequest;

use crate::dto::{
    LoginResponse, MessageResponse, PasswordResetRequest, RefreshRequest, RefreshResponse,
    RegisterRequest, ResetPasswordRequest,
};
use crate::error::{ApiError, ErrorBody};
use crate::extractors::{AuthUser, ClientIp, JsonBody, LoginBody};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/auth")
            .service(web::resource("/register").post(register_user))
            .service(web::resource("/login").post(login_user))
            .service(web::resource("/refresh").post(refresh_session))
            .service(web::resource("/logout").post(logout_session))
            .service(web::resource("/logout-all").post(logout_all_sessions))
            .service(web::resource("/verify-email/{token}").post(verify_email))
            .service(web::resource("/resend-verification").post(resend_verification))
            .service(web::resource("/password-reset").post(request_password_reset))
            .service(web::resource("/reset-password").post(reset_password)),
    );
}

/// Creates an account (free plan unless a paid plan is paid for) and signs it in.
#[utoipa::path(post, path = "/api/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 201, body = LoginResponse),
        (status = 402, description = "payment_failed: the card was declined; no account was created", body = ErrorBody),
        (status = 403, description = "forbidden_role", body = ErrorBody),
        (status = 409, description = "email_taken", body = ErrorBody),
        (status = 422, description = "validation_error / weak_password", body = ErrorBody),
        (status = 429, description = "too_many_attempts: the client address's budget (`REGISTER_MAX_PER_IP`) is spent (with Retry-After)", body = ErrorBody),
        (status = 502, description = "payment_provider_unavailable", body = ErrorBody),
        (status = 503, description = "billing_unavailable / service_busy (too many password hashes queued; with Retry-After)", body = ErrorBody),
    ))]
pub async fn register_user(
    state: Data<AppState>,
    ip: ClientIp,
    body: JsonBody<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let registration = body.into_inner().try_into()?;
    let accounts = &state.services.accounts;
    let registered = accounts.register(registration, ip.as_deref()).await?;
    Ok(HttpResponse::Created().json(LoginResponse::from(registered)))
}

/// Signs in with a form (`username`, `password`) or JSON (`email`, `password`).
#[utoipa::path(post, path = "/api/auth/login", tag = "auth",
    request_body(content(
        (crate::dto::LoginJson = "application/json"),
        (crate::dto::LoginForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, body = LoginResponse),
        (status = 401, description = "invalid_credentials", body = ErrorBody),
        (status = 403, description = "account_disabled", body = ErrorBody),
        (status = 429, description = "too_many_attempts (with Retry-After)", body = ErrorBody),
    ))]
pub async fn login_user(
    state: Data<AppState>,
    ip: ClientIp,
    body: LoginBody,
) -> Result<Json<LoginResponse>, ApiError> {
    let signed = state
        .services
        .sessions
        .login(LoginRequest {
            email: body.email,
            password: body.password,
            client_ip: ip.0,
        })
        .await?;
    Ok(Json(signed.into()))
}

/// Rotates a refresh token. The same token presented again within
/// `REFRESH_TOKEN_REUSE_INTERVAL` (default 10 s) of its rotation returns the same new refresh
/// token (concurrent refreshes from two tabs both succeed; one rotation happens); later, or a
/// token two generations old, is reuse and ends the sign-in.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, body = RefreshResponse),
        (status = 401, description = "invalid_token / refresh_token_reused (the sign-in is revoked)", body = ErrorBody),
    ))]
pub async fn refresh_session(
    state: Data<AppState>,
    body: JsonBody<RefreshRequest>,
) -> Result<Json<RefreshResponse>, ApiError> {
    let tokens = state.services.sessions.refresh(&body.refresh_token).await?;
    Ok(Json(tokens.into()))
}

/// Signs out one session (the refresh token's family); its access tokens stop working at once.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", request_body = RefreshRequest,
    security(("bearer" = [])),
    responses((status = 200, body = MessageResponse), (status = 401, body = ErrorBody)))]
pub async fn logout_session(
    state: Data<AppState>,
    user: AuthUser,
    body: JsonBody<RefreshRequest>,
) -> Result<Json<MessageResponse>, ApiError> {
    state
        .services
        .sessions
        .logout(&user.0, &body.refresh_token)
        .await?;
    Ok(Json(MessageResponse::ok("Logged out successfully")))
}

/// Signs out everywhere: every session and access token of the caller is revoked.
#[utoipa::path(post, path = "/api/auth/logout-all", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = MessageResponse), (status = 401, body = ErrorBody)))]
pub async fn logout_all_sessions(
    state: Data<AppState>,
    user: AuthUser,
) -> Result<Json<MessageResponse>, ApiError> {
    state.services.sessions.logout_all(&user.0).await?;
    Ok(Json(MessageResponse::ok("Logged out of all sessions")))
}

/// Confirms an email address with the token from the verification email.
#[utoipa::path(post, path = "/api/auth/verify-email/{token}", tag = "auth", params(("token" = String, Path)),
    responses(
        (status = 200, body = MessageResponse),
        (status = 400, description = "invalid_or_expired_token", body = ErrorBody),
    ))]
pub async fn verify_email(
    state: Data<AppState>,
    token: Path<String>,
) -> Result<Json<MessageResponse>, ApiError> {
    state.services.email.verify_email(&token).await?;
    Ok(Json(MessageResponse::ok("Email address verified")))
}

/// Sends a new verification email to the signed-in user (throttled).
#[utoipa::path(post, path = "/api/auth/resend-verification", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, body = MessageResponse),
        (status = 429, description = "too_many_attempts (with Retry-After)", body = ErrorBody),
    ))]
pub async fn resend_verification(
    state: Data<AppState>,
    user: AuthUser,
) -> Result<Json<MessageResponse>, ApiError> {
    let sent = state.services.email.resend_verification(&user.0).await?;
    Ok(Json(MessageResponse::ok(if sent {
        "Verification email sent"
    } else {
        "The email address is already verified"
    })))
}

/// Starts a password reset. The answer is the same whether or not the account exists.
#[utoipa::path(post, path = "/api/auth/password-reset", tag = "auth", request_body = PasswordResetRequest,
    responses(
        (status = 202, body = MessageResponse),
        (status = 422, description = "validation_error: not one bare email address", body = ErrorBody),
        (status = 429, description = "too_many_attempts: the client address's budget (`PASSWORD_RESET_MAX_PER_IP`) is spent (with Retry-After)", body = ErrorBody),
    ))]
pub async fn request_password_reset(
    state: Data<AppState>,
    ip: ClientIp,
    body: JsonBody<PasswordResetRequest>,
) -> Result<HttpResponse, ApiError> {
    state
        .services
        .email
        .request_password_reset(&body.email, ip.as_deref())
        .await?;
    Ok(HttpResponse::Accepted().json(MessageResponse::ok(
        "If an account exists for this email, a password reset link has been sent",
    )))
}

/// Sets a new password with the token from the reset email; every session is revoked.
#[utoipa::path(post, path = "/api/auth/reset-password", tag = "auth", request_body = ResetPasswordRequest,
    responses(
        (status = 200, body = MessageResponse),
        (status = 400, description = "invalid_or_expired_token (also a link sent to an address the account no longer has)", body = ErrorBody),
        (status = 422, description = "weak_password", body = ErrorBody),
        (status = 429, description = "too_many_attempts: the client address's budget (`RESET_PASSWORD_MAX_PER_IP`) is spent (with Retry-After)", body = ErrorBody),
        (status = 503, description = "service_busy: too many password hashes queued (with Retry-After)", body = ErrorBody),
    ))]
pub async fn reset_password(
    state: Data<AppState>,
    ip: ClientIp,
    body: JsonBody<ResetPasswordRequest>,
) -> Result<Json<MessageResponse>, ApiError> {
    state
        .services
        .email
        .reset_password(&body.token, &body.new_password, ip.as_deref())
        .await?;
    Ok(Json(MessageResponse::ok(
        "Password changed; sign in with the new password",
    )))
}
