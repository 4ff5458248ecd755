//! The admin's webhook endpoints: register one (its signing secret is shown once), list, read,
//! delete, and see its deliveries.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::{EndpointDescription, PageRequest, WebhookUrl};
use persistence::webhook_deliveries::{self as deliveries, DeliveryRow};
use persistence::webhook_endpoints::{self as store, EndpointRow, NewEndpoint};
use uuid::Uuid;
use webhooks::{EndpointUrl, WebhookSecret};

use super::WebhookConfig;
use super::events::EventType;
use crate::admin::require_admin;
use crate::auth_tokens::CurrentUser;
use crate::{Context, ServiceError};

/// An endpoint to register, parsed. Whether the URL may be reached under the configured
/// policy (`https` unless private targets are allowed, no private IP literal) is the use case's
/// to say.
#[derive(Debug, Clone)]
pub struct NewWebhookEndpoint {
    pub url: WebhookUrl,
    /// At least one, without repeats (`EventType::parse_set`).
    pub event_types: Vec<EventType>,
    pub description: Option<EndpointDescription>,
}

/// An endpoint as the admin sees it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: Uuid,
    pub url: String,
    pub description: Option<String>,
    pub event_types: Vec<EventType>,
    /// `None` while enabled; when it was disabled otherwise.
    pub disabled_at: Option<DateTime<Utc>>,
    /// Deliveries given up in a row (a success resets it).
    pub consecutive_failures: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new endpoint with its signing secret (shown this once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedWebhookEndpoint {
    pub endpoint: WebhookEndpoint,
    pub secret: String,
}

/// One delivery of an event to an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    pub id: Uuid,
    /// The `webhook-id` of every attempt.
    pub message_id: String,
    pub event_type: String,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    pub attempts: u32,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When the next attempt is due (pending deliveries only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// One page of deliveries, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDeliveryPage {
    pub total_records: u64,
    pub total_pages: u64,
    pub current_page: u64,
    pub records_per_page: u64,
    pub deliveries: Vec<WebhookDelivery>,
}

/// Webhook endpoint use cases (role `admin`).
#[derive(Clone)]
pub struct Webhooks {
    ctx: Context,
    config: Arc<WebhookConfig>,
}

impl Webhooks {
    pub(crate) fn new(ctx: Context, config: Arc<WebhookConfig>) -> Self {
        Self { ctx, config }
    }

    /// Registers an endpoint and answers its secret, once.
    #[tracing::instrument(skip_all, fields(admin_id = %actor.id))]
    pub async fn create(
        &self,
        actor: &CurrentUser,
        new: NewWebhookEndpoint,
    ) -> Result<CreatedWebhookEndpoint, ServiceError> {
        require_admin(actor)?;
        let url = EndpointUrl::allowed(new.url, self.config.allow_private)
            .map_err(|e| ServiceError::invalid_field("url", e.to_string()))?;
        let secret = WebhookSecret::generate().map_err(|e| ServiceError::internal("secret", e))?;
        let row = store::insert(
            &self.ctx.db,
            NewEndpoint {
                id: Uuid::now_v7(),
                url: url.as_str().to_owned(),
                description: new.description.map(EndpointDescription::into_inner),
                event_types: new
                    .event_types
                    .iter()
                    .map(|t| t.as_str().to_owned())
                    .collect(),
                secret: secret.expose().to_owned(),
                now: self.ctx.now(),
            },
        )
        .await?;
        tracing::info!(endpoint_id = %row.id, "webhook endpoint registered");
        Ok(CreatedWebhookEndpoint {
            endpoint: view(row),
            secret: secret.expose().to_owned(),
        })
    }

    /// Every endpoint, newest first.
    pub async fn list(&self, actor: &CurrentUser) -> Result<Vec<WebhookEndpoint>, ServiceError> {
        require_admin(actor)?;
        Ok(store::list(&self.ctx.db)
            .await?
            .into_iter()
            .map(view)
            .collect())
    }

    /// One endpoint.
    pub async fn get(
        &self,
        actor: &CurrentUser,
        id: Uuid,
    ) -> Result<WebhookEndpoint, ServiceError> {
        require_admin(actor)?;
        Ok(view(self.row(id).await?))
    }

    /// Deletes an endpoint and its deliveries (pending ones are not sent).
    #[tracing::instrument(skip_all, fields(admin_id = %actor.id, endpoint_id = %id))]
    pub async fn delete(&self, actor: &CurrentUser, id: Uuid) -> Result<(), ServiceError> {
        require_admin(actor)?;
        if store::delete(&self.ctx.db, id).await? {
            Ok(())
        } else {
            Err(ServiceError::NotFound("Webhook endpoint"))
        }
    }

    /// A page of an endpoint's deliveries, newest first.
    pub async fn deliveries(
        &self,
        actor: &CurrentUser,
        id: Uuid,
        page: impl TryInto<PageRequest, Error = ServiceError>,
    ) -> Result<WebhookDeliveryPage, ServiceError> {
        require_admin(actor)?;
        let page = page.try_into()?;
        let (page, per_page) = (page.page(), page.per_page());
        self.row(id).await?;
        let (total, rows) = deliveries::page(&self.ctx.db, id, page, per_page).await?;
        Ok(WebhookDeliveryPage {
            total_records: total,
            total_pages: total.div_ceil(per_page),
            current_page: page,
            records_per_page: per_page,
            deliveries: rows.into_iter().map(delivery_view).collect(),
        })
    }

    async fn row(&self, id: Uuid) -> Result<EndpointRow, ServiceError> {
        store::find(&self.ctx.db, id)
            .await?
            .ok_or(ServiceError::NotFound("Webhook endpoint"))
    }
}

fn view(row: EndpointRow) -> WebhookEndpoint {
    WebhookEndpoint {
        event_types: store::event_types(&row)
            .into_iter()
            .filter_map(|t| EventType::parse(t).ok())
            .collect(),
        id: row.id,
        url: row.url,
        description: row.description,
        disabled_at: row.disabled_at,
        consecutive_failures: u32::try_from(row.consecutive_failures).unwrap_or(0),
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

fn delivery_view(row: DeliveryRow) -> WebhookDelivery {
    let pending = row.status == deliveries::PENDING;
    WebhookDelivery {
        id: row.id,
        message_id: row.message_id,
        event_type: row.event_type,
        attempts: u32::try_from(row.attempts).unwrap_or(0),
        last_status_code: row.last_status_code.and_then(|c| u16::try_from(c).ok()),
        last_error: row.last_error,
        created_at: row.created_at,
        last_attempt_at: row.last_attempt_at,
        next_attempt_at: pending.then_some(row.next_attempt_at),
        finished_at: row.finished_at,
        status: row.status,
    }
}
