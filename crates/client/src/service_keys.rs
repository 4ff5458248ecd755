//! What a backend does for a user with a service API key (`dzk_...`, docs/API.md "Service API
//! keys"): the key routes answer exactly what the user's own `/me` routes answer, under the
//! same rules, so these calls return the same types and retry the same way. A `request_id` is
//! shared with the user's own tracks: a usage sent through either is recorded once.

use uuid::Uuid;

use crate::client::Client;
use crate::error::Error;
use crate::metering::{Check, CheckOutcome, Tracked, Usage};
use crate::usage::{HistoryPage, HistoryQuery, TokenStats, UsageCounters};

impl Client {
    /// `POST /api/tokens/users/{user_id}/track` (scope `usage:write`): [`Client::track`] for
    /// the user. 401 `invalid_api_key`, 403 `insufficient_scope`, 404 for a user that does not
    /// exist or is disabled.
    pub async fn track_for(
        &self,
        api_key: &str,
        user_id: Uuid,
        usage: &Usage,
    ) -> Result<Tracked, Error> {
        self.track_at(api_key, format!("/api/tokens/users/{user_id}/track"), usage)
            .await
    }

    /// `POST /api/tokens/users/{user_id}/check` (scope `usage:write`).
    pub async fn check_for(
        &self,
        api_key: &str,
        user_id: Uuid,
        check: &Check,
    ) -> Result<CheckOutcome, Error> {
        self.check_at(api_key, format!("/api/tokens/users/{user_id}/check"), check)
            .await
    }

    /// `GET /api/tokens/users/{user_id}` (scope `usage:read`).
    pub async fn token_stats_for(&self, api_key: &str, user_id: Uuid) -> Result<TokenStats, Error> {
        self.get(api_key, format!("/api/tokens/users/{user_id}"))
            .await
    }

    /// `GET /api/usage/users/{user_id}` (scope `usage:read`).
    pub async fn usage_for(&self, api_key: &str, user_id: Uuid) -> Result<UsageCounters, Error> {
        self.get(api_key, format!("/api/usage/users/{user_id}"))
            .await
    }

    /// `GET /api/tokens/users/{user_id}/history` (scope `usage:read`).
    pub async fn history_for(
        &self,
        api_key: &str,
        user_id: Uuid,
        query: &HistoryQuery,
    ) -> Result<HistoryPage, Error> {
        self.history_at(
            api_key,
            format!("/api/tokens/users/{user_id}/history"),
            query,
        )
        .await
    }
}
