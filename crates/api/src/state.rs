//! What every handler can reach.

use service::Services;

use crate::client_address::TrustedProxies;
use crate::metrics::{Metrics, MetricsToken};

/// Shared application state.
pub struct AppState {
    pub services: Services,
    pub metrics: Metrics,
    /// Whose forwarded headers name the client (`TRUSTED_PROXIES`).
    pub trusted_proxies: TrustedProxies,
    /// When set, `/metrics` answers only to `Authorization: Bearer <it>`.
    pub metrics_token: Option<MetricsToken>,
}
