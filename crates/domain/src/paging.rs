//! Offset pagination as listings accept it: a 1-based page number and a page size, both bounded.

use crate::error::DomainError;

/// A requested page of a listing.
///
/// ```
/// use doztra_domain::PageRequest;
///
/// let page = PageRequest::parse(Some(3), None, 20, 100)?;
/// assert_eq!((page.page(), page.per_page(), page.offset()), (3, 20, 40));
/// assert!(PageRequest::parse(Some(0), None, 20, 100).is_err());
/// assert!(PageRequest::parse(None, Some(101), 20, 100).is_err());
/// # Ok::<(), Vec<doztra_domain::DomainError>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageRequest {
    page: u64,
    per_page: u64,
}

impl PageRequest {
    /// The highest page number any listing accepts: far beyond any real listing, it keeps row
    /// offsets well inside what databases bind.
    pub const MAX_PAGE: u64 = 1_000_000_000;

    /// Validates `page` (default 1, 1..=[`MAX_PAGE`](Self::MAX_PAGE)) and the page size `limit`
    /// (default `default_limit`, 1..=`max_limit`); the errors name each invalid one.
    pub fn parse(
        page: Option<u64>,
        limit: Option<u64>,
        default_limit: u64,
        max_limit: u64,
    ) -> Result<Self, Vec<DomainError>> {
        let page = page.unwrap_or(1);
        let per_page = limit.unwrap_or(default_limit);
        let mut errors = Vec::new();
        if !(1..=Self::MAX_PAGE).contains(&page) {
            errors.push(DomainError::OutOfRange {
                field: "page",
                max: Self::MAX_PAGE,
            });
        }
        if !(1..=max_limit).contains(&per_page) {
            errors.push(DomainError::OutOfRange {
                field: "limit",
                max: max_limit,
            });
        }
        if errors.is_empty() {
            Ok(Self { page, per_page })
        } else {
            Err(errors)
        }
    }

    /// The 1-based page number.
    pub fn page(&self) -> u64 {
        self.page
    }

    /// Rows per page.
    pub fn per_page(&self) -> u64 {
        self.per_page
    }

    /// Rows skipped before this page (cannot overflow: both factors are bounded).
    pub fn offset(&self) -> u64 {
        (self.page - 1).saturating_mul(self.per_page)
    }

    /// Pages needed for `total` rows (at least 0).
    pub fn total_pages(&self, total: u64) -> u64 {
        total.div_ceil(self.per_page)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn bounds_are_inclusive_and_errors_name_the_field() {
        assert!(PageRequest::parse(Some(PageRequest::MAX_PAGE), Some(100), 20, 100).is_ok());
        let [err] = PageRequest::parse(Some(PageRequest::MAX_PAGE + 1), None, 20, 100)
            .unwrap_err()
            .try_into()
            .unwrap();
        assert_eq!(err.field(), Some("page"));
        assert_eq!(err.to_string(), "page must be between 1 and 1000000000.");
        let [err] = PageRequest::parse(None, Some(0), 20, 100)
            .unwrap_err()
            .try_into()
            .unwrap();
        assert_eq!(err.field(), Some("limit"));
        assert_eq!(err.to_string(), "limit must be between 1 and 100.");
        assert_eq!(
            PageRequest::parse(None, None, 20, 100)
                .unwrap()
                .total_pages(41),
            3
        );
        let both = PageRequest::parse(Some(0), Some(101), 20, 100).unwrap_err();
        let fields: Vec<_> = both.iter().map(DomainError::field).collect();
        assert_eq!(fields, [Some("page"), Some("limit")]);
        assert!(PageRequest::parse(Some(2), Some(100), 20, 100).is_ok());
    }
}
