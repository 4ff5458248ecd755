//! Wire shapes of token reservations (`/api/tokens/me/reservations`).

use domain::{DomainError, ModelName, RequestId, RequestType, checked_token_count};
use serde::{Deserialize, Serialize};
use service::{ActiveReservations, FieldErrors, Reservation, ReservationCommand, ServiceError};
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
    /// The most tokens the call may spend; granted only if all of it fits. At most
    /// `MAX_TOKENS_PER_REQUEST` (default 2,000,000).
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

impl TryFrom<ReservationRequestBody> for ReservationCommand {
    type Error = ServiceError;

    fn try_from(b: ReservationRequestBody) -> Result<Self, ServiceError> {
        let mut errors = FieldErrors::default();
        let request_type = errors.take(RequestType::parse(&b.request_type));
        let model = errors.take(ModelName::parse(b.model));
        let estimated_tokens = errors.take(
            checked_token_count("estimated_tokens", b.estimated_tokens).and_then(|tokens| {
                tokens
                    .filter(|t| *t > 0)
                    .ok_or(DomainError::InvalidTokenCount {
                        field: "estimated_tokens",
                        reason: "is required and must be at least 1".to_owned(),
                    })
            }),
        );
        let request_id = errors.take(b.request_id.map(RequestId::parse).transpose());
        let (Some(request_type), Some(model), Some(estimated_tokens), Some(request_id)) =
            (request_type, model, estimated_tokens, request_id)
        else {
            return Err(errors.into());
        };
        Ok(ReservationCommand {
            request_type,
            model,
            estimated_tokens,
            request_id,
        })
    }
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
