//! What a call can fail with: one [`Error`] enum whose variants follow the contract's statuses
//! (docs/API.md, "Error codes"), each carrying the stable [`ErrorCode`] and the server's
//! `detail`, plus the extra fields some refusals have (the 402 quota body, 422 field errors,
//! `Retry-After`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// Every `code` of the contract's error table, and [`Other`](ErrorCode::Other) for one this
/// version of the client does not know yet (codes are added, never changed).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    ValidationError,
    WeakPassword,
    UnknownModel,
    MalformedJson,
    BadRequest,
    InvalidOrExpiredToken,
    InvalidSignature,
    NotAuthenticated,
    InvalidToken,
    InvalidCredentials,
    RefreshTokenReused,
    PaymentFailed,
    TokenLimitExceeded,
    ChatMessageLimitExceeded,
    PlagiarismCheckLimitExceeded,
    PromptLimitExceeded,
    AccountDisabled,
    AdminRequired,
    ForbiddenRole,
    ForbiddenSelfChange,
    ModelNotAllowed,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    EmailTaken,
    RequestIdConflict,
    ReservationSettled,
    SubscriptionExists,
    SubscriptionChangeInProgress,
    PayloadTooLarge,
    UnsupportedMediaType,
    TooManyAttempts,
    InternalError,
    PaymentProviderUnavailable,
    ServiceUnavailable,
    BillingUnavailable,
    DatabaseUnavailable,
    HttpError,
    InvalidApiKey,
    InsufficientScope,
    LastAdmin,
    ServiceBusy,
    /// A code this client does not know.
    Other(String),
}

const CODES: [(&str, ErrorCode); 42] = [
    ("validation_error", ErrorCode::ValidationError),
    ("weak_password", ErrorCode::WeakPassword),
    ("unknown_model", ErrorCode::UnknownModel),
    ("malformed_json", ErrorCode::MalformedJson),
    ("bad_request", ErrorCode::BadRequest),
    ("invalid_or_expired_token", ErrorCode::InvalidOrExpiredToken),
    ("invalid_signature", ErrorCode::InvalidSignature),
    ("not_authenticated", ErrorCode::NotAuthenticated),
    ("invalid_token", ErrorCode::InvalidToken),
    ("invalid_credentials", ErrorCode::InvalidCredentials),
    ("refresh_token_reused", ErrorCode::RefreshTokenReused),
    ("payment_failed", ErrorCode::PaymentFailed),
    ("token_limit_exceeded", ErrorCode::TokenLimitExceeded),
    (
        "chat_message_limit_exceeded",
        ErrorCode::ChatMessageLimitExceeded,
    ),
    (
        "plagiarism_check_limit_exceeded",
        ErrorCode::PlagiarismCheckLimitExceeded,
    ),
    ("prompt_limit_exceeded", ErrorCode::PromptLimitExceeded),
    ("account_disabled", ErrorCode::AccountDisabled),
    ("admin_required", ErrorCode::AdminRequired),
    ("forbidden_role", ErrorCode::ForbiddenRole),
    ("forbidden_self_change", ErrorCode::ForbiddenSelfChange),
    ("model_not_allowed", ErrorCode::ModelNotAllowed),
    ("not_found", ErrorCode::NotFound),
    ("method_not_allowed", ErrorCode::MethodNotAllowed),
    ("request_timeout", ErrorCode::RequestTimeout),
    ("email_taken", ErrorCode::EmailTaken),
    ("request_id_conflict", ErrorCode::RequestIdConflict),
    ("reservation_settled", ErrorCode::ReservationSettled),
    ("subscription_exists", ErrorCode::SubscriptionExists),
    (
        "subscription_change_in_progress",
        ErrorCode::SubscriptionChangeInProgress,
    ),
    ("payload_too_large", ErrorCode::PayloadTooLarge),
    ("unsupported_media_type", ErrorCode::UnsupportedMediaType),
    ("too_many_attempts", ErrorCode::TooManyAttempts),
    ("internal_error", ErrorCode::InternalError),
    (
        "payment_provider_unavailable",
        ErrorCode::PaymentProviderUnavailable,
    ),
    ("service_unavailable", ErrorCode::ServiceUnavailable),
    ("billing_unavailable", ErrorCode::BillingUnavailable),
    ("database_unavailable", ErrorCode::DatabaseUnavailable),
    ("http_error", ErrorCode::HttpError),
    ("invalid_api_key", ErrorCode::InvalidApiKey),
    ("insufficient_scope", ErrorCode::InsufficientScope),
    ("last_admin", ErrorCode::LastAdmin),
    ("service_busy", ErrorCode::ServiceBusy),
];

