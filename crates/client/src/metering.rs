//! Metering an AI backend's model calls: check before the call, track after it (exactly once,
//! by `request_id`), and reservations for long streamed calls.

use chrono::{DateTime, Utc};
use domain::RequestType;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::client::{Call, Client};
use crate::error::Error;
use crate::retry::Safety;

/// `POST /api/tokens/me/check`: would a request be accepted now?
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub request_type: RequestType,
    pub model: String,
    /// With it, the check is refused when the estimate does not fit in what remains.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_tokens: Option<u64>,
}

impl Check {
    pub fn new(request_type: RequestType, model: impl Into<String>) -> Self {
        Self {
            request_type,
            model: model.into(),
            estimated_tokens: None,
        }
    }

    pub fn estimated_tokens(mut self, tokens: u64) -> Self {
        self.estimated_tokens = Some(tokens);
        self
    }
}

/// The answer to an allowed check (a refusal is an [`Error`]). Amounts are before the request;
/// `None` = unlimited. Not a promise: the gate decides at track time.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CheckOutcome {
    pub allowed: bool,
    pub tokens_remaining: Option<u64>,
    pub units_remaining: Option<u64>,
    pub reset_date: DateTime<Utc>,
}

/// One model call's usage, for `POST /api/tokens/me/track`.
///
/// [`Usage::new`] gives it a fresh `request_id` (a v4 UUID) at once: keep the value (or its
/// [`request_id`](Usage::request_id)) with the call, and every send of it, the client's own
/// retries and yours after a crash, is recorded at most once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Usage {
    request_type: RequestType,
    model: String,
    prompt_tokens: u64,
    completion_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_tokens: Option<u64>,
    request_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    conversation_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reservation_id: Option<Uuid>,
}

impl Usage {
    /// A call of `model` with no tokens yet and a new `request_id`.
    pub fn new(request_type: RequestType, model: impl Into<String>) -> Self {
        Self {
            request_type,
            model: model.into(),
            prompt_tokens: 0,
            completion_tokens: 0,
            total_tokens: None,
            request_id: Uuid::new_v4().to_string(),
            conversation_id: None,
            reservation_id: None,
        }
    }

    pub fn prompt_tokens(mut self, tokens: u64) -> Self {
        self.prompt_tokens = tokens;
        self
    }

    pub fn completion_tokens(mut self, tokens: u64) -> Self {
        self.completion_tokens = tokens;
        self
    }

    /// Only for a total without its parts (otherwise the server computes prompt + completion).
    pub fn total_tokens(mut self, tokens: u64) -> Self {
        self.total_tokens = Some(tokens);
        self
    }

    /// Replaces the generated `request_id` with one you stored (1 to 128 characters, no
    /// control characters), e.g. to send usage kept across a restart.
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = request_id.into();
        self
    }

    pub fn conversation_id(mut self, conversation_id: impl Into<String>) -> Self {
        self.conversation_id = Some(conversation_id.into());
        self
    }

    /// Settles this reservation with the actual counts.
    pub fn reservation(mut self, reservation_id: Uuid) -> Self {
        self.reservation_id = Some(reservation_id);
        self
    }

    /// The idempotency key every send of this usage carries.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }
}

/// A recorded (or already recorded) call with the period's totals after it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Tracked {
    /// The event's id (the first record's, for a duplicate).
    pub id: Uuid,
    /// `true`: this `request_id` had been recorded before; nothing was counted again.
    pub duplicate: bool,
    pub tokens_used: u64,
    pub tokens_limit: Option<u64>,
    /// After this request and what the caller's active reservations hold; `None` = unlimited.
    pub tokens_remaining: Option<u64>,
    pub reset_date: DateTime<Utc>,
}

/// `POST /api/tokens/me/reservations`: hold tokens before a long call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reserve {
    request_type: RequestType,
    model: String,
    estimated_tokens: u64,
    request_id: String,
}

