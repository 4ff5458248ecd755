//! The service error: what a use case can refuse, in terms the HTTP layer maps in one place.

use std::error::Error as StdError;

use domain::{DomainError, Refusal};
use persistence::StoreError;

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Why a use case did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Input that does not parse; one entry per invalid field. `code` is the most specific
    /// code (`weak_password`, `unknown_model`, or `validation_error`).
    #[error("{message}")]
    Invalid {
        code: &'static str,
        message: String,
        errors: Vec<FieldError>,
    },
    #[error("An account with this email already exists.")]
    EmailTaken,
    #[error("Only the user role can be chosen at registration.")]
    ForbiddenRole,
    #[error("Paid plans are not available: billing is not configured.")]
    BillingUnavailable,
    /// The card was declined or the payment failed; `message` is the provider's text for the
    /// customer, `decline_code` its reason (e.g. `insufficient_funds`).
    #[error("The payment failed: {message}")]
    PaymentFailed {
        message: String,
        decline_code: Option<String>,
    },
    /// The payment provider could not be reached or answered something unusable (logged).
    #[error("The payment provider is unavailable. Please try again.")]
    PaymentProvider(String),
    /// A Stripe webhook whose signature does not verify.
    #[error("The webhook signature is invalid.")]
    InvalidSignature,
    /// The caller already has a paid subscription (change it instead of buying another).
    #[error("You already have a paid subscription; change its plan instead.")]
    SubscriptionExists,
    /// Another change of the caller's subscription is talking to Stripe right now.
    #[error("Another change of this subscription is in progress; try again once it is done.")]
    ChangeInProgress { retry_after_secs: u64 },
    #[error("Incorrect email or password.")]
    InvalidCredentials,
    #[error("The current password is incorrect.")]
    WrongCurrentPassword,
    #[error("This account is disabled.")]
    AccountDisabled,
    #[error("Too many attempts. Try again later.")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("Not authenticated.")]
    NotAuthenticated,
    #[error("The token is invalid, expired or revoked.")]
    InvalidToken,
    #[error("This refresh token was already used; the session has been revoked.")]
    RefreshTokenReused,
    #[error("Administrator rights are required.")]
    AdminRequired,
    /// An API key that is unknown, revoked or expired (or a credential that is no API key on a
    /// key route).
    #[error("The API key is invalid, expired or revoked.")]
    InvalidApiKey,
    /// A valid API key without the scope the route needs.
    #[error("This API key lacks the scope '{0}'.")]
    InsufficientScope(&'static str),
    #[error("{0}")]
    ForbiddenSelfChange(&'static str),
    /// The change would leave no active admin.
    #[error("This would leave no active admin: promote another account first.")]
    LastAdmin,
    #[error("{0} not found.")]
    NotFound(&'static str),
    /// A quota or tier refusal decided by the domain; `reset_date` is when the period's
    /// counters start again from zero.
    #[error("{}", .refusal.message())]
    Quota {
        refusal: Refusal,
        reset_date: chrono::DateTime<chrono::Utc>,
    },
    #[error("This link is invalid, expired or already used.")]
    InvalidEmailToken,
    #[error("This request_id was already used with a different payload.")]
    RequestIdConflict,
    /// The reservation was already settled by another track.
    #[error("This reservation was already settled by another request.")]
    ReservationSettled,
    #[error("The service is temporarily unavailable.")]
    Unavailable(#[source] StoreError),
    /// Too much costly work is queued (password hashing); retry after the given seconds.
    #[error("The service is busy. Please try again shortly.")]
    Busy { retry_after_secs: u64 },
    #[error("internal error: {context}")]
    Internal {
        context: &'static str,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl ServiceError {
    pub(crate) fn internal(
        context: &'static str,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        ServiceError::Internal {
            context,
            source: source.into(),
        }
    }

    /// A single invalid field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ServiceError::Invalid {
            code: "validation_error",
            message: message.clone(),
            errors: vec![FieldError {
                field: field.to_owned(),
                message,
            }],
        }
    }

    /// Collects the domain errors of several fields into one 422.
    pub fn from_domain_errors(errors: Vec<DomainError>) -> Self {
        let mut collected = FieldErrors::default();
        for error in errors {
            collected.push_domain(error);
        }
        collected.into()
    }
}

impl From<billing::BillingError> for ServiceError {
    fn from(err: billing::BillingError) -> Self {
        use billing::BillingError as B;
        match err {
            B::Declined { message, code } => ServiceError::PaymentFailed {
                message,
                decline_code: code,
            },
            B::NotConfigured => ServiceError::BillingUnavailable,
            B::PriceUnavailable { plan, interval } => ServiceError::invalid_field(
                "billing_period",
                format!("The {plan} plan is not offered {interval}."),
            ),
            B::InvalidRequest {
                message,
                param: Some(param),
                ..
            } if param.contains("payment_method") => ServiceError::invalid_field(
                "payment_method_id",
                format!("The payment method was refused: {message}"),
            ),
            B::InvalidRequest { message, code, .. } => ServiceError::PaymentProvider(format!(
                "Stripe refused the request ({}): {message}",
                code.as_deref().unwrap_or("no code")
            )),
            B::Gateway(text) => ServiceError::PaymentProvider(text),
        }
    }
}

impl From<DomainError> for ServiceError {
    fn from(err: DomainError) -> Self {
        ServiceError::from_domain_errors(vec![err])
    }
}

impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => ServiceError::Unavailable(err),
            other => ServiceError::internal("database", other),
        }
    }
}

