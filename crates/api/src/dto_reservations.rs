//! Wire shapes of token reservations (`/api/tokens/me/reservations`).

use serde::{Deserialize, Serialize};
use service::{ActiveReservations, Reservation};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::dto::timestamp;

/// `POST /api/tokens/me/reservations`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ReservationRequestBody {
    /// `chat`, `plagiarism` or `prompt` (`prompt_generation` accepted).
    #[serde(default)]
    #[schema(example = "chat", required = true)]
    pub request_type: String,
    /// A model of the catalog.
    #[serde(default)]
    #[schema(example = "gpt-4", required = true)]
    pub model: String,
    /// The most tokens the call may spend; granted only if all of it fits.
    #[serde(default, deserialize_with = "crate::dto::whole_number")]
    #[schema(example = 4000, minimum = 1, maximum = 10_000_000, required = true)]
    pub estimated_tokens: Option<i64>,
    /// Idempotency key: a retry with it returns the same reservation.
    #[schema(
        example = "gen_42",
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub request_id: Option<String>,
}

/// A granted reservation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReservationResponse {
    pub reservation_id: Uuid,
    pub request_type: String,
    pub model: String,
    pub reserved_tokens: u64,
    pub request_id: Option<String>,
    pub created_at: String,
    /// After this instant an unsettled reservation no longer counts.
    pub expires_at: String,
}

impl From<Reservation> for ReservationResponse {
    fn from(r: Reservation) -> Self {
        Self {
            reservation_id: r.id,
            request_type: r.request_type.as_str().to_owned(),
            model: r.model,
            reserved_tokens: r.reserved_tokens,
            request_id: r.request_id,
            created_at: timestamp(r.created_at),
            expires_at: timestamp(r.expires_at),
        }
    }
}

/// The caller's reservations that count now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReservationListResponse {
    pub reservations: Vec<ReservationResponse>,
    pub total_reserved_tokens: u64,
}

impl From<ActiveReservations> for ReservationListResponse {
    fn from(list: ActiveReservations) -> Self {
        Self {
            reservations: list.reservations.into_iter().map(Into::into).collect(),
            total_reserved_tokens: list.total_reserved_tokens,
        }
    }
}