impl ErrorCode {
    /// The code of a wire string.
    ///
    /// ```
    /// use doztra_client::ErrorCode;
    /// assert_eq!(ErrorCode::parse("model_not_allowed"), ErrorCode::ModelNotAllowed);
    /// assert_eq!(ErrorCode::parse("new_code").as_str(), "new_code");
    /// ```
    pub fn parse(code: &str) -> Self {
        CODES
            .iter()
            .find(|(wire, _)| *wire == code)
            .map_or_else(|| Self::Other(code.to_owned()), |(_, c)| c.clone())
    }

    /// The wire string.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Other(code) => code,
            known => CODES
                .iter()
                .find(|(_, c)| c == known)
                .map_or("", |(wire, _)| wire),
        }
    }

    /// One of the four 402 quota codes (`token_limit_exceeded`, `*_limit_exceeded`).
    pub fn is_quota(&self) -> bool {
        matches!(
            self,
            Self::TokenLimitExceeded
                | Self::ChatMessageLimitExceeded
                | Self::PlagiarismCheckLimitExceeded
                | Self::PromptLimitExceeded
        )
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `{"code", "detail"}` every error answer carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    /// A human-readable sentence (may change; match on `code`).
    pub detail: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

/// One invalid field of a 422.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// A 402 quota refusal: the period's tokens (or a request type's units) ran out before the
/// request. `limit` and `used` are those of the counter that refused (`used` may pass `limit`:
/// the last request is recorded in full); nothing is accepted until `reset_date`.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaExceeded {
    /// `token_limit_exceeded`, `chat_message_limit_exceeded`,
    /// `plagiarism_check_limit_exceeded` or `prompt_limit_exceeded`.
    pub code: ErrorCode,
    pub detail: String,
    pub limit: Option<u64>,
    pub used: Option<u64>,
    pub reset_date: Option<DateTime<Utc>>,
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// 402 with a quota code: stop serving this user until `reset_date`.
    #[error("{}: {}", .0.code, .0.detail)]
    QuotaExceeded(QuotaExceeded),
    /// 402 `payment_failed`: the card was declined; nothing changed.
    #[error("payment_failed: {detail}")]
    PaymentFailed {
        detail: String,
        decline_code: Option<String>,
    },
    /// 401: `not_authenticated`, `invalid_token` (refresh and try again),
    /// `invalid_credentials`, `refresh_token_reused` (sign in again), `invalid_api_key`.
    #[error("unauthorized: {0}")]
    Unauthorized(Refusal),
    /// 403: `model_not_allowed`, `account_disabled`, `admin_required`, `insufficient_scope`, ...
    #[error("forbidden: {0}")]
    Forbidden(Refusal),
    /// 404 `not_found`.
    #[error("not found: {0}")]
    NotFound(Refusal),
    /// 409: `request_id_conflict` (a bug: one id was used for two calls),
    /// `reservation_settled`, `email_taken`, `subscription_exists`.
    #[error("conflict: {0}")]
    Conflict(Refusal),
    /// 422: `validation_error` (each invalid field in `errors`), `unknown_model`,
    /// `weak_password`.
    #[error("invalid request: {refusal}")]
    Invalid {
        refusal: Refusal,
        errors: Vec<FieldError>,
    },
    /// 429 `too_many_attempts`: wait `retry_after` before trying again.
    #[error("too many attempts: {refusal}")]
    TooManyRequests {
        refusal: Refusal,
        retry_after: Option<Duration>,
    },
    /// 409 `subscription_change_in_progress`: another change of the subscription (another
    /// tab, a double click) is under way; nothing changed. Ask again after `retry_after`.
    #[error("change in progress: {refusal}")]
    ChangeInProgress {
        refusal: Refusal,
        retry_after: Option<Duration>,
    },
    /// A 5xx that was still there after the retries this call allows (or a `Retry-After`
    /// longer than the policy waits). For a track, keep the usage with its `request_id` and
    /// send it again later: it is recorded at most once.
    #[error("server unavailable (HTTP {status}){}", refusal.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    Unavailable {
        status: u16,
        refusal: Option<Refusal>,
        retry_after: Option<Duration>,
        attempts: u32,
    },
    /// Any other error status (400, 405, 413, 415, ...).
    #[error("HTTP {status}{}", refusal.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    Http {
        status: u16,
        refusal: Option<Refusal>,
    },
    /// No answer: a timeout or a connection error, still failing after the retries this call
    /// allows. Whether the server acted is unknown (a track is safe to send again).
    #[error("no answer after {attempts} attempt(s): {source}")]
    Transport {
        #[source]
        source: reqwest::Error,
        attempts: u32,
    },
    /// A success status whose body is not the contract's shape.
    #[error("unexpected answer (HTTP {status}): {message}")]
    UnexpectedBody { status: u16, message: String },
    /// The client was configured with something unusable (a base URL that does not parse, an
    /// `https` URL without the `rustls` feature).
    #[error("client configuration: {0}")]
    Config(String),
}

