//! Wire types of the subscriber's own billing pages: the Customer Portal link and the invoice
//! list. The query converts into the service's validated `InvoiceQuery` (one 422 for every bad
//! field); the answers convert from the service's views.

use serde::{Deserialize, Serialize};
use service::{InvoicePageView, InvoiceQuery, InvoiceView, PortalSession, ServiceError};
use utoipa::{IntoParams, ToSchema};

use crate::dto::timestamp;

/// `POST /api/billing/portal-session`: where to send the customer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PortalSessionResponse {
    /// Stripe's Customer Portal for the caller; short-lived, open it right away.
    #[schema(example = "https://billing.stripe.com/p/session/test_YWNjdF8x")]
    pub url: String,
}

impl From<PortalSession> for PortalSessionResponse {
    fn from(session: PortalSession) -> Self {
        Self { url: session.url }
    }
}

/// `GET /api/billing/invoices` query.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InvoiceListParams {
    /// Invoices per page, 1..=100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    #[param(example = "in_1SDoztra0002")]
    pub starting_after: Option<String>,
}

impl TryFrom<InvoiceListParams> for InvoiceQuery {
    type Error = ServiceError;

    fn try_from(params: InvoiceListParams) -> Result<Self, ServiceError> {
        InvoiceQuery::parse(params.limit, params.starting_after.as_deref())
    }
}

/// One invoice. Amounts are in the currency's minor unit (cents).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvoiceItem {
    #[schema(example = "in_1SDoztra0002")]
    pub id: String,
    /// Null until Stripe finalizes the invoice.
    #[schema(example = "7D1F0E2A-0002")]
    pub number: Option<String>,
    /// RFC 3339.
    #[schema(example = "2026-05-28T20:26:40.000Z")]
    pub created: String,
    #[schema(example = 1900)]
    pub amount_due: i64,
    #[schema(example = 1900)]
    pub amount_paid: i64,
    /// ISO 4217, lower case.
    #[schema(example = "usd")]
    pub currency: String,
    /// `open`, `paid`, `uncollectible` or `void` (drafts are not listed).
    #[schema(example = "paid")]
    pub status: String,
    /// Stripe's page to view (and pay) the invoice.
    pub hosted_invoice_url: Option<String>,
    pub invoice_pdf: Option<String>,
}

/// A page of the caller's invoices, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvoiceListResponse {
    pub invoices: Vec<InvoiceItem>,
    pub has_more: bool,
    /// Pass as `starting_after` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl From<InvoiceView> for InvoiceItem {
    fn from(invoice: InvoiceView) -> Self {
        Self {
            id: invoice.id,
            number: invoice.number,
            created: timestamp(invoice.created),
            amount_due: invoice.amount_due,
            amount_paid: invoice.amount_paid,
            currency: invoice.currency,
            status: invoice.status,
            hosted_invoice_url: invoice.hosted_invoice_url,
            invoice_pdf: invoice.invoice_pdf,
        }
    }
}

impl From<InvoicePageView> for InvoiceListResponse {
    fn from(page: InvoicePageView) -> Self {
        Self {
            invoices: page.invoices.into_iter().map(Into::into).collect(),
            has_more: page.has_more,
            next_cursor: page.next_cursor,
        }
    }
}
