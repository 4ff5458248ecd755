//! Preferences: theme, notifications and default model, kept consistent with the plan.

use chrono::{DateTime, Utc};
use domain::{ModelCatalog, ModelName, ModelTier, Refusal, Theme};
use persistence::preferences::{self, NewPreferences, PreferencesChanges};
use persistence::subscriptions;
use persistence::{ConnectionTrait, StoreError};
use uuid::Uuid;

use crate::views::{Preferences, Subscription};
use crate::{Context, ServiceError};

/// A partial update, parsed. Whether the catalog knows `default_model` and the plan allows it
/// is the use case's to judge (it holds the catalog and reads the plan).
#[derive(Debug, Clone, Default)]
pub struct PreferencesUpdate {
    pub theme: Option<Theme>,
    pub notifications: Option<bool>,
    pub default_model: Option<ModelName>,
}

/// Preferences use cases.
#[derive(Clone)]
pub struct PreferencesService {
    ctx: Context,
}

impl PreferencesService {
    pub(crate) fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// The caller's preferences (created with defaults on first read).
    pub async fn get(&self, user_id: Uuid) -> Result<Preferences, ServiceError> {
        let now = self.ctx.now();
        let tier = current_tier(&self.ctx.db, user_id, now).await?;
        preferences_for(&self.ctx.db, &self.ctx.catalog, user_id, tier, now).await
    }

    /// Applies a partial update: `default_model` must be in the catalog (422 `unknown_model`)
    /// and allowed by the plan (403 `model_not_allowed`).
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn update(
        &self,
        user_id: Uuid,
        update: PreferencesUpdate,
    ) -> Result<Preferences, ServiceError> {
        let model_tier = update
            .default_model
            .as_ref()
            .map(|m| self.ctx.catalog.resolve(m.as_str()))
            .transpose()?;
        let txn = persistence::begin_write(&self.ctx.db).await?;
        let now = self.ctx.now();
        let max = current_tier(&txn, user_id, now).await?;
        if let Some(requested) = model_tier
            && !requested.within(max)
        {
            return Err(ServiceError::Quota {
                refusal: Refusal::ModelNotAllowed { requested, max },
                reset_date: domain::BillingPeriod::containing(now).reset_date(),
            });
        }
        // Make sure the row exists (accounts created before preferences existed).
        preferences_for(&txn, &self.ctx.catalog, user_id, max, now).await?;
        let changes = PreferencesChanges {
            theme: update.theme.map(|t| t.as_str().to_owned()),
            notifications: update.notifications,
            default_model: update.default_model.map(ModelName::into_inner),
        };
        let row = preferences::update(&txn, user_id, changes, now)
            .await?
            .ok_or(ServiceError::NotFound("Preferences"))?;
        txn.commit().await.map_err(StoreError::from)?;
        Preferences::try_from(row)
    }
}

async fn current_tier(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<ModelTier, ServiceError> {
    let row = subscriptions::find_by_user(conn, user_id)
        .await?
        .ok_or(ServiceError::NotFound("User"))?;
    Ok(Subscription::at(row, now)?.max_model_tier)
}

/// Defaults for a new account: light theme, notifications on, the best model the tier allows.
pub(crate) fn default_preferences(
    catalog: &ModelCatalog,
    user_id: Uuid,
    max_tier: ModelTier,
    now: DateTime<Utc>,
) -> NewPreferences {
    NewPreferences {
        user_id,
        theme: Theme::Light.as_str().to_owned(),
        notifications: true,
        default_model: best_model(catalog, max_tier),
        now,
    }
}

fn best_model(catalog: &ModelCatalog, max_tier: ModelTier) -> String {
    catalog
        .best_allowed(max_tier)
        .unwrap_or(max_tier.as_str())
        .to_owned()
}

/// The user's preferences, created on first read, with a default model the current tier cannot
/// use (after a downgrade, or a model removed from the catalog) replaced by the best allowed one
/// and the stored value corrected (at `now`).
pub(crate) async fn preferences_for(
    conn: &impl ConnectionTrait,
    catalog: &ModelCatalog,
    user_id: Uuid,
    max_tier: ModelTier,
    now: DateTime<Utc>,
) -> Result<Preferences, ServiceError> {
    let row = match preferences::find_by_user(conn, user_id).await? {
        Some(row) => row,
        None => {
            preferences::insert_if_missing(
                conn,
                default_preferences(catalog, user_id, max_tier, now),
            )
            .await?
        }
    };
    let usable = catalog
        .tier_of(&row.default_model)
        .is_some_and(|tier| tier.within(max_tier));
    if usable {
        return Preferences::try_from(row);
    }
    let best = best_model(catalog, max_tier);
    tracing::info!(user_id = %user_id, from = %row.default_model, to = %best, "default model corrected to the plan");
    let changes = PreferencesChanges {
        default_model: Some(best),
        ..Default::default()
    };
    let row = preferences::update(conn, user_id, changes, now)
        .await?
        .ok_or(ServiceError::NotFound("Preferences"))?;
    Preferences::try_from(row)
}
