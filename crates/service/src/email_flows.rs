//! Email verification and password reset. Messages are written to the outbox in the same
//! transaction as the change that causes them and sent afterwards by the [`crate::OutboxWorker`],
//! so a slow or failing mail server never blocks a request or loses an account change.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use persistence::email::{self as store, NewEmailToken};
use persistence::throttle::{self, Scope};
use persistence::users::{self, UserChanges};
use persistence::{ConnectionTrait, StoreError};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::auth_tokens::{self, CurrentUser};
use crate::budgets::{self, Budget};
use crate::error::parse_new_password;
use crate::sessions::end_sessions;
use crate::{Context, ServiceError};
use domain::Email;

const VERIFY: &str = "verify_email";
pub(crate) const RESET: &str = "password_reset";

/// Settings of the email flows.
#[derive(Debug, Clone)]
pub struct EmailConfig {
    /// Where links point (the web app), e.g. `https://app.doztra.ai`.
    pub base_url: String,
    pub verification_ttl: Duration,
    pub reset_ttl: Duration,
    /// Verification emails a user may request per window.
    pub resend_max: u64,
    pub resend_window: Duration,
    /// Reset emails per address per window (beyond it the request is answered the same and
    /// nothing is sent; the per-client-address budget is [`crate::ThrottleConfig`]'s).
    pub reset_max_per_email: u64,
    pub reset_window: Duration,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            base_url: "http://localhost:8000".to_owned(),
            verification_ttl: Duration::from_secs(48 * 3600),
            reset_ttl: Duration::from_secs(3600),
            resend_max: 3,
            resend_window: Duration::from_secs(15 * 60),
            reset_max_per_email: 3,
            reset_window: Duration::from_secs(3600),
        }
    }
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::hours(1))
}

/// Email flow use cases.
#[derive(Clone)]
pub struct EmailFlows {
    ctx: Context,
}

/// Wakes the outbox worker after a commit.
pub(crate) fn wake(signal: &Arc<Notify>) {
    signal.notify_one();
}

/// Issues a verification token for `email` and queues the message, on `conn` (the caller's
/// transaction). Earlier verification tokens stop working.
pub(crate) async fn queue_verification(
    ctx: &Context,
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    name: &str,
    email: &str,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let token = auth_tokens::random_token()?;
    store::retire_tokens(conn, user_id, VERIFY, now).await?;
    store::insert_token(
        conn,
        NewEmailToken {
            user_id,
            purpose: VERIFY,
            token_hash: auth_tokens::hash_token(&token),
            email: email.to_owned(),
            now,
            expires_at: now + delta(ctx.email.verification_ttl),
        },
    )
    .await?;
    let hours = ctx.email.verification_ttl.as_secs() / 3600;
    let body = format!(
        "Hello {name},\n\nPlease confirm your email address for Doztra by opening this link within {hours} hours:\n\n{}/verify-email?token={token}\n\nIf you did not create a Doztra account, you can ignore this message.\n",
        ctx.email.base_url.trim_end_matches('/'),
    );
    store::enqueue(conn, email, "Confirm your email address", &body, now).await?;
    Ok(())
}

/// Tells the old address that the account's email changed (on `conn`, the change's
/// transaction), so the owner learns of a takeover attempt.
pub(crate) async fn queue_email_changed(
    conn: &impl ConnectionTrait,
    old_email: &str,
    account: &crate::views::Account,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let body = format!(
        "Hello {},\n\nThe email address of your Doztra account was changed from {old_email} to {}. Messages about the account now go to the new address.\n\nIf you did not make this change, contact support at once: someone may have access to your account.\n",
        account.name, account.email,
    );
    store::enqueue(
        conn,
        old_email,
        "Your Doztra email address was changed",
        &body,
        now,
    )
    .await?;
    Ok(())
}

impl EmailFlows {
    pub(crate) fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// Confirms the address a verification token was sent to. The token is single-use and
    /// must still match the account's current email.
    #[tracing::instrument(skip_all)]
    pub async fn verify_email(&self, token: &str) -> Result<(), ServiceError> {
        let now = self.ctx.now();
        let txn = persistence::begin_write(&self.ctx.db).await?;
        let spent = store::spend_token(&txn, VERIFY, &auth_tokens::hash_token(token), now)
            .await?
            .ok_or(ServiceError::InvalidEmailToken)?;
        let user = users::find_by_id(&txn, spent.user_id)
            .await?
            .ok_or(ServiceError::InvalidEmailToken)?;
        if user.email != spent.email {
            return Err(ServiceError::InvalidEmailToken); // the address changed since
        }
        users::update(
            &txn,
            user.id,
            UserChanges {
                is_verified: Some(true),
                ..Default::default()
            },
            now,
        )
        .await?;
        txn.commit().await.map_err(StoreError::from)?;
        tracing::info!(user_id = %user.id, "email verified");
        Ok(())
    }

    /// Sends a new verification email to the signed-in user (throttled). Returns `false`
    /// when the address is already verified and nothing was sent.
    #[tracing::instrument(skip_all, fields(user_id = %current.id))]
    pub async fn resend_verification(&self, current: &CurrentUser) -> Result<bool, ServiceError> {
        let now = self.ctx.now();
        let user = users::find_by_id(&self.ctx.db, current.id)
            .await?
            .ok_or(ServiceError::NotFound("User"))?;
        if user.is_verified {
            return Ok(false);
        }
        let per_user = Budget {
            scope: Scope::ResendVerification,
            max: self.ctx.email.resend_max,
            window: self.ctx.email.resend_window,
        };
        budgets::spend(&self.ctx, per_user, &user.id.to_string(), now).await?;
        let txn = persistence::begin_write(&self.ctx.db).await?;
        queue_verification(&self.ctx, &txn, user.id, &user.name, &user.email, now).await?;
        txn.commit().await.map_err(StoreError::from)?;
        wake(&self.ctx.outbox_signal);
        Ok(true)
    }

