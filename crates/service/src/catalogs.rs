//! The public catalogs: plans with prices and limits, and models with their tiers.

use domain::{ModelTier, Plan, PlanLimits};
use persistence::subscriptions;
use uuid::Uuid;

use crate::views::Subscription;
use crate::{Context, ServiceError};

/// Plan prices in minor units (cents) of one currency, per month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanPrices {
    pub basic_cents: u64,
    pub professional_cents: u64,
    /// ISO 4217 code, lower-case (e.g. `usd`).
    pub currency: String,
}

impl Default for PlanPrices {
    fn default() -> Self {
        Self {
            basic_cents: 1900,
            professional_cents: 4900,
            currency: "usd".to_owned(),
        }
    }
}

impl PlanPrices {
    /// The monthly price of a plan in cents.
    pub fn of(&self, plan: Plan) -> u64 {
        match plan {
            Plan::Free => 0,
            Plan::Basic => self.basic_cents,
            Plan::Professional => self.professional_cents,
        }
    }
}

/// One plan of `GET /api/plans`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOffer {
    pub plan: Plan,
    pub price_cents: u64,
    pub currency: String,
    pub limits: PlanLimits,
    pub allowed_models: Vec<String>,
}

/// One model of `GET /api/models`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelEntry {
    pub name: String,
    pub tier: ModelTier,
    pub allowed: bool,
}

/// The caller's view of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelList {
    pub max_model_tier: ModelTier,
    pub models: Vec<ModelEntry>,
}

/// Catalog use cases.
#[derive(Clone)]
pub struct Catalogs {
    ctx: Context,
}

impl Catalogs {
    pub(crate) fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// Every plan with its price, limits and allowed models.
    pub fn plans(&self) -> Vec<PlanOffer> {
        Plan::ALL
            .iter()
            .map(|&plan| {
                let limits = plan.limits();
                PlanOffer {
                    plan,
                    price_cents: self.ctx.prices.of(plan),
                    currency: self.ctx.prices.currency.clone(),
                    allowed_models: self
                        .ctx
                        .catalog
                        .models()
                        .filter(|(_, tier)| limits.allows_tier(*tier))
                        .map(|(name, _)| name.to_owned())
                        .collect(),
                    limits,
                }
            })
            .collect()
    }

    /// The catalog with each model's tier and whether the caller's plan allows it.
    pub async fn models_for(&self, user_id: Uuid) -> Result<ModelList, ServiceError> {
        let row = subscriptions::find_by_user(&self.ctx.db, user_id)
            .await?
            .ok_or(ServiceError::NotFound("User"))?;
        let max = Subscription::at(row, self.ctx.now())?.max_model_tier;
        let models = self
            .ctx
            .catalog
            .models()
            .map(|(name, tier)| ModelEntry {
                name: name.to_owned(),
                tier,
                allowed: tier.within(max),
            })
            .collect();
        Ok(ModelList {
            max_model_tier: max,
            models,
        })
    }
}
