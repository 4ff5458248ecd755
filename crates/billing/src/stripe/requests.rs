//! Requests of our own for the two reads whose generated async-stripe builders would cost far
//! more to compile than they are worth (the `payment_intent` and `invoice` features add some
//! 65,000 lines of request code). They build the same `RequestBuilder` the generated ones do,
//! so they go through `StripeClient::send` like every other request.

use serde::Serialize;
use stripe::StripeRequest;
use stripe_client_core::{RequestBuilder, StripeMethod};

/// `GET /v1/payment_intents/{id}`.
pub(crate) struct RetrievePaymentIntent<'a>(pub &'a str);

impl StripeRequest for RetrievePaymentIntent<'_> {
    type Output = miniserde::json::Value;

    fn build(&self) -> RequestBuilder {
        RequestBuilder::new(StripeMethod::Get, format!("/payment_intents/{}", self.0))
    }
}

/// `GET /v1/invoices?customer=..&limit=..&starting_after=..`.
#[derive(Serialize)]
pub(crate) struct ListInvoices<'a> {
    pub customer: &'a str,
    pub limit: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starting_after: Option<&'a str>,
}

impl StripeRequest for ListInvoices<'_> {
    type Output = miniserde::json::Value;

    fn build(&self) -> RequestBuilder {
        RequestBuilder::new(StripeMethod::Get, "/invoices").query(self)
    }
}
