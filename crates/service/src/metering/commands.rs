//! What the metering use cases take: commands made of domain values, so a caller can only hand
//! over what parses (the HTTP layer converts its bodies with `TryFrom`, collecting every field
//! error into one 422). Whether the catalog knows the model is the one thing left to the use
//! case, which holds the catalog.

use domain::{ConversationId, ModelName, RequestId, RequestType, TokenCounts};
use uuid::Uuid;

/// One LLM request's tokens to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackCommand {
    pub request_type: RequestType,
    pub model: ModelName,
    pub counts: TokenCounts,
    /// Makes the track exactly-once for its user.
    pub request_id: Option<RequestId>,
    pub conversation_id: Option<ConversationId>,
    /// The reservation this track settles (its actual counts replace the estimate).
    pub reservation_id: Option<Uuid>,
}

/// "May I spend this?"
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckCommand {
    pub request_type: RequestType,
    pub model: ModelName,
    /// With it, the request is refused when the estimate does not fit in what remains.
    pub estimated_tokens: Option<u64>,
}

/// Tokens to hold for a streamed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationCommand {
    pub request_type: RequestType,
    pub model: ModelName,
    /// At least 1.
    pub estimated_tokens: u64,
    /// A retry with it answers the reservation granted before.
    pub request_id: Option<RequestId>,
}
