#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod account;
pub mod catalog;
mod common_passwords;
pub mod error;
pub mod period;
pub mod plan;
pub mod preferences;
pub mod quota;
pub mod usage;

pub use account::{Email, Password, Role, UserName};
pub use catalog::ModelCatalog;
pub use error::DomainError;
pub use period::BillingPeriod;
pub use plan::{EffectiveLimits, ModelTier, Overrides, Plan, PlanLimits, effective_limits};
pub use preferences::Theme;
pub use quota::{QuotaDecision, QuotaRequest, Refusal, decide};
pub use usage::{Counters, RequestType, TokenCounts, UsageUnit, checked_token_count};
