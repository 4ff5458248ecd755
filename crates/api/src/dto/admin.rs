//! `/api/admin/users`: the user list, creation and overrides.

use domain::{
    Email, ModelTier, Overrides, PageRequest, Password, Plan, Role, SortOrder, UserName, UserSort,
};
use serde::{Deserialize, Serialize};
use service::{
    Account, AdminPatch, FieldErrors, NewAccount, ServiceError, Subscription, UserListQuery,
    UserPage,
};
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

impl TryFrom<UserListParams> for UserListQuery {
    type Error = ServiceError;

    /// Every parameter parsed at once: one 422 names each invalid one.
    fn try_from(p: UserListParams) -> Result<Self, ServiceError> {
        let mut errors = FieldErrors::default();
        let page = errors.take_all(PageRequest::parse(
            p.page,
            p.limit,
            UserListQuery::DEFAULT_PAGE_SIZE,
            UserListQuery::MAX_PAGE_SIZE,
        ));
        let role = errors.take(p.role.as_deref().map(Role::parse).transpose());
        let plan = errors.take(p.plan.as_deref().map(Plan::parse).transpose());
        let sort = errors.take(p.sort.as_deref().map(UserSort::parse).transpose());
        let order = errors.take(p.order.as_deref().map(SortOrder::parse).transpose());
        let (Some(page), Some(role), Some(plan), Some(sort), Some(order)) =
            (page, role, plan, sort, order)
        else {
            return Err(errors.into());
        };
        let sort = sort.unwrap_or_default();
        Ok(UserListQuery {
            page,
            search: p.q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty()),
            role,
            plan,
            is_active: p.is_active,
            sort,
            order: order.unwrap_or_else(|| sort.default_order()),
        })
    }
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

impl From<UserPage> for UserListResponse {
    fn from(page: UserPage) -> Self {
        Self {
            total_records: page.total_records,
            total_pages: page.total_pages,
            current_page: page.current_page,
            records_per_page: page.records_per_page,
            users: page.users.into_iter().map(Into::into).collect(),
        }
    }
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

impl TryFrom<AdminCreateUserRequest> for NewAccount {
    type Error = ServiceError;

    /// Every field parsed at once: one 422 names each invalid field.
    fn try_from(b: AdminCreateUserRequest) -> Result<Self, ServiceError> {
        let mut errors = FieldErrors::default();
        let name = errors.take(UserName::parse(&b.name));
        let email = errors.take(Email::parse(&b.email));
        let password = errors.take(Password::parse(&b.password));
        let role = errors.take(b.role.as_deref().map_or(Ok(Role::User), Role::parse));
        let plan = errors.take(b.plan.as_deref().map_or(Ok(Plan::Free), Plan::parse));
        let (Some(name), Some(email), Some(password), Some(role), Some(plan)) =
            (name, email, password, role, plan)
        else {
            return Err(errors.into());
        };
        Ok(NewAccount {
            name,
            email,
            password,
            role,
            plan,
        })
    }
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

impl TryFrom<AdminPatchRequest> for AdminPatch {
    type Error = ServiceError;

    /// Every field parsed at once: one 422 names each invalid field.
    fn try_from(b: AdminPatchRequest) -> Result<Self, ServiceError> {
        let mut errors = FieldErrors::default();
        let role = errors.take(b.role.as_deref().map(Role::parse).transpose());
        let plan = errors.take(b.plan.as_deref().map(Plan::parse).transpose());
        let max_model_tier = errors.take(
            b.max_model_tier
                .map(|tier| tier.as_deref().map(ModelTier::parse).transpose())
                .transpose(),
        );
        let token_limit = errors.take(
            b.token_limit
                .map(|limit| limit.map(Overrides::parse_token_limit).transpose())
                .transpose(),
        );
        let (Some(role), Some(plan), Some(max_model_tier), Some(token_limit)) =
            (role, plan, max_model_tier, token_limit)
        else {
            return Err(errors.into());
        };
        Ok(AdminPatch {
            is_active: b.is_active,
            is_verified: b.is_verified,
            role,
            plan,
            token_limit,
            max_model_tier,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid_fields(err: ServiceError) -> Vec<String> {
        match err {
            ServiceError::Invalid { errors, .. } => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a 422, got {other:?}"),
        }
    }

    fn params() -> UserListParams {
        UserListParams {
            page: None,
            limit: None,
            q: None,
            role: None,
            plan: None,
            is_active: None,
            sort: None,
            order: None,
        }
    }

    #[test]
    fn a_listing_query_defaults_to_the_newest_first_and_sorts_names_a_to_z() {
        let Ok(query) = UserListQuery::try_from(params()) else {
            panic!("an empty query parses");
        };
        assert_eq!(
            (query.sort, query.order),
            (UserSort::CreatedAt, SortOrder::Desc)
        );
        assert_eq!((query.page.page(), query.page.per_page()), (1, 20));
        let Ok(query) = UserListQuery::try_from(UserListParams {
            sort: Some("name".into()),
            q: Some("   ".into()),
            ..params()
        }) else {
            panic!("a sort by name parses");
        };
        assert_eq!(query.order, SortOrder::Asc);
        assert_eq!(query.search, None, "a blank search is no filter");
    }

    #[test]
    fn every_bad_listing_parameter_is_named_in_one_error() {
        let Err(err) = UserListQuery::try_from(UserListParams {
            limit: Some(101),
            role: Some("root".into()),
            plan: Some("gold".into()),
            sort: Some("password_hash".into()),
            order: Some("sideways".into()),
            ..params()
        }) else {
            panic!("bad parameters are refused");
        };
        assert_eq!(
            invalid_fields(err),
            ["limit", "role", "plan", "sort", "order"]
        );
    }

    #[test]
    fn a_patch_keeps_absent_apart_from_null_and_names_every_bad_field() {
        let patch = |body: serde_json::Value| {
            serde_json::from_value::<AdminPatchRequest>(body)
                .map_err(|e| e.to_string())
                .and_then(|b| AdminPatch::try_from(b).map_err(|e| format!("{e:?}")))
        };
        let Ok(restore) = patch(serde_json::json!({"token_limit": null, "max_model_tier": null}))
        else {
            panic!("null restores the plan's values");
        };
        assert_eq!(
            (restore.token_limit, restore.max_model_tier),
            (Some(None), Some(None))
        );
        let Ok(untouched) = patch(serde_json::json!({"is_verified": true})) else {
            panic!("a patch of one field parses");
        };
        assert_eq!(
            (untouched.token_limit, untouched.max_model_tier),
            (None, None)
        );
        let Ok(set) = patch(serde_json::json!({"token_limit": 0, "max_model_tier": "gpt-4"}))
        else {
            panic!("overrides parse");
        };
        assert_eq!(set.token_limit, Some(Some(0)));
        assert_eq!(set.max_model_tier, Some(Some(ModelTier::Gpt4)));

        let Ok(body) = serde_json::from_value::<AdminPatchRequest>(serde_json::json!(
            {"role": "root", "plan": "gold", "token_limit": -1, "max_model_tier": "gpt-5"}
        )) else {
            panic!("the body deserializes");
        };
        let Err(err) = AdminPatch::try_from(body) else {
            panic!("bad fields are refused");
        };
        assert_eq!(
            invalid_fields(err),
            ["role", "plan", "max_model_tier", "token_limit"]
        );
    }
}