    /// Starts a password reset. Always succeeds the same way for known and unknown addresses
    /// (no account enumeration); a reset email is sent only for an active account and within
    /// the per-email budget. A malformed address is refused first (a format error reveals
    /// nothing about accounts), then the client address's budget is spent (429 beyond it).
    #[tracing::instrument(skip_all)]
    pub async fn request_password_reset(
        &self,
        email: &str,
        client_ip: Option<&str>,
    ) -> Result<(), ServiceError> {
        let email =
            Email::parse(email).map_err(|e| ServiceError::invalid_field("email", e.to_string()))?;
        let email = email.as_str();
        let now = self.ctx.now();
        if let Some(ip) = client_ip {
            let budget = self
                .ctx
                .budget(Scope::ResetIp, self.ctx.throttle.reset_requests_per_ip);
            budgets::spend_by_client(&self.ctx, budget, ip, now).await?;
        }
        let per_email = Budget {
            scope: Scope::ResetEmail,
            max: self.ctx.email.reset_max_per_email,
            window: self.ctx.email.reset_window,
        };
        match budgets::spend(&self.ctx, per_email, email, now).await {
            // Spent: answered the same (nothing tells whether the address has an account).
            Err(ServiceError::TooManyAttempts { .. }) => return Ok(()),
            spent => spent?,
        };
        let txn = persistence::begin_write(&self.ctx.db).await?;
        let user = users::find_by_email(&txn, email)
            .await?
            .filter(|u| u.is_active);
        let queued = match user {
            Some(user) => {
                self.queue_reset(&txn, &user, now).await?;
                true
            }
            None => false,
        };
        txn.commit().await.map_err(StoreError::from)?;
        if queued {
            wake(&self.ctx.outbox_signal);
        }
        Ok(())
    }

    /// Issues a reset token for `user` (earlier ones stop working) and queues its email.
    async fn queue_reset(
        &self,
        conn: &impl ConnectionTrait,
        user: &users::UserRow,
        now: DateTime<Utc>,
    ) -> Result<(), ServiceError> {
        let token = auth_tokens::random_token()?;
        store::retire_tokens(conn, user.id, RESET, now).await?;
        store::insert_token(
            conn,
            NewEmailToken {
                user_id: user.id,
                purpose: RESET,
                token_hash: auth_tokens::hash_token(&token),
                email: user.email.clone(),
                now,
                expires_at: now + delta(self.ctx.email.reset_ttl),
            },
        )
        .await?;
        let minutes = self.ctx.email.reset_ttl.as_secs() / 60;
        let body = format!(
            "Hello {},\n\nSomeone asked to reset the password of your Doztra account. Open this link within {minutes} minutes to choose a new one:\n\n{}/reset-password?token={token}\n\nIf it was not you, ignore this message: your password stays as it is.\n",
            user.name,
            self.ctx.email.base_url.trim_end_matches('/'),
        );
        store::enqueue(conn, &user.email, "Reset your Doztra password", &body, now).await?;
        Ok(())
    }

    /// Sets a new password with a reset token (single use, short-lived, only for the address
    /// it was sent to). Every session and access token of the account is revoked; the address
    /// counts as verified.
    ///
    /// Everything cheap comes before the hash: the client address's budget of redemptions,
    /// the new password's strength, and whether the token is live for the account's current
    /// address; a junk token costs one read, never an argon2 computation.
    #[tracing::instrument(skip_all)]
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: &str,
        client_ip: Option<&str>,
    ) -> Result<(), ServiceError> {
        let now = self.ctx.now();
        if let Some(ip) = client_ip {
            let budget = self.ctx.budget(
                Scope::ResetRedeemIp,
                self.ctx.throttle.reset_redemptions_per_ip,
            );
            budgets::spend_by_client(&self.ctx, budget, ip, now).await?;
        }
        let password = parse_new_password(new_password)?;
        let token_hash = auth_tokens::hash_token(token);
        let live = store::find_live_token(&self.ctx.db, RESET, &token_hash, now)
            .await?
            .ok_or(ServiceError::InvalidEmailToken)?;
        self.token_account(&self.ctx.db, live.user_id, &live.email)
            .await?;
        let hash = self.ctx.hasher.hash(&password).await?;
        let txn = persistence::begin_write(&self.ctx.db).await?;
        let spent = store::spend_token(&txn, RESET, &token_hash, now)
            .await?
            .ok_or(ServiceError::InvalidEmailToken)?;
        let user = self
            .token_account(&txn, spent.user_id, &spent.email)
            .await?;
        let changes = UserChanges {
            password_hash: Some(hash),
            is_verified: Some(true),
            ..Default::default()
        };
        end_sessions(&txn, user.id, None, changes, now).await?;
        store::retire_tokens(&txn, user.id, RESET, now).await?;
        throttle::clear(&txn, Scope::Email, &user.email).await?;
        txn.commit().await.map_err(StoreError::from)?;
        tracing::info!(user_id = %user.id, "password reset");
        Ok(())
    }

    /// The account an email token was issued for, refused unless the token went to the
    /// address the account has now.
    async fn token_account(
        &self,
        conn: &impl ConnectionTrait,
        user_id: Uuid,
        sent_to: &str,
    ) -> Result<users::UserRow, ServiceError> {
        users::find_by_id(conn, user_id)
            .await?
            .filter(|user| user.email == sent_to)
            .ok_or(ServiceError::InvalidEmailToken)
    }
}
