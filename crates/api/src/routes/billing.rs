//! `/api/billing`: hosted Checkout, the Customer Portal, the caller's invoices, and Stripe's
//! webhooks.

use actix_web::HttpRequest;
use actix_web::web::{self, Bytes, Data, Json};

use crate::dto::billing::{InvoiceListParams, InvoiceListResponse, PortalSessionResponse};
use crate::dto::{CheckoutRequest, CheckoutResponse, WebhookResponse};
use crate::error::{ApiError, ErrorBody};
use crate::extractors::{AuthUser, JsonBody, QueryParams};
use crate::state::AppState;

/// Stripe's events are bigger than our own requests (an invoice lists its lines).
const WEBHOOK_BODY_LIMIT: usize = 1024 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/billing")
            .service(web::resource("/checkout-session").post(create_checkout_session))
            .service(web::resource("/portal-session").post(create_portal_session))
            .service(web::resource("/invoices").get(list_invoices))
            .service(
                web::resource("/webhook")
                    .app_data(web::PayloadConfig::new(WEBHOOK_BODY_LIMIT))
                    .post(stripe_webhook),
            ),
    );
}

/// A Stripe Checkout page for a paid plan; the price comes from configuration.
#[utoipa::path(post, path = "/api/billing/checkout-session", tag = "billing",
    security(("bearer" = [])), request_body = CheckoutRequest,
    responses(
        (status = 200, body = CheckoutResponse),
        (status = 401, body = ErrorBody),
        (status = 409, description = "subscription_exists: change the plan instead", body = ErrorBody),
        (status = 422, description = "validation_error (plan, billing_period)", body = ErrorBody),
        (status = 502, description = "payment_provider_unavailable", body = ErrorBody),
        (status = 503, description = "billing_unavailable", body = ErrorBody),
    ))]
pub async fn create_checkout_session(
    state: Data<AppState>,
    user: AuthUser,
    body: JsonBody<CheckoutRequest>,
) -> Result<Json<CheckoutResponse>, ApiError> {
    let session = state
        .services
        .billing
        .checkout_session(&user.0, body.into_inner())
        .await?;
    Ok(Json(CheckoutResponse {
        id: session.id,
        url: session.url,
    }))
}

/// Stripe's Customer Portal for the caller (update the card, see invoices, cancel); the
/// portal's changes come back through the webhooks. The return URL is configured.
#[utoipa::path(post, path = "/api/billing/portal-session", tag = "billing",
    security(("bearer" = [])),
    responses(
        (status = 200, body = PortalSessionResponse),
        (status = 404, description = "not_found: the account never paid (no Stripe customer)", body = ErrorBody),
        (status = 502, description = "payment_provider_unavailable", body = ErrorBody),
        (status = 503, description = "billing_unavailable", body = ErrorBody),
    ))]
pub async fn create_portal_session(
    state: Data<AppState>,
    user: AuthUser,
) -> Result<Json<PortalSessionResponse>, ApiError> {
    let session = state.services.billing.portal_session(&user.0).await?;
    Ok(Json(session.into()))
}

/// The caller's invoices at Stripe, newest first, a page at a time (drafts are left out).
#[utoipa::path(get, path = "/api/billing/invoices", tag = "billing",
    security(("bearer" = [])), params(InvoiceListParams),
    responses(
        (status = 200, body = InvoiceListResponse),
        (status = 404, description = "not_found: the account never paid (no Stripe customer)", body = ErrorBody),
        (status = 422, description = "validation_error (limit, starting_after)", body = ErrorBody),
        (status = 502, description = "payment_provider_unavailable", body = ErrorBody),
        (status = 503, description = "billing_unavailable", body = ErrorBody),
    ))]
pub async fn list_invoices(
    state: Data<AppState>,
    user: AuthUser,
    params: QueryParams<InvoiceListParams>,
) -> Result<Json<InvoiceListResponse>, ApiError> {
    let query = params.into_inner().try_into()?;
    let page = state.services.billing.invoices(&user.0, query).await?;
    Ok(Json(page.into()))
}

/// Stripe's webhook endpoint: the `Stripe-Signature` header is verified over the raw body;
/// each event id is applied once (a redelivery answers 200 and changes nothing).
#[utoipa::path(post, path = "/api/billing/webhook", tag = "billing",
    request_body(content = String, content_type = "application/json", description = "A Stripe event, as Stripe signed it"),
    params(("Stripe-Signature" = String, Header, description = "t=<unix>,v1=<hex HMAC-SHA256>")),
    responses(
        (status = 200, body = WebhookResponse),
        (status = 400, description = "invalid_signature: missing, empty, over 8 KiB, malformed, stale (±300 s) or no match among the first five v1 values", body = ErrorBody),
        (status = 422, description = "a signed payload that is not a Stripe event", body = ErrorBody),
        (status = 502, description = "payment_provider_unavailable (Stripe retries)", body = ErrorBody),
        (status = 503, description = "billing_unavailable / service_unavailable (Stripe retries)", body = ErrorBody),
    ))]
pub async fn stripe_webhook(
    state: Data<AppState>,
    request: HttpRequest,
    body: Bytes,
) -> Result<Json<WebhookResponse>, ApiError> {
    let signature = request
        .headers()
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let receipt = state.services.billing.webhook(&body, signature).await?;
    Ok(Json(WebhookResponse {
        received: true,
        event_id: receipt.event_id,
        outcome: receipt.outcome.as_str().to_owned(),
    }))
}
