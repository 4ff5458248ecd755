//! Sign-in, refresh-token rotation with reuse detection, and sign-out.

use chrono::{DateTime, TimeDelta, Utc};
use persistence::sessions::{self as store, NewRefreshToken};
use persistence::throttle::{self, Scope};
use persistence::users::{self, UserChanges};
use persistence::{ConnectionTrait, StoreError};
use uuid::Uuid;

use crate::accounts::load_profile;
use crate::auth_tokens::{self, CurrentUser, SessionTokens};
use crate::budgets::{self, Budget};
use crate::views::Profile;
use crate::{Context, ServiceError};

/// Credentials as received. The email is only normalised (trim, lower-case), never validated:
/// a malformed one simply matches no account.
#[derive(Debug, Clone)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// The client's address, for the per-address throttle.
    pub client_ip: Option<String>,
}

/// A successful sign-in or registration.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub tokens: SessionTokens,
    pub profile: Profile,
}

/// Session use cases.
#[derive(Clone)]
pub struct Sessions {
    ctx: Context,
}

impl Sessions {
    pub(crate) fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// Signs in with email and password. Unknown emails and wrong passwords get the same error
    /// after the same work; repeated failures are throttled per email and per address.
    ///
    /// The attempt is recorded *before* the password is checked and counted with the others,
    /// so a burst of concurrent guesses cannot all pass a check that none of them has been
    /// counted in yet: at most the allowed number get a verdict, the rest get 429 (and take
    /// their records back, so waiting out `Retry-After` is enough). A correct password takes
    /// its record back and clears the email's failures.
    #[tracing::instrument(skip_all)]
    pub async fn login(&self, request: LoginRequest) -> Result<SignedIn, ServiceError> {
        let email = request.email.trim().to_lowercase();
        let now = self.ctx.now();
        let network = request.client_ip.as_deref().map(budgets::client_network);
        let ip = network.as_deref();
        // Already locked out: refused on reads alone (a flood of refused attempts writes
        // nothing).
        self.check_throttle(&email, ip, now, 0).await?;
        let attempt = self.record_attempt(&email, ip, now).await?;
        if let Err(refused) = self.check_throttle(&email, ip, now, 1).await {
            // A refused attempt guessed nothing: it does not extend the lock.
            throttle::forget(&self.ctx.db, &attempt).await?;
            return Err(refused);
        }

        let user = users::find_by_email(&self.ctx.db, &email).await?;
        let verified = self
            .ctx
            .hasher
            .verify(
                &request.password,
                user.as_ref().map(|u| u.password_hash.as_str()),
            )
            .await?;
        let Some(user) = user.filter(|_| verified) else {
            // The recorded attempt stays: it is the failure.
            return Err(ServiceError::InvalidCredentials);
        };
        if !user.is_active {
            throttle::forget(&self.ctx.db, &attempt).await?;
            return Err(ServiceError::AccountDisabled);
        }
        let txn = persistence::begin_write(&self.ctx.db).await?;
        throttle::clear(&txn, Scope::Email, &email).await?;
        throttle::forget(&txn, &attempt).await?;
        users::touch_last_login(&txn, user.id, now).await?;
        let tokens = start_session(&self.ctx, &txn, user.id, now).await?;
        let profile = load_profile(&txn, &self.ctx, user.id).await?;
        txn.commit().await.map_err(StoreError::from)?;
        tracing::info!(user_id = %user.id, "signed in");
        Ok(SignedIn { tokens, profile })
    }

    /// Refuses the attempt when its email or address has more recent attempts than allowed
    /// (`own_records`: how many of them are this attempt's own, 1 once it is recorded).
    async fn check_throttle(
        &self,
        email: &str,
        ip: Option<&str>,
        now: DateTime<Utc>,
        own_records: u64,
    ) -> Result<(), ServiceError> {
        let since = now - window(&self.ctx);
        let mut checks = vec![(
            Scope::Email,
            email,
            self.ctx.throttle.max_failures_per_email,
        )];
        if let Some(ip) = ip {
            checks.push((Scope::Ip, ip, self.ctx.throttle.max_failures_per_ip));
        }
        for (scope, subject, max) in checks {
            let budget = Budget {
                scope,
                max,
                window: self.ctx.throttle.window,
            };
            // This attempt's own record is among them: `max` earlier failures (or attempts in
            // flight) lock the next one out.
            let recent = throttle::recent_failures(&self.ctx.db, scope, subject, since).await?;
            if let Some(refused) = budget.refusal(recent, own_records, now) {
                return Err(refused);
            }
        }
        Ok(())
    }

