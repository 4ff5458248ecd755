//! The one error type of the domain crate: every fallible constructor returns a [`DomainError`],
//! which carries a human sentence ([`Display`](std::fmt::Display)), a stable machine code
//! ([`DomainError::code`]) and the request field it is about ([`DomainError::field`]).

/// Why a raw value could not become a domain value.
///
/// The `Display` text is one short human sentence fit for an API response; [`code`](Self::code)
/// and [`field`](Self::field) let the API layer build its `{"detail", "code", "errors"}` body
/// from a single match.
///
/// ```
/// use doztra_domain::{DomainError, Email};
///
/// let err = Email::parse("not-an-email").unwrap_err();
/// assert_eq!(err, DomainError::InvalidEmail);
/// assert_eq!(err.code(), "validation_error");
/// assert_eq!(err.field(), Some("email"));
/// assert_eq!(err.to_string(), "Enter a valid email address.");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The email address is not plausible (see [`Email::parse`](crate::Email::parse)).
    #[error("Enter a valid email address.")]
    InvalidEmail,
    /// The name is empty after trimming, longer than 100 characters or holds control characters.
    #[error("Enter a name of 1 to 100 characters without control characters.")]
    InvalidName,
    /// The password has fewer than `min` characters.
    #[error("The password must have at least {min} characters.")]
    PasswordTooShort {
        /// The minimum number of characters.
        min: usize,
    },
    /// The password has more than `max` characters.
    #[error("The password must have at most {max} characters.")]
    PasswordTooLong {
        /// The maximum number of characters.
        max: usize,
    },
    /// The password is on the list of very common passwords.
    #[error("This password is too common; choose a less predictable one.")]
    CommonPassword,
    /// The role is not one of `user` or `admin`.
    #[error("Unknown role '{0}'; expected 'user' or 'admin'.")]
    UnknownRole(String),
    /// The plan is not one of `free`, `basic` or `professional`.
    #[error("Unknown plan '{0}'; expected 'free', 'basic' or 'professional'.")]
    UnknownPlan(String),
    /// The model tier is not one of `gpt-3.5-turbo`, `gpt-4` or `gpt-4-turbo`.
    #[error("Unknown model tier '{0}'; expected 'gpt-3.5-turbo', 'gpt-4' or 'gpt-4-turbo'.")]
    UnknownModelTier(String),
    /// The model is not in the model catalog; `known` lists the catalog's names, sorted.
    #[error("Unknown model '{name}'; known models: {}.", .known.join(", "))]
    UnknownModel {
        /// The model name that was asked for.
        name: String,
        /// Every model name the catalog knows, sorted by name.
        known: Vec<String>,
    },
    /// The request type is not one of `chat`, `plagiarism` or `prompt`.
    #[error("Unknown request type '{0}'; expected 'chat', 'plagiarism' or 'prompt'.")]
    UnknownRequestType(String),
    /// The theme is not one of `light`, `dark` or `system`.
    #[error("Invalid theme '{0}'; expected 'light', 'dark' or 'system'.")]
    InvalidTheme(String),
    /// A token count is negative, too large, or inconsistent with the others.
    #[error("Invalid {field}: {reason}.")]
    InvalidTokenCount {
        /// `prompt_tokens`, `completion_tokens`, `total_tokens` or `estimated_tokens`.
        field: &'static str,
        /// Why the value was rejected, e.g. "must not be negative".
        reason: String,
    },
    /// A caller-chosen identifier (`request_id`, `conversation_id`) is empty, too long or holds
    /// control characters.
    #[error("{field} must have 1 to {max} characters without control characters.")]
    InvalidIdentifier {
        /// `request_id` or `conversation_id`.
        field: &'static str,
        /// The most characters allowed.
        max: usize,
    },
    /// A field that holds a UUID holds something else.
    #[error("{field} must be a UUID.")]
    InvalidUuid {
        /// The request field.
        field: &'static str,
    },
    /// The payment method id is not shaped like one (`pm_...`).
    #[error("payment_method_id must be a Stripe payment method id such as pm_1234567890.")]
    InvalidPaymentMethod,
    /// The billing interval is not `monthly` or `yearly`.
    #[error("billing_period must be monthly or yearly.")]
    UnknownBillingInterval(String),
    /// An event type of outgoing webhooks that does not exist.
    #[error(
        "Unknown event type '{0}'; expected one of {known}.",
        known = crate::EventType::ALL.map(|t| t.as_str()).join(", ")
    )]
    UnknownEventType(String),
    /// A webhook endpoint that receives no event type.
    #[error("Name at least one event type.")]
    NoEventTypes,
    /// A webhook URL that does not have the form of one.
    #[error("{0}")]
    InvalidWebhookUrl(crate::webhook::UrlProblem),
    /// A description that is too long or holds control characters.
    #[error("description must have at most {max} characters without control characters.")]
    InvalidDescription {
        /// The most characters allowed.
        max: usize,
    },
    /// A stored subscription status is not one of ours.
    #[error("Unknown subscription status '{0}'.")]
    UnknownSubscriptionStatus(String),
    /// A number (page, page size) is outside `1..=max`.
    #[error("{field} must be between 1 and {max}.")]
    OutOfRange {
        /// `page` or `limit`.
        field: &'static str,
        /// The largest accepted value.
        max: u64,
    },
    /// An entry of the model catalog configuration could not be parsed.
    #[error("Invalid model catalog entry '{entry}': {reason}.")]
    InvalidCatalogEntry {
        /// The offending entry, trimmed.
        entry: String,
        /// Why the entry was rejected.
        reason: String,
    },
    /// An API key scope that is not `usage:write`, `usage:read` or `users:read` (empty: no
    /// scope was named).
    #[error(
        "Unknown scope '{0}'; expected one or more of 'usage:write', 'usage:read', 'users:read'."
    )]
    UnknownScope(String),
    /// The usage alert thresholds configuration could not be parsed.
    #[error("Invalid alert thresholds: {reason}.")]
    InvalidAlertThresholds {
        /// Why the list was rejected.
        reason: String,
    },
    /// The admin listing's sort key is not `created_at`, `email` or `name`.
    #[error("sort must be created_at, email or name.")]
    UnknownSort(String),
    /// A sort order that is not `asc` or `desc`.
    #[error("order must be asc or desc.")]
    UnknownSortOrder(String),
    /// A token limit override below zero.
    #[error("token_limit must be 0 or more, or null.")]
    NegativeTokenLimit,
    /// The usage analytics grouping is not `day`, `user`, `model`, `request_type` or
    /// `reporter`.
    #[error("group_by must be day, user, model, request_type or reporter.")]
    UnknownGrouping(String),
    /// A reporter filter that is neither `user` nor an API key id.
    #[error("reporter must be user or an API key id.")]
    InvalidReporter(String),
    /// A date filter that is neither an ISO date nor an RFC 3339 date-time.
    #[error("{field} must be a date (YYYY-MM-DD) or an RFC 3339 date-time.")]
    InvalidDate {
        /// `start_date` or `end_date`.
        field: &'static str,
    },
    /// A date filter outside the years 0000–9999.
    #[error("{field} is out of range.")]
    DateOutOfRange {
        /// `start_date` or `end_date`.
        field: &'static str,
    },
}