impl Reserve {
    /// A reservation of `estimated_tokens` (at least 1) with a new `request_id`, so a retry
    /// answers the reservation granted before.
    pub fn new(request_type: RequestType, model: impl Into<String>, estimated_tokens: u64) -> Self {
        Self {
            request_type,
            model: model.into(),
            estimated_tokens,
            request_id: Uuid::new_v4().to_string(),
        }
    }

    pub fn request_id(&self) -> &str {
        &self.request_id
    }
}

/// A granted reservation: settle it with a track carrying [`Usage::reservation`], or release it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Reservation {
    pub reservation_id: Uuid,
    pub request_type: RequestType,
    pub model: String,
    pub reserved_tokens: u64,
    pub request_id: Option<String>,
    pub created_at: DateTime<Utc>,
    /// After this an unsettled reservation no longer counts.
    pub expires_at: DateTime<Utc>,
}

/// The caller's reservations that count now.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Reservations {
    pub reservations: Vec<Reservation>,
    pub total_reserved_tokens: u64,
}

impl Client {
    /// `POST /api/tokens/me/check`. A refusal is the error a track would get now:
    /// [`Error::QuotaExceeded`] (402), [`Error::Forbidden`] `model_not_allowed`,
    /// [`Error::Invalid`] `unknown_model`. Retried on timeouts, connection errors and 5xx.
    pub async fn check(&self, access_token: &str, check: &Check) -> Result<CheckOutcome, Error> {
        self.check_at(access_token, "/api/tokens/me/check".to_owned(), check)
            .await
    }

    pub(crate) async fn check_at(
        &self,
        credential: &str,
        path: String,
        check: &Check,
    ) -> Result<CheckOutcome, Error> {
        let call = Call::new(Method::POST, path, Safety::Idempotent)
            .bearer(credential)
            .json(check)?;
        self.send(call).await?.json()
    }

    /// `POST /api/tokens/me/track`: records `usage` exactly once. Timeouts, connection errors
    /// and 5xx answers are retried under the policy with the same `request_id`, so a lost
    /// answer never counts twice. [`Error::QuotaExceeded`]: the period had run out before this
    /// call (nothing recorded); [`Error::Conflict`] `request_id_conflict`: the id was used for
    /// other numbers (a bug). A transient error after the last retry: keep `usage` and send it
    /// again later.
    pub async fn track(&self, access_token: &str, usage: &Usage) -> Result<Tracked, Error> {
        self.track_at(access_token, "/api/tokens/me/track".to_owned(), usage)
            .await
    }

    pub(crate) async fn track_at(
        &self,
        credential: &str,
        path: String,
        usage: &Usage,
    ) -> Result<Tracked, Error> {
        let call = Call::new(Method::POST, path, Safety::Idempotent)
            .bearer(credential)
            .json(usage)?;
        self.send(call).await?.json()
    }

    /// `POST /api/tokens/me/reservations`: granted only if the whole estimate fits (else
    /// [`Error::QuotaExceeded`]). Retried like a track (its `request_id` answers the same
    /// reservation).
    pub async fn reserve(
        &self,
        access_token: &str,
        reserve: &Reserve,
    ) -> Result<Reservation, Error> {
        let call = Call::new(
            Method::POST,
            "/api/tokens/me/reservations",
            Safety::Idempotent,
        )
        .bearer(access_token)
        .json(reserve)?;
        self.send(call).await?.json()
    }

    /// `GET /api/tokens/me/reservations`.
    pub async fn reservations(&self, access_token: &str) -> Result<Reservations, Error> {
        let call = Call::new(
            Method::GET,
            "/api/tokens/me/reservations",
            Safety::Idempotent,
        )
        .bearer(access_token);
        self.send(call).await?.json()
    }

    /// `DELETE /api/tokens/me/reservations/{id}`: gives the tokens back (idempotent).
    /// [`Error::Conflict`] `reservation_settled` when a track settled it.
    pub async fn release(&self, access_token: &str, reservation_id: Uuid) -> Result<(), Error> {
        let call = Call::new(
            Method::DELETE,
            format!("/api/tokens/me/reservations/{reservation_id}"),
            Safety::Idempotent,
        )
        .bearer(access_token);
        self.send(call).await.map(drop)
    }
}
