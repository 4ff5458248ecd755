//! Preferences, plans and models.

use domain::{ModelName, Theme};
use serde::{Deserialize, Serialize};
use service::{FieldErrors, PreferencesUpdate, ServiceError};
use utoipa::ToSchema;

/// `PUT /api/preferences/me`: a partial update.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct PreferencesUpdateRequest {
    /// `light`, `dark` or `system`.
    pub theme: Option<String>,
    pub notifications: Option<bool>,
    /// A model of the catalog that the plan allows.
    pub default_model: Option<String>,
}

impl TryFrom<PreferencesUpdateRequest> for PreferencesUpdate {
    type Error = ServiceError;

    /// Every field parsed at once: one 422 names each invalid one. Whether the catalog knows
    /// the model and the plan allows it is the service's to say.
    fn try_from(b: PreferencesUpdateRequest) -> Result<Self, ServiceError> {
        let mut errors = FieldErrors::default();
        let theme = errors.take(b.theme.as_deref().map(Theme::parse).transpose());
        let default_model = errors.take(b.default_model.map(ModelName::parse).transpose());
        let (Some(theme), Some(default_model)) = (theme, default_model) else {
            return Err(errors.into());
        };
        Ok(PreferencesUpdate {
            theme,
            notifications: b.notifications,
            default_model,
        })
    }
}

/// Monthly limits of a plan; `null` = unlimited.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanLimitsResponse {
    pub tokens: Option<u64>,
    pub chat_messages: Option<u64>,
    pub plagiarism_checks: Option<u64>,
    pub prompts_generated: Option<u64>,
}

impl From<domain::PlanLimits> for PlanLimitsResponse {
    fn from(l: domain::PlanLimits) -> Self {
        Self {
            tokens: l.monthly_tokens,
            chat_messages: l.chat_messages,
            plagiarism_checks: l.plagiarism_checks,
            prompts_generated: l.prompts_generated,
        }
    }
}

/// A plan on offer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanResponse {
    #[schema(example = "basic")]
    pub plan: String,
    /// Monthly price in minor units (cents).
    #[schema(example = 1900)]
    pub price_cents: u64,
    /// Monthly price in major units, for display.
    #[schema(example = 19.0)]
    pub price: f64,
    #[schema(example = "usd")]
    pub currency: String,
    #[schema(example = "month")]
    pub interval: &'static str,
    pub limits: PlanLimitsResponse,
    #[schema(example = "gpt-4")]
    pub max_model_tier: String,
    pub allowed_models: Vec<String>,
}

impl From<service::PlanOffer> for PlanResponse {
    fn from(o: service::PlanOffer) -> Self {
        Self {
            plan: o.plan.as_str().to_owned(),
            price_cents: o.price_cents,
            price: o.price_cents as f64 / 100.0,
            currency: o.currency,
            interval: "month",
            max_model_tier: o.limits.max_model_tier.as_str().to_owned(),
            limits: o.limits.into(),
            allowed_models: o.allowed_models,
        }
    }
}

/// `GET /api/plans`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlansResponse {
    pub plans: Vec<PlanResponse>,
}

/// A model of the catalog.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModelResponse {
    #[schema(example = "gpt-4o")]
    pub name: String,
    #[schema(example = "gpt-4")]
    pub tier: String,
    /// Whether the caller's plan may use it.
    pub allowed: bool,
}

/// `GET /api/models`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModelsResponse {
    /// The caller's effective max tier.
    pub max_model_tier: String,
    pub models: Vec<ModelResponse>,
}

impl From<service::ModelList> for ModelsResponse {
    fn from(list: service::ModelList) -> Self {
        Self {
            max_model_tier: list.max_model_tier.as_str().to_owned(),
            models: list
                .models
                .into_iter()
                .map(|m| ModelResponse {
                    name: m.name,
                    tier: m.tier.as_str().to_owned(),
                    allowed: m.allowed,
                })
                .collect(),
        }
    }
}
