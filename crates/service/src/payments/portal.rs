//! What subscribers see of their own billing, through Stripe rather than by hand: a Customer
//! Portal session (card, invoices, cancellation on Stripe's pages; the changes come back through
//! the webhooks `payments::webhooks` handles) and a page of their invoices. Both need the Stripe
//! customer a first payment made; an account that never paid has none (404).

use billing::{BillingError, InvoicePage};
use chrono::{DateTime, Utc};
use persistence::subscriptions;
use uuid::Uuid;

use super::Billing;
use crate::ServiceError;
use crate::auth_tokens::CurrentUser;
use crate::error::FieldError;

pub use billing::PortalSession;

/// `GET /api/billing/invoices`: a valid page request (`limit` 1..=100, default 10; the cursor
/// an invoice id from `next_cursor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceQuery {
    limit: u8,
    starting_after: Option<String>,
}

impl InvoiceQuery {
    pub const DEFAULT_LIMIT: u8 = 10;
    pub const MAX_LIMIT: u8 = 100;

    /// Checks both parameters, reporting every invalid one in one 422.
    pub fn parse(limit: Option<u64>, starting_after: Option<&str>) -> Result<Self, ServiceError> {
        let mut errors = Vec::new();
        let limit = match limit {
            None => Some(Self::DEFAULT_LIMIT),
            Some(n) => u8::try_from(n)
                .ok()
                .filter(|n| (1..=Self::MAX_LIMIT).contains(n)),
        };
        if limit.is_none() {
            errors.push(FieldError {
                field: "limit".to_owned(),
                message: format!("limit must be between 1 and {}.", Self::MAX_LIMIT),
            });
        }
        let starting_after = starting_after.map(str::trim);
        if let Some(cursor) = starting_after
            && !is_invoice_id(cursor)
        {
            errors.push(FieldError {
                field: "starting_after".to_owned(),
                message: "starting_after must be an invoice id (in_...) from next_cursor."
                    .to_owned(),
            });
        }
        match (limit, errors.is_empty()) {
            (Some(limit), true) => Ok(Self {
                limit,
                starting_after: starting_after.map(str::to_owned),
            }),
            _ => Err(ServiceError::Invalid {
                code: "validation_error",
                message: match errors.as_slice() {
                    [only] => only.message.clone(),
                    many => format!("The request has {} invalid fields.", many.len()),
                },
                errors,
            }),
        }
    }
}

/// A Stripe invoice id: `in_` and up to 252 letters, digits or underscores.
fn is_invoice_id(raw: &str) -> bool {
    raw.len() <= 255
        && raw.strip_prefix("in_").is_some_and(|rest| {
            !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// One invoice of the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceView {
    pub id: String,
    pub number: Option<String>,
    pub created: DateTime<Utc>,
    /// Minor units (cents).
    pub amount_due: i64,
    pub amount_paid: i64,
    pub currency: String,
    pub status: String,
    pub hosted_invoice_url: Option<String>,
    pub invoice_pdf: Option<String>,
}

/// A page of the caller's invoices, newest first; `next_cursor` is the `starting_after` of the
/// next page while `has_more`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoicePageView {
    pub invoices: Vec<InvoiceView>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
}

impl Billing {
    /// A Stripe Customer Portal session for the caller.
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    pub async fn portal_session(&self, user: &CurrentUser) -> Result<PortalSession, ServiceError> {
        let customer = self.stripe_customer(user.id).await?;
        // A portal link is short-lived: every visit is a new intent, never a replay of an old
        // session (the key still covers the retries of this one request).
        let prefix = format!("portal:{}:{}", user.id, Uuid::new_v4());
        self.ctx
            .gateway
            .create_portal_session(&customer, &prefix)
            .await
            .map_err(customer_gone)
    }

    /// A page of the caller's invoices, read from Stripe.
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    pub async fn invoices(
        &self,
        user: &CurrentUser,
        query: InvoiceQuery,
    ) -> Result<InvoicePageView, ServiceError> {
        let customer = self.stripe_customer(user.id).await?;
        let page = InvoicePage {
            limit: query.limit,
            starting_after: query.starting_after,
        };
        let list = self
            .ctx
            .gateway
            .list_invoices(&customer, &page)
            .await
            .map_err(customer_gone)?;
        let invoices = list
            .invoices
            .into_iter()
            .map(|invoice| {
                let created = DateTime::from_timestamp(invoice.created, 0).ok_or_else(|| {
                    ServiceError::PaymentProvider(format!(
                        "invoice {} has an impossible date {}",
                        invoice.id, invoice.created
                    ))
                })?;
                Ok(InvoiceView {
                    id: invoice.id,
                    number: invoice.number,
                    created,
                    amount_due: invoice.amount_due,
                    amount_paid: invoice.amount_paid,
                    currency: invoice.currency,
                    status: invoice.status,
                    hosted_invoice_url: invoice.hosted_invoice_url,
                    invoice_pdf: invoice.invoice_pdf,
                })
            })
            .collect::<Result<_, ServiceError>>()?;
        Ok(InvoicePageView {
            invoices,
            has_more: list.has_more,
            next_cursor: list.next_cursor,
        })
    }

    /// The caller's Stripe customer: 503 without billing, 404 for an account that never paid.
    async fn stripe_customer(&self, user_id: Uuid) -> Result<String, ServiceError> {
        self.require_configured()?;
        subscriptions::find_by_user(&self.ctx.db, user_id)
            .await?
            .and_then(|row| row.stripe_customer_id)
            .ok_or(ServiceError::NotFound("Billing account"))
    }
}

/// Stripe no longer knows the customer (deleted in the dashboard): nothing to show, as for an
/// account that never paid. A cursor Stripe does not know is the client's to fix.
fn customer_gone(err: BillingError) -> ServiceError {
    match &err {
        BillingError::InvalidRequest {
            code: Some(code),
            param: Some(param),
            ..
        } if code == "resource_missing" && param == "customer" => {
            ServiceError::NotFound("Billing account")
        }
        BillingError::InvalidRequest {
            param: Some(param), ..
        } if param == "starting_after" => ServiceError::invalid_field(
            "starting_after",
            "starting_after must be an invoice id from next_cursor.",
        ),
        _ => err.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_defaults_to_ten_and_stays_within_one_to_a_hundred() {
        assert_eq!(
            InvoiceQuery::parse(None, None).ok().map(|q| q.limit),
            Some(10)
        );
        for ok in [1, 50, 100] {
            assert_eq!(
                InvoiceQuery::parse(Some(ok), None)
                    .ok()
                    .map(|q| u64::from(q.limit)),
                Some(ok)
            );
        }
        for bad in [0, 101, 256, 1 << 40] {
            assert!(InvoiceQuery::parse(Some(bad), None).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_cursor_is_an_invoice_id_and_every_bad_field_is_reported() {
        assert!(InvoiceQuery::parse(None, Some("in_1SDoztra0001")).is_ok());
        for bad in [
            "",
            "in_",
            "cus_1",
            "in_1&limit=5",
            "in_1 2",
            &format!("in_{}", "x".repeat(253)),
        ] {
            assert!(InvoiceQuery::parse(None, Some(bad)).is_err(), "{bad:?}");
        }
        let Err(ServiceError::Invalid { errors, .. }) = InvoiceQuery::parse(Some(0), Some("x"))
        else {
            panic!("expected a 422");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["limit", "starting_after"]);
    }
}
