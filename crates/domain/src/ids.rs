//! Identifiers a caller chooses and we store: the `request_id` that makes a track exactly-once,
//! the `conversation_id` that groups requests, and the payment method id a card form returns.

use std::fmt;

use crate::error::DomainError;

/// Characters at most in a caller-chosen identifier.
pub const MAX_ID_CHARS: usize = 128;

fn caller_id(field: &'static str, raw: String) -> Result<String, DomainError> {
    let chars = raw.chars().count();
    if chars == 0 || chars > MAX_ID_CHARS || raw.chars().any(char::is_control) {
        return Err(DomainError::InvalidIdentifier {
            field,
            max: MAX_ID_CHARS,
        });
    }
    Ok(raw)
}

macro_rules! caller_chosen_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Parses a raw value: 1 to [`MAX_ID_CHARS`] characters, no control characters,
            /// kept exactly as given (no trimming: the caller's id is compared byte for byte).
            pub fn parse(raw: impl Into<String>) -> Result<Self, DomainError> {
                caller_id($field, raw.into()).map(Self)
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id as an owned string.
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

caller_chosen_id!(
    /// The caller's id of one LLM request: a track carrying one is recorded at most once per
    /// user.
    ///
    /// ```
    /// use doztra_domain::RequestId;
    ///
    /// assert_eq!(RequestId::parse("req-42")?.as_str(), "req-42");
    /// assert!(RequestId::parse("").is_err());
    /// assert!(RequestId::parse("x".repeat(129)).is_err());
    /// # Ok::<(), doztra_domain::DomainError>(())
    /// ```
    RequestId,
    "request_id"
);

caller_chosen_id!(
    /// The caller's id of a conversation, stored with each of its requests.
    ConversationId,
    "conversation_id"
);

caller_chosen_id!(
    /// A model name as a request gives it: whether the catalog knows it (and its tier) is
    /// looked up where the catalog is, `ModelCatalog::resolve`.
    ModelName,
    "model"
);

/// A UUID sent in `field` (e.g. `reservation_id`); anything else is an
/// [`InvalidUuid`](DomainError::InvalidUuid) naming the field.
///
/// ```
/// assert!(doztra_domain::parse_uuid("reservation_id", "not-a-uuid").is_err());
/// assert!(doztra_domain::parse_uuid("id", "01939a6c-0000-7000-8000-000000000000").is_ok());
/// ```
pub fn parse_uuid(field: &'static str, raw: &str) -> Result<uuid::Uuid, DomainError> {
    uuid::Uuid::parse_str(raw.trim()).map_err(|_| DomainError::InvalidUuid { field })
}
/// A payment method id as a card form returns it (Stripe.js: `pm_...`): 3 to 255 ASCII letters,
/// digits and underscores, surrounding spaces trimmed.
///
/// ```
/// use doztra_domain::PaymentMethodId;
///
/// assert_eq!(PaymentMethodId::parse(" pm_1234567890 ")?.as_str(), "pm_1234567890");
/// assert!(PaymentMethodId::parse("pm 123").is_err());
/// # Ok::<(), doztra_domain::DomainError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PaymentMethodId(String);

impl PaymentMethodId {
    /// Parses a raw id; see the type's documentation for the rules.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let id = raw.trim();
        let valid = (3..=255).contains(&id.len())
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid {
            Ok(Self(id.to_owned()))
        } else {
            Err(DomainError::InvalidPaymentMethod)
        }
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PaymentMethodId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn caller_ids_keep_their_exact_text_and_name_their_field() {
        assert_eq!(RequestId::parse(" a ").unwrap().as_str(), " a ");
        assert!(RequestId::parse("x".repeat(MAX_ID_CHARS)).is_ok());
        assert_eq!(
            ConversationId::parse("a\u{0}b").unwrap_err().field(),
            Some("conversation_id")
        );
        let err = RequestId::parse("").unwrap_err();
        assert_eq!(err.field(), Some("request_id"));
        assert_eq!(
            err.to_string(),
            "request_id must have 1 to 128 characters without control characters."
        );
        // Characters, not bytes: 128 two-byte characters fit.
        assert!(RequestId::parse("é".repeat(MAX_ID_CHARS)).is_ok());
    }

    #[test]
    fn payment_method_ids_are_checked() {
        for bad in ["", "pm", "pm 123", "pm_\u{0}", "pm_é12", &"x".repeat(256)] {
            let err = PaymentMethodId::parse(bad).unwrap_err();
            assert_eq!(err.field(), Some("payment_method_id"), "{bad:?}");
        }
    }
}
