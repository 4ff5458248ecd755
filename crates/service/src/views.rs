//! What the use cases return: accounts, subscriptions and preferences as validated values
//! (never database rows).

use chrono::{DateTime, Utc};
use domain::{ModelTier, Overrides, Plan, PlanRecord, Role, SubscriptionStatus, Theme};
use persistence::preferences::PreferencesRow;
use persistence::subscriptions::SubscriptionRow;
use persistence::users::UserRow;
use uuid::Uuid;

use crate::ServiceError;

/// An account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub is_active: bool,
    pub is_verified: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login: Option<DateTime<Utc>>,
}

impl TryFrom<UserRow> for Account {
    type Error = ServiceError;
    fn try_from(row: UserRow) -> Result<Self, ServiceError> {
        Ok(Self {
            role: Role::parse(&row.role).map_err(|e| ServiceError::internal("stored role", e))?,
            id: row.id,
            email: row.email,
            name: row.name,
            is_active: row.is_active,
            is_verified: row.is_verified,
            created_at: row.created_at,
            updated_at: row.updated_at,
            last_login: row.last_login,
        })
    }
}

/// A subscription as it is in force at an instant: a paid plan past its `expires_at` reads as
/// `free` with status `expired` (the rule is the domain's `PlanRecord::in_force_at`);
/// `max_model_tier` is the effective tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: Uuid,
    pub user_id: Uuid,
    pub plan: Plan,
    pub status: SubscriptionStatus,
    pub start_date: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub is_active: bool,
    pub auto_renew: bool,
    pub stripe_customer_id: Option<String>,
    pub stripe_subscription_id: Option<String>,
    pub payment_method_id: Option<String>,
    /// The admin override of monthly tokens (`None` = the plan's).
    pub token_limit: Option<u64>,
    /// The admin overrides as stored.
    pub overrides: Overrides,
    /// The effective max model tier (the plan's, or the override).
    pub max_model_tier: ModelTier,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Subscription {
    /// The stored subscription as it is in force at `at`.
    pub(crate) fn at(row: SubscriptionRow, at: DateTime<Utc>) -> Result<Self, ServiceError> {
        let stored = |what: &'static str| move |e| ServiceError::internal(what, e);
        let plan = Plan::parse(&row.plan).map_err(stored("stored plan"))?;
        let status = SubscriptionStatus::parse(&row.status).map_err(stored("stored status"))?;
        let tier_override = row
            .max_model_tier
            .as_deref()
            .map(ModelTier::parse)
            .transpose()
            .map_err(stored("stored tier"))?;
        let token_limit = row.token_limit.map(|v| u64::try_from(v).unwrap_or(0));
        let overrides = Overrides {
            token_limit,
            max_model_tier: tier_override,
        };
        let in_force = PlanRecord {
            plan,
            status,
            is_active: row.is_active,
            expires_at: row.expires_at,
            // The provider renews it: the renewal's webhook gets a grace period to arrive.
            renews_at_provider: row.auto_renew && row.stripe_subscription_id.is_some(),
        }
        .in_force_at(at);
        Ok(Self {
            id: row.id,
            user_id: row.user_id,
            max_model_tier: domain::effective_limits(in_force.plan, overrides).max_model_tier,
            plan: in_force.plan,
            status: in_force.status,
            start_date: row.start_date,
            expires_at: row.expires_at,
            is_active: in_force.is_active,
            auto_renew: row.auto_renew,
            stripe_customer_id: row.stripe_customer_id,
            stripe_subscription_id: row.stripe_subscription_id,
            payment_method_id: row.payment_method_id,
            token_limit,
            overrides,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

impl Subscription {
    /// The limits metering enforces: the plan's, with the admin overrides applied.
    pub fn limits(&self) -> domain::EffectiveLimits {
        domain::effective_limits(self.plan, self.overrides)
    }
}

/// A user's preferences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preferences {
    pub id: Uuid,
    pub user_id: Uuid,
    pub theme: Theme,
    pub notifications: bool,
    pub default_model: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<PreferencesRow> for Preferences {
    type Error = ServiceError;
    fn try_from(row: PreferencesRow) -> Result<Self, ServiceError> {
        Ok(Self {
            theme: Theme::parse(&row.theme)
                .map_err(|e| ServiceError::internal("stored theme", e))?,
            id: row.id,
            user_id: row.user_id,
            notifications: row.notifications,
            default_model: row.default_model,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// An account with its subscription and preferences (`GET /api/users/me`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub account: Account,
    pub subscription: Subscription,
    pub preferences: Preferences,
}
