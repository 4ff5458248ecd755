//! How listings may be ordered: the sort keys of the admin listing of accounts ([`UserSort`])
//! and the direction ([`SortOrder`]), each with the one parse of its wire string.

use crate::error::DomainError;

/// The sort key of the admin listing of accounts. Defaults to [`UserSort::CreatedAt`].
///
/// ```
/// use doztra_domain::{SortOrder, UserSort};
///
/// assert_eq!(UserSort::parse("email")?, UserSort::Email);
/// // The newest accounts first unless asked otherwise; names and emails A to Z.
/// assert_eq!(UserSort::default().default_order(), SortOrder::Desc);
/// assert_eq!(UserSort::Name.default_order(), SortOrder::Asc);
/// assert!(UserSort::parse("password_hash").is_err());
/// # Ok::<(), doztra_domain::DomainError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum UserSort {
    /// `created_at`, the default.
    #[default]
    CreatedAt,
    /// `email`.
    Email,
    /// `name`.
    Name,
}

impl UserSort {
    /// Every sort key.
    pub const ALL: [UserSort; 3] = [UserSort::CreatedAt, UserSort::Email, UserSort::Name];

    /// Parses a wire string (`created_at`, `email` or `name`), exactly.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|sort| sort.as_str() == raw)
            .ok_or_else(|| DomainError::UnknownSort(raw.to_owned()))
    }

    /// The wire string.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::Email => "email",
            Self::Name => "name",
        }
    }

    /// The order when none is asked for: newest first by creation, else ascending.
    pub fn default_order(&self) -> SortOrder {
        match self {
            Self::CreatedAt => SortOrder::Desc,
            Self::Email | Self::Name => SortOrder::Asc,
        }
    }
}

/// The direction of a listing's order.
///
/// ```
/// use doztra_domain::SortOrder;
///
/// assert!(SortOrder::parse("desc")?.is_descending());
/// assert!(SortOrder::parse("sideways").is_err());
/// # Ok::<(), doztra_domain::DomainError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortOrder {
    /// `asc`: smallest first.
    Asc,
    /// `desc`: largest (newest) first.
    Desc,
}

impl SortOrder {
    /// Parses a wire string (`asc` or `desc`), exactly.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        match raw {
            "asc" => Ok(Self::Asc),
            "desc" => Ok(Self::Desc),
            _ => Err(DomainError::UnknownSortOrder(raw.to_owned())),
        }
    }

    /// The wire string.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Asc => "asc",
            Self::Desc => "desc",
        }
    }

    /// Whether the largest value comes first.
    pub fn is_descending(&self) -> bool {
        *self == Self::Desc
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn sort_keys_and_orders_parse_their_wire_strings_exactly() {
        for sort in UserSort::ALL {
            assert_eq!(UserSort::parse(sort.as_str()).unwrap(), sort);
        }
        for order in [SortOrder::Asc, SortOrder::Desc] {
            assert_eq!(SortOrder::parse(order.as_str()).unwrap(), order);
        }
        for raw in ["", "Email", " email", "password_hash"] {
            let err = UserSort::parse(raw).unwrap_err();
            assert_eq!(err.field(), Some("sort"));
            assert_eq!(err.to_string(), "sort must be created_at, email or name.");
        }
        for raw in ["", "DESC", "sideways"] {
            let err = SortOrder::parse(raw).unwrap_err();
            assert_eq!(err.field(), Some("order"));
            assert_eq!(err.to_string(), "order must be asc or desc.");
        }
    }

    #[test]
    fn only_the_creation_date_sorts_newest_first_by_default() {
        assert_eq!(UserSort::CreatedAt.default_order(), SortOrder::Desc);
        assert_eq!(UserSort::Email.default_order(), SortOrder::Asc);
        assert_eq!(UserSort::Name.default_order(), SortOrder::Asc);
    }
}
