#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod account;
pub mod alerts;
pub mod api_key;
pub mod catalog;
mod common_passwords;
pub mod error;
pub mod ids;
pub mod paging;
pub mod period;
pub mod plan;
pub mod preferences;
pub mod quota;
pub mod reporting;
pub mod sorting;
pub mod subscription;
pub mod usage;
pub mod webhook;

pub use account::{Email, Password, Role, UserName};
pub use alerts::{AlertLevels, AlertThresholds, Crossing, MeteredUnit};
pub use api_key::ApiKeyScope;
pub use catalog::ModelCatalog;
pub use error::DomainError;
pub use ids::{ConversationId, MAX_ID_CHARS, ModelName, PaymentMethodId, RequestId, parse_uuid};
pub use paging::PageRequest;
pub use period::BillingPeriod;
pub use plan::{EffectiveLimits, ModelTier, Overrides, Plan, PlanLimits, effective_limits};
pub use preferences::Theme;
pub use quota::{QuotaDecision, QuotaRequest, Refusal, decide};
pub use reporting::{DateBound, Reporter, UsageGrouping};
pub use sorting::{SortOrder, UserSort};
pub use subscription::{
    BillingInterval, PlanInForce, PlanRecord, ProviderStatus, RENEWAL_GRACE, StateDecision,
    StateOrder, StoredProviderState, SubscriptionStatus, TIE_WINDOW_SECS, WebhookOutcome,
    decide_payment_failure, decide_state, order_state,
};
pub use usage::{
    Counters, MaxTokensPerRequest, RequestType, TokenCounts, UsageUnit, checked_token_count,
};
pub use webhook::{EndpointDescription, EventType, UrlProblem, WebhookUrl};
