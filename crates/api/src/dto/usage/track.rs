//! `POST /api/tokens/me/track` and `POST /api/tokens/me/check`: what a backend reports and asks.

use domain::{
    ConversationId, ModelName, RequestId, RequestType, TokenCounts, checked_token_count, parse_uuid,
};
use serde::{Deserialize, Serialize};
use service::{CheckCommand, CheckOutcome, FieldErrors, ServiceError, TrackCommand, TrackOutcome};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::dto::timestamp;

/// `POST /api/tokens/me/track`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct TrackRequestBody {
    /// `chat`, `plagiarism` or `prompt` (`prompt_generation` accepted).
    #[serde(default)]
    #[schema(example = "chat", required = true)]
    pub request_type: String,
    /// A model of the catalog.
    #[serde(default)]
    #[schema(example = "gpt-4", required = true)]
    pub model: String,
    #[schema(example = 50)]
    #[serde(default, deserialize_with = "crate::dto::whole_number")]
    #[schema(minimum = 0, maximum = 10_000_000)]
    pub prompt_tokens: Option<i64>,
    #[schema(example = 100)]
    #[serde(default, deserialize_with = "crate::dto::whole_number")]
    #[schema(minimum = 0, maximum = 10_000_000)]
    pub completion_tokens: Option<i64>,
    /// Optional; prompt + completion when omitted, and must equal their sum when both are given.
    /// The total must be at most `MAX_TOKENS_PER_REQUEST` (default 2,000,000).
    #[schema(example = 150)]
    #[serde(default, deserialize_with = "crate::dto::whole_number")]
    #[schema(minimum = 0, maximum = 10_000_000)]
    pub total_tokens: Option<i64>,
    /// Idempotency key, unique per user: a repeat is answered with the first record.
    #[schema(example = "req_abc")]
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub request_id: Option<String>,
    #[schema(example = "conv_1")]
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub conversation_id: Option<String>,
    /// The reservation this call was made under: the actual counts replace it (recorded in
    /// full). Unknown -> 404; settled by another request -> 409; expired -> an ordinary track.
    #[schema(format = "uuid")]
    pub reservation_id: Option<String>,
}

impl TryFrom<TrackRequestBody> for TrackCommand {
    type Error = ServiceError;

    /// Every field parsed at once: one 422 names each invalid field.
    fn try_from(b: TrackRequestBody) -> Result<Self, ServiceError> {
        let mut errors = FieldErrors::default();
        let request_type = errors.take(RequestType::parse(&b.request_type));
        let model = errors.take(ModelName::parse(b.model));
        let counts = errors.take(TokenCounts::parse(
            b.prompt_tokens,
            b.completion_tokens,
            b.total_tokens,
        ));
        let request_id = errors.take(b.request_id.map(RequestId::parse).transpose());
        let conversation_id = errors.take(b.conversation_id.map(ConversationId::parse).transpose());
        let reservation_id = errors.take(
            b.reservation_id
                .map(|raw| parse_uuid("reservation_id", &raw))
                .transpose(),
        );
        let (
            Some(request_type),
            Some(model),
            Some(counts),
            Some(request_id),
            Some(conversation_id),
            Some(reservation_id),
        ) = (
            request_type,
            model,
            counts,
            request_id,
            conversation_id,
            reservation_id,
        )
        else {
            return Err(errors.into());
        };
        Ok(TrackCommand {
            request_type,
            model,
            counts,
            request_id,
            conversation_id,
            reservation_id,
        })
    }
}

/// The result of a track.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrackResponse {
    pub success: bool,
    pub message: &'static str,
    pub id: Uuid,
    /// True when this `request_id` was already recorded (nothing changed).
    pub duplicate: bool,
    pub tokens_used: u64,
    /// `null` when unlimited.
    pub tokens_limit: Option<u64>,
    pub tokens_remaining: Option<u64>,
    pub reset_date: String,
}

impl From<TrackOutcome> for TrackResponse {
    fn from(o: TrackOutcome) -> Self {
        Self {
            success: true,
            message: "Token usage tracked successfully",
            id: o.id,
            duplicate: o.duplicate,
            tokens_used: o.tokens_used,
            tokens_limit: o.tokens_limit,
            tokens_remaining: o.tokens_remaining,
            reset_date: timestamp(o.reset_date),
        }
    }
}

/// `POST /api/tokens/me/check`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CheckRequestBody {
    #[serde(default)]
    #[schema(required = true)]
    pub request_type: String,
    /// A model of the catalog.
    #[serde(default)]
    #[schema(required = true)]
    pub model: String,
    /// With it, the request is refused when the estimate does not fit in what remains; at most
    /// `MAX_TOKENS_PER_REQUEST` (default 2,000,000).
    #[serde(default, deserialize_with = "crate::dto::whole_number")]
    #[schema(minimum = 0, maximum = 10_000_000)]
    pub estimated_tokens: Option<i64>,
}

impl TryFrom<CheckRequestBody> for CheckCommand {
    type Error = ServiceError;

    fn try_from(b: CheckRequestBody) -> Result<Self, ServiceError> {
        let mut errors = FieldErrors::default();
        let request_type = errors.take(RequestType::parse(&b.request_type));
        let model = errors.take(ModelName::parse(b.model));
        let estimated_tokens =
            errors.take(checked_token_count("estimated_tokens", b.estimated_tokens));
        let (Some(request_type), Some(model), Some(estimated_tokens)) =
            (request_type, model, estimated_tokens)
        else {
            return Err(errors.into());
        };
        Ok(CheckCommand {
            request_type,
            model,
            estimated_tokens,
        })
    }
}

/// A positive check.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckResponse {
    pub allowed: bool,
    pub tokens_remaining: Option<u64>,
    /// Remaining units of the request type's counter (`null` = unlimited).
    pub units_remaining: Option<u64>,
    pub reset_date: String,
}

impl From<CheckOutcome> for CheckResponse {
    fn from(o: CheckOutcome) -> Self {
        Self {
            allowed: true,
            tokens_remaining: o.tokens_remaining,
            units_remaining: o.units_remaining,
            reset_date: timestamp(o.reset_date),
        }
    }
}
