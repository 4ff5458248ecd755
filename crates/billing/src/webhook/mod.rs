//! Stripe webhooks: signature verification over the raw body, then parsing into the few event
//! kinds the service handles. The service stores each event id with its effect (exactly once).

mod event;
mod signature;

pub use event::{
    CheckoutCompleted, EventData, InvoiceEvent, SubscriptionChange, WebhookEvent, parse_event,
};
pub use signature::{
    DEFAULT_TOLERANCE_SECS, MAX_HEADER_BYTES, MAX_V1_SIGNATURES, check_header, screen_header, sign,
    verify,
};

use crate::settings::{PriceTable, SecretString, StripeSettings};

/// Why a webhook request was refused. Every variant is a 400 for Stripe (`invalid_signature`
/// for all but `InvalidPayload`); Stripe retries non-2xx deliveries for up to three days.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("malformed Stripe-Signature header: {0}")]
    MalformedHeader(&'static str),
    #[error(
        "the Stripe-Signature header is longer than {} bytes",
        MAX_HEADER_BYTES
    )]
    HeaderTooLong,
    #[error("no v1 signature matches the payload")]
    SignatureMismatch,
    #[error("the signature's timestamp {timestamp} is outside the tolerance")]
    Stale { timestamp: i64 },
    /// The signature was good but the body is not an event we can read.
    #[error("invalid webhook payload: {0}")]
    InvalidPayload(String),
}

impl WebhookError {
    /// Whether the request failed the signature check (as opposed to a signed but unreadable
    /// payload).
    pub fn is_signature_error(&self) -> bool {
        !matches!(self, Self::InvalidPayload(_))
    }
}

/// Verification and parsing with the configured secrets and prices.
#[derive(Debug, Clone)]
pub struct WebhookVerifier {
    secrets: Vec<SecretString>,
    prices: PriceTable,
    tolerance_secs: i64,
}

impl WebhookVerifier {
    pub fn new(settings: &StripeSettings) -> Self {
        Self {
            secrets: std::iter::once(settings.webhook_secret.clone())
                .chain(settings.previous_webhook_secret.clone())
                .collect(),
            prices: settings.prices.clone(),
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
        }
    }

    /// The checks of [`verify_and_parse`](Self::verify_and_parse) that need no HMAC (header
    /// size and shape, timestamp tolerance): cheap enough for any thread.
    pub fn check_header(&self, header: &str, now_unix: i64) -> Result<(), WebhookError> {
        check_header(header, now_unix, self.tolerance_secs)
    }

    /// Verifies `header` over the raw `payload` at `now_unix`, then parses the event. This
    /// hashes the whole payload once per secret: keep it off threads that must stay responsive.
    pub fn verify_and_parse(
        &self,
        payload: &[u8],
        header: &str,
        now_unix: i64,
    ) -> Result<WebhookEvent, WebhookError> {
        let secrets: Vec<&str> = self.secrets.iter().map(SecretString::expose).collect();
        verify(payload, header, &secrets, now_unix, self.tolerance_secs)?;
        parse_event(payload, &self.prices)
    }
}
