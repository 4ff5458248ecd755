//! The opaque cursor of history pages (keyset pagination): where the previous page ended in the
//! history's order (newest first: `created_at` descending, then id descending), which page comes
//! next, and a fingerprint of the filters it was made for, so a cursor cannot silently continue
//! a different listing.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::ServiceError;

/// A position in a user's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HistoryCursor {
    /// The page this cursor opens (1-based).
    pub(crate) page: u64,
    /// The last event of the previous page.
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) id: Uuid,
    filters: [u8; 8],
}

const VERSION: &str = "h1";

impl HistoryCursor {
    pub(crate) fn after(
        page: u64,
        created_at: DateTime<Utc>,
        id: Uuid,
        filters: &FilterFingerprint,
    ) -> Self {
        Self {
            page,
            created_at,
            id,
            filters: filters.0,
        }
    }

    /// The text handed to clients.
    pub(crate) fn encode(&self) -> String {
        let raw = format!(
            "{VERSION}.{}.{}.{}.{}",
            self.page,
            self.created_at.timestamp_millis(),
            self.id.simple(),
            hex::encode(self.filters)
        );
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Parses a cursor made by [`encode`](Self::encode) for the same filters.
    pub(crate) fn decode(text: &str, filters: &FilterFingerprint) -> Result<Self, ServiceError> {
        let malformed = || {
            ServiceError::invalid_field("cursor", "cursor is not a cursor this listing returned.")
        };
        let raw = URL_SAFE_NO_PAD
            .decode(text.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(malformed)?;
        let parts: Vec<&str> = raw.split('.').collect();
        let [VERSION, page, millis, id, fingerprint] = parts.as_slice() else {
            return Err(malformed());
        };
        let page: u64 = page.parse().map_err(|_| malformed())?;
        let created_at = millis
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_millis)
            .ok_or_else(malformed)?;
        let id = Uuid::parse_str(id).map_err(|_| malformed())?;
        let mut bytes = [0u8; 8];
        hex::decode_to_slice(fingerprint, &mut bytes).map_err(|_| malformed())?;
        if !(2..=domain::PageRequest::MAX_PAGE).contains(&page) {
            return Err(malformed());
        }
        if bytes != filters.0 {
            return Err(ServiceError::invalid_field(
                "cursor",
                "cursor was made for other filters; start again without it.",
            ));
        }
        Ok(Self {
            page,
            created_at,
            id,
            filters: bytes,
        })
    }
}

/// A short digest of a listing's filters (and page size), kept in its cursors.
pub(crate) struct FilterFingerprint([u8; 8]);

impl FilterFingerprint {
    pub(crate) fn of(parts: &[Option<&str>]) -> Self {
        let mut hasher = Sha256::new();
        for part in parts {
            match part {
                Some(text) => {
                    hasher.update([1u8]);
                    hasher.update((text.len() as u64).to_be_bytes());
                    hasher.update(text.as_bytes());
                }
                None => hasher.update([0u8]),
            }
        }
        let digest = hasher.finalize();
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&digest[..8]);
        Self(bytes)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_refuses_tampering_and_other_filters() {
        let filters = FilterFingerprint::of(&[Some("chat"), None, Some("20")]);
        let at = DateTime::from_timestamp_millis(1_764_000_000_123).unwrap();
        let id = Uuid::now_v7();
        let cursor = HistoryCursor::after(3, at, id, &filters);
        let text = cursor.encode();
        assert_eq!(HistoryCursor::decode(&text, &filters).unwrap(), cursor);
        let other = FilterFingerprint::of(&[Some("plagiarism"), None, Some("20")]);
        assert!(HistoryCursor::decode(&text, &other).is_err());
        for bad in ["", "x", "aDEuMi4zLjQ", &text[..text.len() - 2], "%%%"] {
            assert!(HistoryCursor::decode(bad, &filters).is_err(), "{bad:?}");
        }
        // A cursor never opens page 1 (that is the listing without a cursor).
        let first = HistoryCursor::after(1, at, id, &filters).encode();
        assert!(HistoryCursor::decode(&first, &filters).is_err());
    }
}