impl Error {
    /// The contract's code, when the server answered one.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            Self::QuotaExceeded(q) => Some(&q.code),
            Self::PaymentFailed { .. } => Some(&ErrorCode::PaymentFailed),
            Self::Unauthorized(r) | Self::Forbidden(r) | Self::NotFound(r) | Self::Conflict(r) => {
                Some(&r.code)
            }
            Self::Invalid { refusal, .. }
            | Self::TooManyRequests { refusal, .. }
            | Self::ChangeInProgress { refusal, .. } => Some(&refusal.code),
            Self::Unavailable { refusal, .. } | Self::Http { refusal, .. } => {
                refusal.as_ref().map(|r| &r.code)
            }
            Self::Transport { .. } | Self::UnexpectedBody { .. } | Self::Config(_) => None,
        }
    }

    /// How long the server asked to wait (`Retry-After`), if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::TooManyRequests { retry_after, .. }
            | Self::ChangeInProgress { retry_after, .. }
            | Self::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether sending the same request again later may succeed: no answer, a 5xx or 429, or
    /// a change in progress. (A track keeps its `request_id`, so sending it again never counts
    /// twice.)
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Transport { .. }
                | Self::Unavailable { .. }
                | Self::TooManyRequests { .. }
                | Self::ChangeInProgress { .. }
        )
    }
}

/// The error body as it arrives (every field optional, so a proxy's answer still maps).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WireError {
    code: Option<String>,
    detail: Option<String>,
    #[serde(default)]
    errors: Vec<FieldError>,
    limit: Option<u64>,
    used: Option<u64>,
    reset_date: Option<DateTime<Utc>>,
    decline_code: Option<String>,
}