impl DomainError {
    /// The stable, machine-readable snake_case code of this error.
    ///
    /// `weak_password` for the password rules, `unknown_model` for a model missing from the
    /// catalog, `validation_error` for everything else.
    ///
    /// ```
    /// use doztra_domain::Password;
    ///
    /// assert_eq!(Password::parse("short").unwrap_err().code(), "weak_password");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            Self::PasswordTooShort { .. } | Self::PasswordTooLong { .. } | Self::CommonPassword => {
                "weak_password"
            }
            Self::UnknownModel { .. } => "unknown_model",
            Self::InvalidEmail
            | Self::InvalidName
            | Self::UnknownRole(_)
            | Self::UnknownPlan(_)
            | Self::UnknownModelTier(_)
            | Self::UnknownRequestType(_)
            | Self::InvalidTheme(_)
            | Self::InvalidTokenCount { .. }
            | Self::InvalidIdentifier { .. }
            | Self::InvalidUuid { .. }
            | Self::InvalidPaymentMethod
            | Self::UnknownBillingInterval(_)
            | Self::UnknownEventType(_)
            | Self::NoEventTypes
            | Self::InvalidWebhookUrl(_)
            | Self::InvalidDescription { .. }
            | Self::UnknownSubscriptionStatus(_)
            | Self::OutOfRange { .. }
            | Self::InvalidCatalogEntry { .. }
            | Self::UnknownScope(_)
            | Self::InvalidAlertThresholds { .. }
            | Self::UnknownSort(_)
            | Self::UnknownSortOrder(_)
            | Self::NegativeTokenLimit
            | Self::UnknownGrouping(_)
            | Self::InvalidReporter(_)
            | Self::InvalidDate { .. }
            | Self::DateOutOfRange { .. } => "validation_error",
        }
    }

    /// The request field this error is about, if any.
    ///
    /// `None` for catalog entries and alert thresholds, which come from configuration rather
    /// than a request.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::InvalidEmail => Some("email"),
            Self::InvalidName => Some("name"),
            Self::PasswordTooShort { .. } | Self::PasswordTooLong { .. } | Self::CommonPassword => {
                Some("password")
            }
            Self::UnknownRole(_) => Some("role"),
            Self::UnknownPlan(_) => Some("plan"),
            Self::UnknownModelTier(_) => Some("max_model_tier"),
            Self::UnknownModel { .. } => Some("model"),
            Self::UnknownRequestType(_) => Some("request_type"),
            Self::InvalidTheme(_) => Some("theme"),
            Self::InvalidTokenCount { field, .. }
            | Self::InvalidIdentifier { field, .. }
            | Self::InvalidUuid { field }
            | Self::OutOfRange { field, .. }
            | Self::InvalidDate { field }
            | Self::DateOutOfRange { field } => Some(field),
            Self::InvalidPaymentMethod => Some("payment_method_id"),
            Self::UnknownBillingInterval(_) => Some("billing_period"),
            Self::UnknownEventType(_) | Self::NoEventTypes => Some("event_types"),
            Self::InvalidWebhookUrl(_) => Some("url"),
            Self::InvalidDescription { .. } => Some("description"),
            Self::UnknownSubscriptionStatus(_) => Some("status"),
            Self::UnknownScope(_) => Some("scopes"),
            Self::UnknownSort(_) => Some("sort"),
            Self::UnknownSortOrder(_) => Some("order"),
            Self::NegativeTokenLimit => Some("token_limit"),
            Self::UnknownGrouping(_) => Some("group_by"),
            Self::InvalidReporter(_) => Some("reporter"),
            Self::InvalidCatalogEntry { .. } | Self::InvalidAlertThresholds { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DomainError;

    #[test]
    fn weak_password_errors_share_one_code_and_the_password_field() {
        for err in [
            DomainError::PasswordTooShort { min: 8 },
            DomainError::PasswordTooLong { max: 128 },
            DomainError::CommonPassword,
        ] {
            assert_eq!(err.code(), "weak_password");
            assert_eq!(err.field(), Some("password"));
        }
    }

    #[test]
    fn unknown_model_lists_the_known_models_in_its_message() {
        let err = DomainError::UnknownModel {
            name: "gpt-5".into(),
            known: vec!["gpt-4".into(), "gpt-4-turbo".into()],
        };
        assert_eq!(err.code(), "unknown_model");
        assert_eq!(err.field(), Some("model"));
        assert_eq!(
            err.to_string(),
            "Unknown model 'gpt-5'; known models: gpt-4, gpt-4-turbo."
        );
    }

    #[test]
    fn validation_errors_name_their_field() {
        let cases = [
            (DomainError::InvalidEmail, Some("email")),
            (DomainError::InvalidName, Some("name")),
            (DomainError::UnknownRole("x".into()), Some("role")),
            (DomainError::UnknownPlan("x".into()), Some("plan")),
            (
                DomainError::UnknownModelTier("x".into()),
                Some("max_model_tier"),
            ),
            (
                DomainError::UnknownRequestType("x".into()),
                Some("request_type"),
            ),
            (DomainError::InvalidTheme("x".into()), Some("theme")),
            (DomainError::UnknownSort("x".into()), Some("sort")),
            (DomainError::UnknownSortOrder("x".into()), Some("order")),
            (DomainError::NegativeTokenLimit, Some("token_limit")),
            (DomainError::UnknownGrouping("x".into()), Some("group_by")),
            (DomainError::InvalidReporter("x".into()), Some("reporter")),
            (
                DomainError::InvalidDate {
                    field: "start_date",
                },
                Some("start_date"),
            ),
            (
                DomainError::DateOutOfRange { field: "end_date" },
                Some("end_date"),
            ),
            (
                DomainError::InvalidTokenCount {
                    field: "estimated_tokens",
                    reason: "must not be negative".into(),
                },
                Some("estimated_tokens"),
            ),
            (
                DomainError::InvalidCatalogEntry {
                    entry: "x".into(),
                    reason: "y".into(),
                },
                None,
            ),
        ];
        for (err, field) in cases {
            assert_eq!(err.code(), "validation_error", "{err:?}");
            assert_eq!(err.field(), field, "{err:?}");
            assert!(err.to_string().ends_with('.'), "{err}");
        }
    }
}
