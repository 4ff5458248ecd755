//! Service API keys: the credentials of the AI backends. An admin (or an operator on the command
//! line) creates a key with scopes; its secret `dzk_...` is shown once and stored only as its
//! SHA-256. A request with a key is authenticated by one indexed lookup; the key then acts for
//! any active user within its scopes, on the key routes only (never a `/me` or admin route).

use chrono::{DateTime, TimeDelta, Utc};
use domain::{ApiKeyScope, Role, UserName};
use persistence::api_keys::{self as store, ApiKeyRow, NewApiKey as NewRow};
use persistence::users::{self, UserRow};
use uuid::Uuid;

use crate::accounts::Subscriber;
use crate::admin::require_admin;
use crate::auth_tokens::{CurrentUser, hash_token, random_token};
use crate::error::FieldErrors;
use crate::metering::{
    ActiveReservations, CheckCommand, CheckOutcome, Metering, Reporter, Reservation,
    ReservationCommand, TokenStatistics, TrackCommand, TrackOutcome, UsageSummary,
};
use crate::usage_reports::{HistoryPage, HistoryQuery, UsageReports};
use crate::{Context, ServiceError};

/// What every key secret starts with, so that secret scanners recognise a leaked one.
pub const API_KEY_PREFIX: &str = "dzk_";

/// Characters of the secret kept for display (`dzk_` and 8 more).
const DISPLAY_PREFIX_CHARS: usize = 12;

/// `last_used_at` moves at most this often per key.
const LAST_USED_GRANULARITY: TimeDelta = TimeDelta::minutes(1);

/// A key to create, as received.
#[derive(Debug, Clone, Default)]
pub struct NewApiKey {
    pub name: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A key as an admin sees it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    pub scopes: Vec<ApiKeyScope>,
    /// The first characters of the secret.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Within a minute of the key's last successful request.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A new key with its secret (shown this once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedApiKey {
    pub key: ApiKey,
    pub secret: String,
}

/// A request authenticated by a live API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCaller {
    pub key_id: Uuid,
    scopes: Vec<ApiKeyScope>,
}

impl KeyCaller {
    /// 403 `insufficient_scope` unless the key holds `scope`.
    pub fn require(&self, scope: ApiKeyScope) -> Result<(), ServiceError> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(ServiceError::InsufficientScope(scope.as_str()))
        }
    }
}

/// A user as a key with `users:read` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub plan: domain::Plan,
    pub is_active: bool,
}

/// How `GET /api/users/lookup` names the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserLookup {
    Id(Uuid),
    Email(String),
}

/// API key use cases: the keys themselves (admin), and what a key does for a user, through
/// the same use cases as the user's own routes.
#[derive(Clone)]
pub struct ApiKeys {
    ctx: Context,
    metering: Metering,
    reports: UsageReports,
}

impl ApiKeys {
    pub(crate) fn new(ctx: Context, metering: Metering, reports: UsageReports) -> Self {
        Self {
            ctx,
            metering,
            reports,
        }
    }

    /// Records a request's tokens for `user_id` (`usage:write`): the user's own track, with the
    /// same exactly-once by `request_id` (shared with the user's `/me/track`) and quota gate.
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn track(
        &self,
        secret: &str,
        user_id: Uuid,
        command: impl TryInto<TrackCommand, Error = ServiceError>,
    ) -> Result<TrackOutcome, ServiceError> {
        let (caller, subscriber) = self
            .subscriber(secret, ApiKeyScope::UsageWrite, user_id)
            .await?;
        self.metering
            .track_reported(subscriber, Reporter::ApiKey(caller.key_id), command)
            .await
    }

    /// Whether a request of `user_id` would be accepted now (`usage:write`).
    pub async fn check(
        &self,
        secret: &str,
        user_id: Uuid,
        command: impl TryInto<CheckCommand, Error = ServiceError>,
    ) -> Result<CheckOutcome, ServiceError> {
        let (_, subscriber) = self
            .subscriber(secret, ApiKeyScope::UsageWrite, user_id)
            .await?;
        self.metering
            .check_for(subscriber, command.try_into()?)
            .await
    }

    /// Holds an estimate for a streamed call of `user_id` (`usage:write`): the user's own
    /// reservation, with the same gate and the same retry by `request_id`; `true` when it was
    /// granted now (a retry answers the earlier one).
    pub async fn reserve(
        &self,
        secret: &str,
        user_id: Uuid,
        command: impl TryInto<ReservationCommand, Error = ServiceError>,
    ) -> Result<(Reservation, bool), ServiceError> {
        let (_, subscriber) = self
            .subscriber(secret, ApiKeyScope::UsageWrite, user_id)
            .await?;
        self.metering
            .reserve_for(subscriber, command.try_into()?)
            .await
    }

