//! Wire types of service API keys and the key routes' user lookup (docs/API.md, "Service API
//! keys").

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use service::{ApiKey, CreatedApiKey, NewApiKey, ServiceError, UserLookup, UserSummary};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::dto::timestamp;

/// `POST /api/admin/api-keys`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateApiKeyRequest {
    /// 1 to 100 characters, no control characters.
    #[serde(default)]
    #[schema(example = "chat-backend", required = true, max_length = 100)]
    pub name: String,
    /// At least one of `usage:write`, `usage:read`, `users:read`.
    #[serde(default)]
    #[schema(example = json!(["usage:write", "usage:read"]), required = true)]
    pub scopes: Vec<String>,
    /// RFC 3339, in the future; without it the key does not expire.
    #[schema(example = "2027-01-01T00:00:00.000Z")]
    pub expires_at: Option<String>,
}

impl TryFrom<CreateApiKeyRequest> for NewApiKey {
    type Error = ServiceError;

    fn try_from(body: CreateApiKeyRequest) -> Result<Self, ServiceError> {
        let expires_at = body
            .expires_at
            .map(|raw| {
                DateTime::parse_from_rfc3339(raw.trim())
                    .map(|at| at.with_timezone(&Utc))
                    .map_err(|_| {
                        ServiceError::invalid_field(
                            "expires_at",
                            "expires_at must be an RFC 3339 date-time.",
                        )
                    })
            })
            .transpose()?;
        Ok(NewApiKey {
            name: body.name,
            scopes: body.scopes,
            expires_at,
        })
    }
}

/// A key (the secret only in the creation answer).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiKeyResponse {
    pub id: Uuid,
    #[schema(example = "chat-backend")]
    pub name: String,
    #[schema(example = json!(["usage:read", "usage:write"]))]
    pub scopes: Vec<&'static str>,
    /// The first characters of the secret, to recognise it.
    #[schema(example = "dzk_q3VhZ0xk")]
    pub prefix: String,
    /// The whole key: in the answer to `POST` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "dzk_q3VhZ0xkT1RwcWlmWmJ5cHl0c0N4dkJXc0F6a0VzT2Y")]
    pub secret: Option<String>,
    #[schema(example = "2026-12-04T10:00:00.000Z")]
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    /// Within a minute of the key's last successful request.
    pub last_used_at: Option<String>,
}

impl From<ApiKey> for ApiKeyResponse {
    fn from(k: ApiKey) -> Self {
        Self {
            id: k.id,
            name: k.name,
            scopes: k.scopes.iter().map(|s| s.as_str()).collect(),
            prefix: k.prefix,
            secret: None,
            created_at: timestamp(k.created_at),
            expires_at: k.expires_at.map(timestamp),
            revoked_at: k.revoked_at.map(timestamp),
            last_used_at: k.last_used_at.map(timestamp),
        }
    }
}

impl From<CreatedApiKey> for ApiKeyResponse {
    fn from(created: CreatedApiKey) -> Self {
        let mut response = Self::from(created.key);
        response.secret = Some(created.secret);
        response
    }
}

/// `GET /api/admin/api-keys`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiKeyListResponse {
    /// Newest first, revoked ones included.
    pub api_keys: Vec<ApiKeyResponse>,
}

/// `GET /api/users/lookup`: exactly one of `id` or `email`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserLookupParams {
    /// The user's id.
    pub id: Option<String>,
    /// The user's email (case-insensitive).
    pub email: Option<String>,
}

impl TryFrom<UserLookupParams> for UserLookup {
    type Error = ServiceError;

    fn try_from(p: UserLookupParams) -> Result<Self, ServiceError> {
        match (p.id, p.email) {
            (Some(id), None) => Uuid::parse_str(id.trim())
                .map(UserLookup::Id)
                .map_err(|_| ServiceError::invalid_field("id", "id must be a UUID.")),
            (None, Some(email)) => Ok(UserLookup::Email(email)),
            _ => Err(ServiceError::invalid_field(
                "id",
                "Give exactly one of id or email.",
            )),
        }
    }
}

/// A user as a key with `users:read` sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserSummaryResponse {
    pub id: Uuid,
    #[schema(example = "user@example.com")]
    pub email: String,
    #[schema(example = "John Doe")]
    pub name: String,
    /// The plan in force now.
    #[schema(example = "basic")]
    pub plan: &'static str,
    pub is_active: bool,
}

impl From<UserSummary> for UserSummaryResponse {
    fn from(u: UserSummary) -> Self {
        Self {
            id: u.id,
            email: u.email,
            name: u.name,
            plan: u.plan.as_str(),
            is_active: u.is_active,
        }
    }
}
