//! The Customer Portal session and the invoice list: what customers see of their own billing.

use stripe_billing::billing_portal_session::CreateBillingPortalSession;

use super::StripeGateway;
use super::objects::{self, List};
use super::requests::ListInvoices;
use crate::customer_portal::{InvoiceList, InvoicePage, InvoiceSummary, PortalSession};
use crate::error::BillingError;
use crate::idempotency::idempotency_key;

impl StripeGateway {
    pub(super) async fn portal_session(
        &self,
        customer_id: &str,
        prefix: &str,
    ) -> Result<PortalSession, BillingError> {
        let request = CreateBillingPortalSession::new()
            .customer(customer_id)
            .return_url(self.portal_return_url.as_str());
        let key = idempotency_key(prefix, "portal", &[customer_id, &self.portal_return_url]);
        let session: objects::PortalSession = self.client.send(&request, Some(&key)).await?;
        Ok(PortalSession {
            id: session.id,
            url: session.url,
        })
    }

    pub(super) async fn invoices(
        &self,
        customer_id: &str,
        page: &InvoicePage,
    ) -> Result<InvoiceList, BillingError> {
        let request = ListInvoices {
            customer: customer_id,
            limit: page.limit,
            starting_after: page.starting_after.as_deref(),
        };
        let list: List<objects::ListedInvoice> = self.client.send(&request, None).await?;
        let next_cursor = list
            .has_more
            .then(|| list.data.last().map(|i| i.id.clone()))
            .flatten();
        let invoices = list.data.into_iter().filter_map(summary).collect();
        Ok(InvoiceList {
            invoices,
            has_more: list.has_more,
            next_cursor,
        })
    }
}

/// The invoice as the customer sees it; `None` for a draft (or an invoice without a status).
fn summary(invoice: objects::ListedInvoice) -> Option<InvoiceSummary> {
    let status = invoice.status.filter(|status| status != "draft")?;
    Some(InvoiceSummary {
        id: invoice.id,
        number: invoice.number,
        created: invoice.created,
        amount_due: invoice.amount_due,
        amount_paid: invoice.amount_paid,
        currency: invoice.currency,
        status,
        hosted_invoice_url: invoice.hosted_invoice_url,
        invoice_pdf: invoice.invoice_pdf,
    })
}