/// Collects the parse results of a request's fields, so one 422 names every invalid field:
/// `take` each field's result, then either everything parsed or [`ServiceError::from`] the
/// collector.
///
/// ```
/// use domain::{Email, UserName};
/// use doztra_service::{FieldErrors, ServiceError};
///
/// let mut errors = FieldErrors::default();
/// let email = errors.take(Email::parse("nope"));
/// let name = errors.take(UserName::parse(""));
/// let (Some(_email), Some(_name)) = (email, name) else {
///     let ServiceError::Invalid { errors, .. } = ServiceError::from(errors) else { panic!() };
///     assert_eq!(errors.len(), 2);
///     return;
/// };
/// ```
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<(&'static str, FieldError)>);

impl FieldErrors {
    /// The value, or `None` with its error kept.
    pub fn take<T>(&mut self, result: Result<T, DomainError>) -> Option<T> {
        self.take_named(None, result)
    }

    /// [`take`](Self::take) for a field the request names `field` (e.g.
    /// `subscription.payment_method_id`) rather than as the error names it.
    pub fn take_as<T>(&mut self, field: &'static str, result: Result<T, DomainError>) -> Option<T> {
        self.take_named(Some(field), result)
    }

    /// [`take`](Self::take) for a value that can fail in several ways at once (a list whose
    /// entries are checked one by one): every error is kept.
    pub fn take_all<T>(&mut self, result: Result<T, Vec<DomainError>>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(errors) => {
                for e in errors {
                    self.push_domain(e);
                }
                None
            }
        }
    }

    fn take_named<T>(
        &mut self,
        field: Option<&'static str>,
        result: Result<T, DomainError>,
    ) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.push_named(field, e);
                None
            }
        }
    }

    /// Records a field that is invalid by a rule of the wire format rather than of the domain
    /// (an output format, say): a `validation_error` like the others.
    pub fn reject(&mut self, field: &str, message: impl Into<String>) {
        let error = FieldError {
            field: field.to_owned(),
            message: message.into(),
        };
        self.0.push(("validation_error", error));
    }

    fn push_domain(&mut self, error: DomainError) {
        self.push_named(None, error);
    }

    /// Keeps `error` under `field`, or under the field the error names.
    fn push_named(&mut self, field: Option<&'static str>, error: DomainError) {
        let named = FieldError {
            field: field.or(error.field()).unwrap_or("body").to_owned(),
            message: error.to_string(),
        };
        self.0.push((error.code(), named));
    }

    /// `Ok` when every field parsed, else the 422 naming each invalid one.
    pub fn finish(self) -> Result<(), ServiceError> {
        let Some((first, _)) = self.0.first() else {
            return Ok(());
        };
        // A specific code (weak_password, unknown_model) only when every error shares it.
        let code = if self.0.iter().all(|(code, _)| code == first) {
            *first
        } else {
            "validation_error"
        };
        let message = match self.0.as_slice() {
            [(_, only)] => only.message.clone(),
            many => format!("The request has {} invalid fields.", many.len()),
        };
        Err(ServiceError::Invalid {
            code,
            message,
            errors: self.0.into_iter().map(|(_, error)| error).collect(),
        })
    }
}

impl From<FieldErrors> for ServiceError {
    /// The 422 of the collected errors (an internal error if, wrongly, there were none).
    fn from(errors: FieldErrors) -> Self {
        errors
            .finish()
            .err()
            .unwrap_or_else(|| ServiceError::internal("request", "a field was lost"))
    }
}

/// Parses a new password sent in the `new_password` field (so a 422 names that field).
pub(crate) fn parse_new_password(raw: &str) -> Result<domain::Password, ServiceError> {
    domain::Password::parse(raw).map_err(|e| {
        let mut err = ServiceError::from(e);
        if let ServiceError::Invalid { errors, .. } = &mut err {
            for field in errors.iter_mut() {
                field.field = "new_password".to_owned();
            }
        }
        err
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_422_names_domain_and_wire_errors_alike_with_the_most_specific_shared_code() {
        let mut errors = FieldErrors::default();
        assert!(errors.take(domain::Password::parse("short")).is_none());
        let ServiceError::Invalid { code, message, .. } = ServiceError::from(errors) else {
            panic!("a 422");
        };
        assert_eq!(code, "weak_password");
        assert_eq!(message, "The password must have at least 8 characters.");

        let mut errors = FieldErrors::default();
        assert!(errors.take(domain::Password::parse("short")).is_none());
        errors.reject("format", "format must be json or csv.");
        let ServiceError::Invalid {
            code,
            message,
            errors,
        } = ServiceError::from(errors)
        else {
            panic!("a 422");
        };
        assert_eq!(code, "validation_error");
        assert_eq!(message, "The request has 2 invalid fields.");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["password", "format"]);
        assert_eq!(errors[1].message, "format must be json or csv.");
    }

    #[test]
    fn nothing_collected_is_no_error() {
        assert!(FieldErrors::default().finish().is_ok());
    }
}
