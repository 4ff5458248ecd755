//! `/api/admin/users`: the user list, creation and overrides.

use serde::{Deserialize, Serialize};
use service::{Account, Subscription};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::users::SubscriptionResponse;
use super::{double_option, double_option_whole, timestamp};

/// `GET /api/admin/users` query.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListParams {
    /// 1-based page (default 1).
    #[param(minimum = 1, maximum = 1_000_000_000)]
    pub page: Option<u64>,
    /// Page size, 1..=100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
    /// Case-insensitive substring of email or name.
    pub q: Option<String>,
    pub role: Option<String>,
    pub plan: Option<String>,
    pub is_active: Option<bool>,
    /// `created_at` (default), `email` or `name`.
    pub sort: Option<String>,
    /// `asc` or `desc` (default `desc` for created_at, else `asc`).
    pub order: Option<String>,
}

/// An account in the admin listing.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdminUserSummary {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: String,
    pub is_active: bool,
    pub is_verified: bool,
    pub created_at: String,
    pub updated_at: String,
    pub last_login: Option<String>,
    pub subscription: Option<SubscriptionResponse>,
}

impl From<(Account, Option<Subscription>)> for AdminUserSummary {
    fn from((a, s): (Account, Option<Subscription>)) -> Self {
        Self {
            id: a.id,
            email: a.email,
            name: a.name,
            role: a.role.as_str().to_owned(),
            is_active: a.is_active,
            is_verified: a.is_verified,
            created_at: timestamp(a.created_at),
            updated_at: timestamp(a.updated_at),
            last_login: a.last_login.map(timestamp),
            subscription: s.map(Into::into),
        }
    }
}

/// A page of accounts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserListResponse {
    pub total_records: u64,
    pub total_pages: u64,
    pub current_page: u64,
    pub records_per_page: u64,
    pub users: Vec<AdminUserSummary>,
}

/// `POST /api/admin/users`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct AdminCreateUserRequest {
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    #[serde(default)]
    #[schema(required = true, format = Email, max_length = 254)]
    pub email: String,
    #[serde(default)]
    #[schema(required = true, min_length = 8, max_length = 128)]
    pub password: String,
    /// `user` (default) or `admin`.
    pub role: Option<String>,
    /// `free` (default), `basic` or `professional`; granted without payment.
    pub plan: Option<String>,
}

/// `PATCH /api/admin/users/{id}`: an admin override. `null` on `token_limit` or
/// `max_model_tier` restores the plan's value.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct AdminPatchRequest {
    pub is_active: Option<bool>,
    pub is_verified: Option<bool>,
    pub role: Option<String>,
    pub plan: Option<String>,
    /// A whole number of tokens, 0 or more (`28407.0` counts as `28407`).
    #[serde(default, deserialize_with = "double_option_whole")]
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub token_limit: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub max_model_tier: Option<Option<String>>,
}
