//! Verifying the `Stripe-Signature` header: HMAC-SHA256 of `"{t}.{raw body}"`, any of the
//! first few `v1` values, any of the secrets, constant-time comparison, and a timestamp
//! tolerance. The work is bounded whatever the sender writes: a header over
//! [`MAX_HEADER_BYTES`] is refused unread, the timestamp is checked before any HMAC, the body is
//! hashed once per secret (not once per `v1` value), and only the first [`MAX_V1_SIGNATURES`]
//! `v1` values are compared.

use hmac::{KeyInit, Mac};
use sha2::Sha256;

use super::WebhookError;

/// Stripe's recommended tolerance between the signature's timestamp and our clock.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// The longest `Stripe-Signature` header read (Stripe's own are about 150 bytes).
pub const MAX_HEADER_BYTES: usize = 8 * 1024;

/// How many `v1` values are compared; later ones are ignored. Stripe sends one per active
/// endpoint secret (two while a secret is being rolled).
pub const MAX_V1_SIGNATURES: usize = 5;

type HmacSha256 = hmac::Hmac<Sha256>;

/// The checks that need no secret: a header that is empty or longer than
/// [`MAX_HEADER_BYTES`] is refused whether or not billing is configured.
pub fn screen_header(header: &str) -> Result<(), WebhookError> {
    if header.len() > MAX_HEADER_BYTES {
        return Err(WebhookError::HeaderTooLong);
    }
    if header.trim().is_empty() {
        return Err(WebhookError::MalformedHeader("empty"));
    }
    Ok(())
}

/// Checks that `header` (the `Stripe-Signature` value) signs `payload` (the raw request body,
/// byte for byte as received) with one of `secrets`, at a time within `tolerance_secs` of
/// `now_unix` (either side).
///
/// The header is `t=<unix>,v1=<hex>[,v1=<hex>...][,v0=...]`. Stripe sends several `v1` values
/// while an endpoint secret is being rolled, so each of the first [`MAX_V1_SIGNATURES`] is
/// compared with the HMAC under each secret; `v0` and unknown schemes are ignored.
/// async-stripe-webhook's `construct_event` takes one secret only and checks only the last
/// `v1` value, which is why this is done here.
pub fn verify(
    payload: &[u8],
    header: &str,
    secrets: &[&str],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<(), WebhookError> {
    let parsed = precheck(header, now_unix, tolerance_secs)?;
    let matched = secrets.iter().any(|secret| {
        let Ok(mut mac) = HmacSha256::new_from_slice(secret.as_bytes()) else {
            return false;
        };
        mac.update(parsed.timestamp_text.as_bytes());
        mac.update(b".");
        mac.update(payload);
        // The body is absorbed once; each comparison only finalises a copy. verify_slice
        // compares in constant time, and a wrong length simply fails.
        parsed
            .v1
            .iter()
            .any(|signature| mac.clone().verify_slice(signature).is_ok())
    });
    if !matched {
        return Err(WebhookError::SignatureMismatch);
    }
    Ok(())
}

/// Everything [`verify`] checks before any HMAC: the header's size and shape, and the timestamp
/// tolerance. A header refused here costs nothing however large its body.
pub fn check_header(header: &str, now_unix: i64, tolerance_secs: i64) -> Result<(), WebhookError> {
    precheck(header, now_unix, tolerance_secs).map(|_| ())
}

fn precheck(
    header: &str,
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<SignatureHeader<'_>, WebhookError> {
    screen_header(header)?;
    let parsed = SignatureHeader::parse(header)?;
    if now_unix.abs_diff(parsed.timestamp) > tolerance_secs.unsigned_abs() {
        return Err(WebhookError::Stale {
            timestamp: parsed.timestamp,
        });
    }
    Ok(parsed)
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
        let mut v1_seen = 0usize;
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
                // value does not hide a good one. Past the first few, values are not read.
                "v1" => {
                    if v1_seen < MAX_V1_SIGNATURES
                        && let Ok(bytes) = hex::decode(value)
                    {
                        v1.push(bytes);
                    }
                    v1_seen += 1;
                }
                _ => {}
            }
        }
        let Some((timestamp, timestamp_text)) = timestamp else {
            return Err(WebhookError::MalformedHeader("no timestamp"));
        };
        if v1_seen == 0 {
            return Err(WebhookError::MalformedHeader("no v1 signature"));
        }
        Ok(Self {
            timestamp,
            timestamp_text,
            v1,
        })
    }
}
