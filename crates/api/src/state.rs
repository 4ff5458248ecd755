//! What every handler can reach.

use service::Services;

use crate::metrics::{Metrics, MetricsToken};

/// Shared application state.
pub struct AppState {
    pub services: Services,
    pub metrics: Metrics,
    pub trust_proxy_headers: bool,
    /// When set, `/metrics` answers only to `Authorization: Bearer <it>`.
    pub metrics_token: Option<MetricsToken>,
}