    /// `user_id`'s reservations that count now (`usage:read`).
    pub async fn reservations(
        &self,
        secret: &str,
        user_id: Uuid,
    ) -> Result<ActiveReservations, ServiceError> {
        self.subscriber(secret, ApiKeyScope::UsageRead, user_id)
            .await?;
        self.metering.reservations(user_id).await
    }

    /// Gives back one of `user_id`'s reservations (`usage:write`).
    pub async fn release(
        &self,
        secret: &str,
        user_id: Uuid,
        reservation_id: &str,
    ) -> Result<(), ServiceError> {
        self.subscriber(secret, ApiKeyScope::UsageWrite, user_id)
            .await?;
        self.metering.release(user_id, reservation_id).await
    }

    /// `user_id`'s token statistics of this period (`usage:read`).
    pub async fn statistics(
        &self,
        secret: &str,
        user_id: Uuid,
    ) -> Result<TokenStatistics, ServiceError> {
        self.subscriber(secret, ApiKeyScope::UsageRead, user_id)
            .await?;
        self.metering.statistics(user_id).await
    }

    /// `user_id`'s counters and limits of this period (`usage:read`).
    pub async fn usage(&self, secret: &str, user_id: Uuid) -> Result<UsageSummary, ServiceError> {
        self.subscriber(secret, ApiKeyScope::UsageRead, user_id)
            .await?;
        self.metering.usage(user_id).await
    }

    /// `user_id`'s recorded requests (`usage:read`).
    pub async fn history(
        &self,
        secret: &str,
        user_id: Uuid,
        query: impl TryInto<HistoryQuery, Error = ServiceError>,
    ) -> Result<HistoryPage, ServiceError> {
        self.subscriber(secret, ApiKeyScope::UsageRead, user_id)
            .await?;
        self.reports.history(user_id, query).await
    }

    /// Creates a key (admin); the answer carries its secret, this once.
    #[tracing::instrument(skip_all, fields(admin_id = %actor.id))]
    pub async fn create(
        &self,
        actor: &CurrentUser,
        new: NewApiKey,
    ) -> Result<CreatedApiKey, ServiceError> {
        require_admin(actor)?;
        self.insert(new, Some(actor.id)).await
    }

    /// Creates a key from the command line (`create-api-key`): no acting user.
    pub async fn create_by_operator(&self, new: NewApiKey) -> Result<CreatedApiKey, ServiceError> {
        self.insert(new, None).await
    }

    async fn insert(
        &self,
        new: NewApiKey,
        created_by: Option<Uuid>,
    ) -> Result<CreatedApiKey, ServiceError> {
        let now = self.ctx.now();
        let mut errors = FieldErrors::default();
        // A key's name follows the rule of a person's name: 1 to 100 characters after
        // trimming, no control characters.
        let name = errors.take(UserName::parse(&new.name));
        let scopes = errors.take(ApiKeyScope::parse_set(&new.scopes));
        errors.finish()?;
        if new.expires_at.is_some_and(|at| at <= now) {
            return Err(ServiceError::invalid_field(
                "expires_at",
                "expires_at must be in the future.",
            ));
        }
        let (Some(name), Some(scopes)) = (name, scopes) else {
            return Err(ServiceError::internal("api key", "collector lost an error"));
        };
        let secret = format!("{API_KEY_PREFIX}{}", random_token()?);
        let row = store::insert(
            &self.ctx.db,
            NewRow {
                id: Uuid::now_v7(),
                name: name.into_inner(),
                prefix: secret.chars().take(DISPLAY_PREFIX_CHARS).collect(),
                key_hash: hash_token(&secret),
                scopes: scopes.iter().map(|s| s.as_str().to_owned()).collect(),
                created_by,
                created_at: now,
                expires_at: new.expires_at,
            },
        )
        .await?;
        tracing::info!(api_key_id = %row.id, "api key created");
        Ok(CreatedApiKey {
            key: view(row),
            secret,
        })
    }

    /// Every key, newest first (revoked ones too).
    pub async fn list(&self, actor: &CurrentUser) -> Result<Vec<ApiKey>, ServiceError> {
        require_admin(actor)?;
        Ok(store::list(&self.ctx.db)
            .await?
            .into_iter()
            .map(view)
            .collect())
    }

    /// One key.
    pub async fn get(&self, actor: &CurrentUser, id: Uuid) -> Result<ApiKey, ServiceError> {
        require_admin(actor)?;
        store::find(&self.ctx.db, id)
            .await?
            .map(view)
            .ok_or(ServiceError::NotFound("API key"))
    }

    /// Revokes a key: it stops working from the next request, on every instance. Revoking a
    /// revoked key changes nothing.
    #[tracing::instrument(skip_all, fields(admin_id = %actor.id, api_key_id = %id))]
    pub async fn revoke(&self, actor: &CurrentUser, id: Uuid) -> Result<(), ServiceError> {
        require_admin(actor)?;
        store::revoke(&self.ctx.db, id, self.ctx.now())
            .await?
            .map(|_| ())
            .ok_or(ServiceError::NotFound("API key"))
    }