/// Maps an error status and its body to an [`Error`].
pub(crate) fn from_answer(
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
    attempts: u32,
) -> Error {
    let wire: Option<WireError> = serde_json::from_slice(body).ok();
    let refusal = wire.as_ref().and_then(|w| {
        w.code.as_ref().map(|code| Refusal {
            code: ErrorCode::parse(code),
            detail: w.detail.clone().unwrap_or_default(),
        })
    });
    let Some(refusal) = refusal else {
        return if status >= 500 {
            Error::Unavailable {
                status,
                refusal: None,
                retry_after,
                attempts,
            }
        } else {
            Error::Http {
                status,
                refusal: None,
            }
        };
    };
    let wire = wire.unwrap_or_default();
    match status {
        402 if refusal.code.is_quota() => Error::QuotaExceeded(QuotaExceeded {
            code: refusal.code,
            detail: refusal.detail,
            limit: wire.limit,
            used: wire.used,
            reset_date: wire.reset_date,
        }),
        402 if refusal.code == ErrorCode::PaymentFailed => Error::PaymentFailed {
            detail: refusal.detail,
            decline_code: wire.decline_code,
        },
        401 => Error::Unauthorized(refusal),
        403 => Error::Forbidden(refusal),
        404 => Error::NotFound(refusal),
        409 if refusal.code == ErrorCode::SubscriptionChangeInProgress => Error::ChangeInProgress {
            refusal,
            retry_after,
        },
        409 => Error::Conflict(refusal),
        422 => Error::Invalid {
            refusal,
            errors: wire.errors,
        },
        429 => Error::TooManyRequests {
            refusal,
            retry_after,
        },
        500.. => Error::Unavailable {
            status,
            refusal: Some(refusal),
            retry_after,
            attempts,
        },
        _ => Error::Http {
            status,
            refusal: Some(refusal),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_wire_string() {
        for (wire, code) in CODES {
            assert_eq!(ErrorCode::parse(wire), code);
            assert_eq!(code.as_str(), wire);
        }
        assert_eq!(
            ErrorCode::parse("brand_new"),
            ErrorCode::Other("brand_new".to_owned())
        );
    }

    #[test]
    fn a_quota_refusal_carries_limit_used_and_reset_date() {
        let body = br#"{"code":"token_limit_exceeded","detail":"Monthly token limit reached.",
            "limit":100000,"used":100050,"reset_date":"2025-11-01T00:00:00.000Z"}"#;
        let Error::QuotaExceeded(quota) = from_answer(402, body, None, 1) else {
            panic!("a quota error");
        };
        assert_eq!(quota.code, ErrorCode::TokenLimitExceeded);
        assert_eq!((quota.limit, quota.used), (Some(100_000), Some(100_050)));
        assert_eq!(
            quota.reset_date.unwrap().to_rfc3339(),
            "2025-11-01T00:00:00+00:00"
        );
    }

    #[test]
    fn a_body_that_is_not_the_contract_still_maps_by_status() {
        let err = from_answer(502, b"<html>bad gateway</html>", None, 3);
        assert!(matches!(
            err,
            Error::Unavailable {
                status: 502,
                refusal: None,
                attempts: 3,
                ..
            }
        ));
        assert!(err.is_transient());
        assert!(matches!(
            from_answer(418, b"", None, 1),
            Error::Http { status: 418, .. }
        ));
    }

    #[test]
    fn a_change_in_progress_says_when_to_ask_again() {
        let body = br#"{"code":"subscription_change_in_progress","detail":"Another change."}"#;
        let err = from_answer(409, body, Some(Duration::from_secs(2)), 1);
        let Error::ChangeInProgress {
            refusal,
            retry_after,
        } = err
        else {
            panic!("a change in progress: {err:?}");
        };
        assert_eq!(refusal.code, ErrorCode::SubscriptionChangeInProgress);
        assert_eq!(retry_after, Some(Duration::from_secs(2)));
        let err = from_answer(
            409,
            br#"{"code":"subscription_change_in_progress"}"#,
            None,
            1,
        );
        assert!(err.is_transient());
        let body = br#"{"code":"subscription_exists","detail":"Change it instead."}"#;
        assert!(matches!(
            from_answer(409, body, None, 1),
            Error::Conflict(_)
        ));
    }

    #[test]
    fn field_errors_come_with_a_422() {
        let body = br#"{"code":"validation_error","detail":"Invalid request.",
            "errors":[{"field":"model","message":"is required"}]}"#;
        let Error::Invalid { refusal, errors } = from_answer(422, body, None, 1) else {
            panic!("a 422");
        };
        assert_eq!(refusal.code, ErrorCode::ValidationError);
        assert_eq!(errors[0].field, "model");
    }
}