    /// Records the attempt for its email and address (committed at once, so concurrent
    /// attempts count it) and returns the records' ids.
    async fn record_attempt(
        &self,
        email: &str,
        ip: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<uuid::Uuid>, ServiceError> {
        let txn = persistence::begin_write(&self.ctx.db).await?;
        let mut ids = vec![throttle::record_failure(&txn, Scope::Email, email, now).await?];
        if let Some(ip) = ip {
            ids.push(throttle::record_failure(&txn, Scope::Ip, ip, now).await?);
        }
        // Failures older than the window no longer count; keep the table small.
        throttle::prune(&txn, &[Scope::Email, Scope::Ip], now - window(&self.ctx)).await?;
        txn.commit().await.map_err(StoreError::from)?;
        Ok(ids)
    }

    /// Rotates a refresh token: the presented token is spent atomically and its successor (of
    /// the same family) is returned. A spent token presented again revokes its whole family,
    /// except within `refresh_reuse_interval` of its rotation while its successor is still
    /// unspent: then that same successor is returned again (two tabs refreshing at once both
    /// end up holding it) and nothing rotates a second time.
    #[tracing::instrument(skip_all)]
    pub async fn refresh(&self, refresh_token: &str) -> Result<SessionTokens, ServiceError> {
        let hash = auth_tokens::hash_token(refresh_token);
        let successor = auth_tokens::successor_token(&self.ctx.auth, refresh_token)?;
        let now = self.ctx.now();
        let txn = persistence::begin_write(&self.ctx.db).await?;
        // On PostgreSQL a concurrent rotation of the same token holds the row until it commits,
        // so a caller that finds the token spent also finds the successor it was spent for.
        let Some(spent) = store::spend(&txn, &hash, now).await? else {
            let outcome = self.refresh_spent(&txn, &hash, &successor, now).await;
            txn.commit().await.map_err(StoreError::from)?;
            let (user_id, family_id) = outcome?;
            return Ok(SessionTokens {
                access_token: auth_tokens::issue_access(&self.ctx.auth, user_id, family_id, now)?,
                refresh_token: successor,
                expires_in: self.ctx.auth.access_ttl.as_secs(),
            });
        };
        let user_id = match live_account(&txn, spent.user_id, spent.family_expires_at, now).await {
            Ok(id) => id,
            Err(refused) => {
                txn.rollback().await.map_err(StoreError::from)?;
                return Err(refused);
            }
        };
        let tokens = issue_pair(
            &self.ctx,
            &txn,
            Rotation {
                user_id,
                family_id: spent.family_id,
                family_expires_at: spent.family_expires_at,
                refresh_token: successor,
            },
            now,
        )
        .await?;
        txn.commit().await.map_err(StoreError::from)?;
        Ok(tokens)
    }

    /// A token that could not be spent: unknown, revoked or expired (`invalid_token`); spent
    /// moments ago with its successor still unspent (the successor's user and family, so the
    /// caller gets that successor again); or spent earlier, which is reuse: the family is
    /// revoked on `conn` (`refresh_token_reused`).
    async fn refresh_spent(
        &self,
        conn: &impl ConnectionTrait,
        hash: &str,
        successor: &str,
        now: DateTime<Utc>,
    ) -> Result<(Uuid, Uuid), ServiceError> {
        let Some(row) = store::find_by_hash(conn, hash).await? else {
            return Err(ServiceError::InvalidToken);
        };
        let Some(used_at) = row.used_at else {
            return Err(ServiceError::InvalidToken);
        };
        let grace =
            TimeDelta::from_std(self.ctx.auth.refresh_reuse_interval).unwrap_or(TimeDelta::zero());
        // A zero interval is the strict rule, even for a second caller in the same millisecond.
        if grace > TimeDelta::zero() && row.revoked_at.is_none() && now - used_at <= grace {
            let child = store::find_by_hash(conn, &auth_tokens::hash_token(successor)).await?;
            if let Some(child) = child.filter(|c| {
                c.family_id == row.family_id
                    && c.used_at.is_none()
                    && c.revoked_at.is_none()
                    && c.expires_at > now
            }) {
                let user_id =
                    live_account(conn, child.user_id, child.family_expires_at, now).await?;
                tracing::info!(user_id = %user_id, family_id = %child.family_id, "refresh within the reuse interval: successor returned again");
                return Ok((user_id, child.family_id));
            }
        }
        let revoked = store::revoke_family(conn, row.family_id, now).await?;
        tracing::warn!(user_id = %row.user_id, family_id = %row.family_id, revoked, "refresh token reuse: family revoked");
        Err(ServiceError::RefreshTokenReused)
    }

    /// Signs out one sign-in: revokes the family of the given refresh token if it is the
    /// caller's. Unknown tokens are ignored (signing out is idempotent).
    #[tracing::instrument(skip_all, fields(user_id = %current.id))]
    pub async fn logout(
        &self,
        current: &CurrentUser,
        refresh_token: &str,
    ) -> Result<(), ServiceError> {
        let hash = auth_tokens::hash_token(refresh_token);
        let now = self.ctx.now();
        let txn = persistence::begin_write(&self.ctx.db).await?;
        if let Some(row) = store::find_by_hash(&txn, &hash).await?
            && row.user_id == current.id
        {
            store::revoke_family(&txn, row.family_id, now).await?;
        }
        txn.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    /// Signs out everywhere: every refresh token is revoked and every access token issued
    /// until now is rejected.
    #[tracing::instrument(skip_all, fields(user_id = %current.id))]
    pub async fn logout_all(&self, current: &CurrentUser) -> Result<(), ServiceError> {
        let now = self.ctx.now();
        let txn = persistence::begin_write(&self.ctx.db).await?;
        end_sessions(&txn, current.id, None, UserChanges::default(), now).await?;
        txn.commit().await.map_err(StoreError::from)?;
        Ok(())
    }
}

/// Ends the sign-ins of an account, with `changes` to the account in the same statement: every
/// refresh-token family but `keep`'s is revoked and every access token issued before `now` is
/// rejected (the kept sign-in refreshes to go on). The one home of "revoke every session"
/// (sign-out everywhere, password change and reset, disabling); the caller's transaction
/// carries it together with the change that causes it. `None`: no such account.
pub(crate) async fn end_sessions(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    keep: Option<Uuid>,
    changes: UserChanges,
    now: DateTime<Utc>,
) -> Result<Option<users::UserRow>, ServiceError> {
    let changes = UserChanges {
        tokens_valid_after: Some(now),
        ..changes
    };
    let Some(user) = users::update(conn, user_id, changes, now).await? else {
        return Ok(None);
    };
    store::revoke_all_for_user(conn, user_id, keep, now).await?;
    Ok(Some(user))
}

/// The account a refresh continues, if the sign-in has not reached its absolute expiry and the
/// account still exists and is active.
async fn live_account(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    family_expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Uuid, ServiceError> {
    if family_expires_at <= now {
        return Err(ServiceError::InvalidToken);
    }
    let user = users::find_by_id(conn, user_id)
        .await?
        .ok_or(ServiceError::InvalidToken)?;
    if !user.is_active {
        return Err(ServiceError::AccountDisabled);
    }
    Ok(user.id)
}

fn window(ctx: &Context) -> TimeDelta {
    TimeDelta::from_std(ctx.throttle.window).unwrap_or(TimeDelta::minutes(15))
}

fn ttl(duration: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::days(30))
}

/// Starts a new sign-in (a new refresh token family) on `conn`.
pub(crate) async fn start_session(
    ctx: &Context,
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<SessionTokens, ServiceError> {
    let rotation = Rotation {
        user_id,
        family_id: Uuid::now_v7(),
        family_expires_at: now + ttl(ctx.auth.refresh_ttl),
        refresh_token: auth_tokens::random_token()?,
    };
    issue_pair(ctx, conn, rotation, now).await
}

/// The next refresh token of a family: a random one for a new sign-in, the successor of the
/// spent token at rotation.
struct Rotation {
    user_id: Uuid,
    family_id: Uuid,
    family_expires_at: DateTime<Utc>,
    refresh_token: String,
}

async fn issue_pair(
    ctx: &Context,
    conn: &impl ConnectionTrait,
    rotation: Rotation,
    now: DateTime<Utc>,
) -> Result<SessionTokens, ServiceError> {
    let Rotation {
        user_id,
        family_id,
        family_expires_at,
        refresh_token,
    } = rotation;
    store::insert(
        conn,
        NewRefreshToken {
            user_id,
            family_id,
            token_hash: auth_tokens::hash_token(&refresh_token),
            created_at: now,
            expires_at: (now + ttl(ctx.auth.refresh_idle_ttl)).min(family_expires_at),
            family_expires_at,
        },
    )
    .await?;
    let access_token = auth_tokens::issue_access(&ctx.auth, user_id, family_id, now)?;
    Ok(SessionTokens {
        access_token,
        refresh_token,
        expires_in: ctx.auth.access_ttl.as_secs(),
    })
}