    /// The key behind a presented secret: one indexed lookup of its SHA-256. Unknown, revoked
    /// or expired: 401 `invalid_api_key`.
    pub async fn authenticate(&self, secret: &str) -> Result<KeyCaller, ServiceError> {
        if !secret.starts_with(API_KEY_PREFIX) {
            return Err(ServiceError::InvalidApiKey);
        }
        let row = store::find_by_hash(&self.ctx.db, &hash_token(secret))
            .await?
            .ok_or(ServiceError::InvalidApiKey)?;
        self.admit(&row)
    }

    /// A found key, if live; `last_used_at` is stamped off the request path, at most once a
    /// minute.
    fn admit(&self, row: &ApiKeyRow) -> Result<KeyCaller, ServiceError> {
        let now = self.ctx.now();
        if row.revoked_at.is_some() || row.expires_at.is_some_and(|at| at <= now) {
            return Err(ServiceError::InvalidApiKey);
        }
        if row
            .last_used_at
            .is_none_or(|at| at < now - LAST_USED_GRANULARITY)
        {
            let db = self.ctx.db.clone();
            let id = row.id;
            tokio::spawn(async move {
                if let Err(e) = store::touch_last_used(&db, id, now, LAST_USED_GRANULARITY).await {
                    tracing::warn!(error = %e, api_key_id = %id, "could not stamp last_used_at");
                }
            });
        }
        Ok(KeyCaller {
            key_id: row.id,
            scopes: parse_scopes(row),
        })
    }

    /// The key behind `secret` and the active user it acts for with `scope`, with the
    /// subscription (for the metering use cases), read in one round trip: the key by its hash,
    /// joined to the account and its subscription. Refusals in order: 401 (no live key), 403
    /// (no scope), 404 (an unknown and a disabled user alike).
    async fn subscriber(
        &self,
        secret: &str,
        scope: ApiKeyScope,
        user_id: Uuid,
    ) -> Result<(KeyCaller, Subscriber), ServiceError> {
        if !secret.starts_with(API_KEY_PREFIX) {
            return Err(ServiceError::InvalidApiKey);
        }
        let (key, account) = store::find_with_account(&self.ctx.db, &hash_token(secret), user_id)
            .await?
            .ok_or(ServiceError::InvalidApiKey)?;
        let caller = self.admit(&key)?;
        caller.require(scope)?;
        let (user, subscription) = account
            .filter(|(user, _)| user.is_active)
            .ok_or(ServiceError::NotFound("User"))?;
        let subscriber = Subscriber {
            user: acting_for(user)?,
            subscription,
        };
        Ok((caller, subscriber))
    }

    /// A user by id or email (`users:read`); disabled users are found too (`is_active`).
    pub async fn lookup(&self, secret: &str, by: UserLookup) -> Result<UserSummary, ServiceError> {
        self.authenticate(secret)
            .await?
            .require(ApiKeyScope::UsersRead)?;
        let user = match by {
            UserLookup::Id(id) => users::find_by_id(&self.ctx.db, id).await?,
            UserLookup::Email(raw) => match domain::Email::parse(&raw) {
                Ok(email) => users::find_by_email(&self.ctx.db, email.as_str()).await?,
                Err(_) => None,
            },
        }
        .ok_or(ServiceError::NotFound("User"))?;
        let plan = match persistence::subscriptions::find_by_user(&self.ctx.db, user.id).await? {
            Some(row) => crate::views::Subscription::at(row, self.ctx.now())?.plan,
            None => domain::Plan::Free,
        };
        Ok(UserSummary {
            id: user.id,
            email: user.email,
            name: user.name,
            plan,
            is_active: user.is_active,
        })
    }
}

/// The user a key acts for, as the use cases take a caller. There is no sign-in behind it, so
/// its session id is nil (nothing revokes a session of a key).
fn acting_for(user: UserRow) -> Result<CurrentUser, ServiceError> {
    Ok(CurrentUser {
        id: user.id,
        role: Role::parse(&user.role).map_err(|e| ServiceError::internal("stored role", e))?,
        email: user.email,
        session_id: Uuid::nil(),
    })
}

fn parse_scopes(row: &ApiKeyRow) -> Vec<ApiKeyScope> {
    store::scopes(row)
        .filter_map(|s| ApiKeyScope::parse(s).ok())
        .collect()
}

fn view(row: ApiKeyRow) -> ApiKey {
    ApiKey {
        scopes: parse_scopes(&row),
        id: row.id,
        name: row.name,
        prefix: row.prefix,
        created_at: row.created_at,
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
        last_used_at: row.last_used_at,
    }
}
