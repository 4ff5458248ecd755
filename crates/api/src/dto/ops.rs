//! Health.

use serde::Serialize;
use utoipa::ToSchema;

/// `GET /health`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HealthResponse {
    #[schema(example = "ok")]
    pub status: &'static str,
    pub version: &'static str,
}
