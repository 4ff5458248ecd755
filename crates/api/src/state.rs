//! What every handler can reach.

use service::Services;

use crate::metrics::Metrics;

/// Shared application state.
pub struct AppState {
    pub services: Services,
    pub metrics: Metrics,
    pub trust_proxy_headers: bool,
}
