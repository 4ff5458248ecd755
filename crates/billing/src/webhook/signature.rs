//! Verifying the `Stripe-Signature` header: HMAC-SHA256 of `"{t}.{raw body}"`, any `v1` value,
//! any of the secrets, constant-time comparison, and a timestamp tolerance.

use hmac::{KeyInit, Mac};
use sha2::Sha256;

use super::WebhookError;

/// Stripe's recommended tolerance between the signature's timestamp and our clock.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

type HmacSha256 = hmac::Hmac<Sha256>;

/// Checks that `header` (the `Stripe-Signature` value) signs `payload` (the raw request body,
/// byte for byte as received) with one of `secrets`, at a time within `tolerance_secs` of
/// `now_unix` (either side).
///
/// The header is `t=<unix>,v1=<hex>[,v1=<hex>...][,v0=...]`. Stripe sends several `v1` values
/// while an endpoint secret is being rolled, so every one is tried against every secret;
/// `v0` and unknown schemes are ignored. async-stripe-webhook's `construct_event` takes one
/// secret only, which is why this is done here.
pub fn verify(
    payload: &[u8],
    header: &str,
    secrets: &[&str],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<(), WebhookError> {
    let parsed = SignatureHeader::parse(header)?;
    let matched = secrets.iter().any(|secret| {
        parsed.v1.iter().any(|signature| {
            let Ok(mut mac) = HmacSha256::new_from_slice(secret.as_bytes()) else {
                return false;
            };
            mac.update(parsed.timestamp_text.as_bytes());
            mac.update(b".");
            mac.update(payload);
            // verify_slice compares in constant time; a wrong length simply fails.
            mac.verify_slice(signature).is_ok()
        })
    });
    if !matched {
        return Err(WebhookError::SignatureMismatch);
    }
    if now_unix.abs_diff(parsed.timestamp) > tolerance_secs.unsigned_abs() {
        return Err(WebhookError::Stale {
            timestamp: parsed.timestamp,
        });
    }
    Ok(())
}

/// Signs `payload` the way Stripe does, for tests and local tooling: returns the header value
/// `t={timestamp},v1={hex}`.
pub fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
    let hex_signature = match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(timestamp.to_string().as_bytes());
            mac.update(b".");
            mac.update(payload);
            hex::encode(mac.finalize().into_bytes())
        }
        // HMAC takes keys of any length; this arm cannot be reached.
        Err(_) => String::new(),
    };
    format!("t={timestamp},v1={hex_signature}")
}

struct SignatureHeader<'a> {
    timestamp: i64,
    /// Exactly as sent: the signed text is `"{t}.{body}"` with Stripe's own digits.
    timestamp_text: &'a str,
    v1: Vec<Vec<u8>>,
}

impl<'a> SignatureHeader<'a> {
    fn parse(header: &'a str) -> Result<Self, WebhookError> {
        let mut timestamp = None;
        let mut saw_v1 = false;
        let mut v1 = Vec::new();
        for pair in header.split(',') {
            let Some((key, value)) = pair.trim().split_once('=') else {
                return Err(WebhookError::MalformedHeader("an element is not key=value"));
            };
            match key {
                "t" => {
                    if timestamp.is_some() {
                        return Err(WebhookError::MalformedHeader("more than one timestamp"));
                    }
                    let parsed: i64 = value.parse().map_err(|_| {
                        WebhookError::MalformedHeader("the timestamp is not a number")
                    })?;
                    timestamp = Some((parsed, value));
                }
                // A value that is not hex cannot match; skip it rather than fail, so one odd
                // value does not hide a good one.
                "v1" => {
                    saw_v1 = true;
                    if let Ok(bytes) = hex::decode(value) {
                        v1.push(bytes);
                    }
                }
                _ => {}
            }
        }
        let Some((timestamp, timestamp_text)) = timestamp else {
            return Err(WebhookError::MalformedHeader("no timestamp"));
        };
        if !saw_v1 {
            return Err(WebhookError::MalformedHeader("no v1 signature"));
        }
        Ok(Self {
            timestamp,
            timestamp_text,
            v1,
        })
    }
}
