#![doc = include_str!("../README.md")]

mod auth;
mod client;
mod error;
mod metering;
mod retry;
mod service_keys;
mod usage;

pub use auth::{SignIn, Subscription, TokenPair, User};
pub use client::{Client, ClientBuilder};
pub use error::{Error, ErrorCode, FieldError, QuotaExceeded, Refusal};
pub use metering::{Check, CheckOutcome, Reservation, Reservations, Reserve, Tracked, Usage};
pub use retry::RetryPolicy;
pub use usage::{
    Breakdown, ChatBreakdown, Counter, CurrentPeriod, DailyUsage, HistoryItem, HistoryPage,
    HistoryQuery, Model, Models, TokenStats, TotalOnly, UsageAlert, UsageCounters,
};

/// The shared value types of the wire (`RequestType`, `ModelTier`, `Plan`, `Role`,
/// `UsageUnit`), from the `doztra-domain` crate.
pub use domain::{ModelTier, Plan, RequestType, Role, UsageUnit};
