//! What customers see of their own billing at Stripe: a Customer Portal session (card, invoices,
//! cancellation, on Stripe's pages) and a page of their invoices.

/// A Customer Portal session: send the customer to `url` (short-lived; make one per visit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalSession {
    pub id: String,
    pub url: String,
}

/// Which invoices to list: at most `limit` (Stripe takes 1..=100), the ones after the invoice
/// `starting_after` (a `next_cursor` of the previous page), newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoicePage {
    pub limit: u8,
    pub starting_after: Option<String>,
}

/// A page of a customer's invoices, newest first. Drafts are left out (they have no number
/// and no PDF yet, and may still change), so a page can hold fewer than `limit` invoices
/// while `has_more` is true.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceList {
    pub invoices: Vec<InvoiceSummary>,
    pub has_more: bool,
    /// With `has_more`: the `starting_after` of the next page (the last invoice Stripe
    /// returned, a skipped draft included).
    pub next_cursor: Option<String>,
}

/// One invoice as the customer sees it. Amounts are in the currency's minor unit (cents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceSummary {
    pub id: String,
    /// `7D1F0E2A-0001`; Stripe numbers an invoice when it is finalized.
    pub number: Option<String>,
    /// Unix seconds.
    pub created: i64,
    pub amount_due: i64,
    pub amount_paid: i64,
    /// ISO 4217, lower case (`usd`).
    pub currency: String,
    /// `open`, `paid`, `uncollectible` or `void`.
    pub status: String,
    /// Stripe's page to view and pay the invoice.
    pub hosted_invoice_url: Option<String>,
    pub invoice_pdf: Option<String>,
}
