//! Sending one request with async-stripe: idempotency key, bounded retries, error mapping.
//!
//! Requests are built with async-stripe's typed builders (`CreateSubscription`, ...), which get
//! the form encoding of nested parameters right (`items[0][price]`, `expand[0]`). The answer
//! is read as `miniserde::json::Value` instead of the request's generated output type, then
//! re-parsed with serde into the handful of fields we use (see `objects.rs` for why).

use std::time::Duration;

use serde::de::DeserializeOwned;
use stripe::{ApiErrorsType, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};

use crate::error::BillingError;

pub(crate) struct StripeClient {
    client: stripe::Client,
    max_retries: u32,
    backoff: Duration,
}

impl StripeClient {
    pub(crate) fn new(client: stripe::Client, max_retries: u32, backoff: Duration) -> Self {
        Self {
            client,
            max_retries,
            backoff,
        }
    }

    /// Sends `request`, with `idempotency_key` as the `Idempotency-Key` header when given (every
    /// POST and DELETE passes one; only GETs go without).
    ///
    /// Network errors, timeouts, 409 (e.g. `idempotency_key_in_use` while a double click's first
    /// request is still running), 429 and 5xx are retried with the *same* key, which is what
    /// makes the retry safe. async-stripe's own `RequestStrategy::Retry` would not do: it
    /// invents a random key per call (and only with its `uuid` feature).
    pub(crate) async fn send<T: DeserializeOwned>(
        &self,
        request: &impl StripeRequest,
        idempotency_key: Option<&str>,
    ) -> Result<T, BillingError> {
        let key = idempotency_key
            .map(IdempotencyKey::new)
            .transpose()
            .map_err(|e| BillingError::Gateway(format!("bad idempotency key: {e}")))?;
        let mut attempt: u32 = 0;
        loop {
            let mut customized = request.build().customize::<miniserde::json::Value>();
            if let Some(key) = &key {
                customized = customized.request_strategy(RequestStrategy::Idempotent(key.clone()));
            }
            match customized.send(&self.client).await {
                Ok(value) => return decode(&value),
                Err(err) if attempt < self.max_retries && is_transient(&err) => {
                    let wait = self.backoff.saturating_mul(2u32.saturating_pow(attempt));
                    attempt += 1;
                    tracing::warn!(
                        attempt,
                        error = %describe(&err),
                        "Stripe request failed; retrying with the same idempotency key"
                    );
                    tokio::time::sleep(wait).await;
                }
                Err(err) => return Err(map_error(err)),
            }
        }
    }
}

fn decode<T: DeserializeOwned>(value: &miniserde::json::Value) -> Result<T, BillingError> {
    let text = miniserde::json::to_string(value);
    serde_json::from_str(&text)
        .map_err(|e| BillingError::Gateway(format!("unexpected answer from Stripe: {e}")))
}

/// A one-line account of the error for the log. `StripeError`'s own `Display` pretty-prints the
/// whole error object, which can include the payment method's details.
fn describe(err: &StripeError) -> String {
    match err {
        StripeError::Stripe(api, status) => format!(
            "{status} {} {}",
            api.type_.as_str(),
            api.code.as_ref().map(|c| c.as_str()).unwrap_or_default()
        ),
        other => other.to_string(),
    }
}

fn is_transient(err: &StripeError) -> bool {
    match err {
        StripeError::ClientError(_) | StripeError::Timeout => true,
        StripeError::Stripe(_, status) => matches!(status, 409 | 429 | 500..=599),
        StripeError::JSONDeserialize(_) | StripeError::ConfigError(_) => false,
    }
}

pub(crate) fn map_error(err: StripeError) -> BillingError {
    match err {
        StripeError::Stripe(api, status) => {
            let message = api.message.clone().unwrap_or_default();
            let code = api.code.as_ref().map(|c| c.as_str().to_owned());
            match api.type_ {
                ApiErrorsType::CardError => BillingError::Declined {
                    message: if message.is_empty() {
                        "Your card was declined.".to_owned()
                    } else {
                        message
                    },
                    code: api.decline_code.clone().or(code),
                },
                // 401/403 (bad key, missing permission) and 429 are ours to fix, not the
                // request's: those stay gateway errors.
                ApiErrorsType::InvalidRequestError if matches!(status, 400 | 404) => {
                    BillingError::InvalidRequest {
                        message,
                        code,
                        param: api.param.clone(),
                    }
                }
                other => BillingError::Gateway(format!(
                    "Stripe answered {status} {}{}: {message}",
                    other.as_str(),
                    code.map(|c| format!(" ({c})")).unwrap_or_default()
                )),
            }
        }
        // async-stripe reports an error body it cannot parse (e.g. an HTML page from a proxy)
        // as JSONDeserialize, and drops the HTTP status on the way.
        StripeError::JSONDeserialize(detail) => {
            BillingError::Gateway(format!("unreadable answer from Stripe: {detail}"))
        }
        StripeError::ClientError(detail) => {
            BillingError::Gateway(format!("could not reach Stripe: {detail}"))
        }
        StripeError::Timeout => BillingError::Gateway("Stripe did not answer in time".to_owned()),
        StripeError::ConfigError(detail) => {
            BillingError::Gateway(format!("Stripe client configuration: {detail}"))
        }
    }
}
