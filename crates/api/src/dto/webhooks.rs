//! Wire types of usage alerts and outgoing webhooks (docs/API.md, "Usage alerts and webhooks").

use domain::{EndpointDescription, EventType, PageRequest, WebhookUrl};
use serde::{Deserialize, Serialize};
use service::{
    CreatedWebhookEndpoint, FieldErrors, NewWebhookEndpoint, ServiceError, UsageAlert,
    WebhookDelivery, WebhookDeliveryPage, WebhookEndpoint,
};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::dto::timestamp;

/// One usage alert of the current period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UsageAlertResponse {
    /// `tokens`, `chat_messages`, `plagiarism_checks` or `prompts_generated`.
    #[schema(example = "tokens")]
    pub unit: &'static str,
    /// The percentage of the limit crossed.
    #[schema(example = 80)]
    pub threshold: u8,
    /// The counter and the limit when it crossed.
    #[schema(example = 80_150)]
    pub used: u64,
    #[schema(example = 100_000)]
    pub limit: u64,
    #[schema(example = "2025-10-20T09:41:07.512Z")]
    pub crossed_at: String,
}

impl From<UsageAlert> for UsageAlertResponse {
    fn from(a: UsageAlert) -> Self {
        Self {
            unit: a.unit.as_str(),
            threshold: a.threshold,
            used: a.used,
            limit: a.limit,
            crossed_at: timestamp(a.crossed_at),
        }
    }
}

/// `GET /api/usage/me/alerts`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UsageAlertsResponse {
    /// In the order they were crossed.
    pub alerts: Vec<UsageAlertResponse>,
}

/// `POST /api/admin/webhooks`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateWebhookRequest {
    /// `https://...` (`http://` only where private targets are allowed).
    #[serde(default)]
    #[schema(
        example = "https://hooks.example.com/doztra",
        required = true,
        max_length = 2048
    )]
    pub url: String,
    /// At least one of `usage.threshold_crossed`, `usage.limit_reached`,
    /// `subscription.updated`, `payment.failed`.
    #[serde(default)]
    #[schema(example = json!(["usage.threshold_crossed", "usage.limit_reached"]), required = true)]
    pub event_types: Vec<String>,
    #[schema(example = "Billing team alerts", max_length = 500)]
    pub description: Option<String>,
}

impl TryFrom<CreateWebhookRequest> for NewWebhookEndpoint {
    type Error = ServiceError;

    /// Every field parsed at once: one 422 names each invalid field (and each unknown event
    /// type). Whether the URL may be reached is the service's to say, under its policy.
    fn try_from(b: CreateWebhookRequest) -> Result<Self, ServiceError> {
        let mut errors = FieldErrors::default();
        let url = errors.take(WebhookUrl::parse(&b.url));
        let event_types = errors.take_all(EventType::parse_set(&b.event_types));
        let description = errors.take(
            b.description
                .as_deref()
                .map(EndpointDescription::parse)
                .transpose(),
        );
        let (Some(url), Some(event_types), Some(description)) = (url, event_types, description)
        else {
            return Err(errors.into());
        };
        Ok(NewWebhookEndpoint {
            url,
            event_types,
            description: description.flatten(),
        })
    }
}

/// An endpoint (the secret only in the creation answer).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookEndpointResponse {
    pub id: Uuid,
    #[schema(example = "https://hooks.example.com/doztra")]
    pub url: String,
    pub description: Option<String>,
    #[schema(example = json!(["usage.threshold_crossed"]))]
    pub event_types: Vec<&'static str>,
    /// `enabled`, or `disabled` after `WEBHOOK_DISABLE_AFTER` failed deliveries in a row.
    #[schema(example = "enabled")]
    pub status: &'static str,
    pub disabled_at: Option<String>,
    /// Deliveries given up in a row (a success resets it).
    pub consecutive_failures: u32,
    pub created_at: String,
    pub updated_at: String,
    /// The signing secret (`whsec_` + base64): in the answer to `POST` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: Option<String>,
}

impl From<WebhookEndpoint> for WebhookEndpointResponse {
    fn from(e: WebhookEndpoint) -> Self {
        Self {
            id: e.id,
            url: e.url,
            description: e.description,
            event_types: e.event_types.iter().map(|t| t.as_str()).collect(),
            status: if e.disabled_at.is_some() {
                "disabled"
            } else {
                "enabled"
            },
            disabled_at: e.disabled_at.map(timestamp),
            consecutive_failures: e.consecutive_failures,
            created_at: timestamp(e.created_at),
            updated_at: timestamp(e.updated_at),
            secret: None,
        }
    }
}

impl From<CreatedWebhookEndpoint> for WebhookEndpointResponse {
    fn from(c: CreatedWebhookEndpoint) -> Self {
        Self {
            secret: Some(c.secret),
            ..c.endpoint.into()
        }
    }
}

/// `GET /api/admin/webhooks`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookEndpointListResponse {
    /// Newest first.
    pub endpoints: Vec<WebhookEndpointResponse>,
}

/// `GET /api/admin/webhooks/{id}/deliveries` query.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryListParams {
    /// 1-based page (default 1).
    #[param(minimum = 1, maximum = 1_000_000_000)]
    pub page: Option<u64>,
    /// Page size, 1..=100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
}

impl TryFrom<DeliveryListParams> for PageRequest {
    type Error = ServiceError;

    /// One 422 naming a bad `page` and a bad `limit` together.
    fn try_from(p: DeliveryListParams) -> Result<Self, ServiceError> {
        let mut errors = FieldErrors::default();
        errors
            .take_all(PageRequest::parse(p.page, p.limit, 20, 100))
            .ok_or_else(|| errors.into())
    }
}

/// One event sent (or being sent) to an endpoint.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookDeliveryResponse {
    pub id: Uuid,
    /// The `webhook-id` header of every attempt.
    #[schema(example = "msg_0193a4c2e1d87a3c9b5d2f6e8a1b4c7d")]
    pub message_id: String,
    #[schema(example = "usage.threshold_crossed")]
    pub event_type: String,
    /// `pending`, `succeeded` or `failed`.
    #[schema(example = "succeeded")]
    pub status: String,
    pub attempts: u32,
    /// The HTTP status of the last answer, if any.
    pub last_status_code: Option<u16>,
    /// Why the last attempt failed (`HTTP 500`, `timed out`, `refused: ...`).
    pub last_error: Option<String>,
    pub created_at: String,
    pub last_attempt_at: Option<String>,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<String>,
    pub finished_at: Option<String>,
}

impl From<WebhookDelivery> for WebhookDeliveryResponse {
    fn from(d: WebhookDelivery) -> Self {
        Self {
            id: d.id,
            message_id: d.message_id,
            event_type: d.event_type,
            status: d.status,
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            created_at: timestamp(d.created_at),
            last_attempt_at: d.last_attempt_at.map(timestamp),
            next_attempt_at: d.next_attempt_at.map(timestamp),
            finished_at: d.finished_at.map(timestamp),
        }
    }
}

/// A page of deliveries, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookDeliveryListResponse {
    pub total_records: u64,
    pub total_pages: u64,
    pub current_page: u64,
    pub records_per_page: u64,
    pub deliveries: Vec<WebhookDeliveryResponse>,
}

impl From<WebhookDeliveryPage> for WebhookDeliveryListResponse {
    fn from(p: WebhookDeliveryPage) -> Self {
        Self {
            total_records: p.total_records,
            total_pages: p.total_pages,
            current_page: p.current_page,
            records_per_page: p.records_per_page,
            deliveries: p.deliveries.into_iter().map(Into::into).collect(),
        }
    }
}
