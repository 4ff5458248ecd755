//! Accounts: registration, the caller's profile, profile and password changes, and turning an
//! access token into the current user.

use domain::{BillingInterval, Email, Password, PaymentMethodId, Plan, Role, UserName};
use persistence::preferences;
use persistence::sessions::SessionAccount;
use persistence::subscriptions::{self, NewSubscription, SubscriptionRow};
use persistence::throttle::{self, Scope};
use persistence::users::{self, NewUser, UserChanges};
use persistence::{ConnectionTrait, StoreError, email as email_store, sessions as session_store};
use uuid::Uuid;

use crate::auth_tokens::{self, AccessClaims, CurrentUser};
use crate::budgets;
use crate::email_flows::{self, queue_verification, wake};
use crate::error::parse_new_password;
use crate::payments;
use crate::preferences::{default_preferences, preferences_for};
use crate::sessions::{SignedIn, end_sessions, start_session};
use crate::views::{Account, Profile, Subscription};
use crate::{Context, ServiceError};

/// A registration, parsed: what the use case still judges is the account's standing (only the
/// `user` role may be chosen, 403), billing (configured, 503; a payment method for a paid plan,
/// 422; the plan offered at that interval), the client's budget (429) and the email's
/// availability (409), in that order.
#[derive(Debug, Clone)]
pub struct Registration {
    pub name: UserName,
    pub email: Email,
    pub password: Password,
    /// `user` unless asked otherwise; anything else is refused.
    pub role: Role,
    pub plan: Plan,
    /// How a paid plan is billed (monthly unless asked); a free plan ignores it.
    pub billing_interval: BillingInterval,
    /// The card a paid plan is paid with (required then); a free plan ignores it.
    pub payment_method_id: Option<PaymentMethodId>,
}

/// A new account, signed in; `client_secret` when its first payment needs the customer.
#[derive(Debug, Clone)]
pub struct Registered {
    pub signed_in: SignedIn,
    pub client_secret: Option<String>,
}

/// Changes to one's own profile, parsed.
#[derive(Debug, Clone, Default)]
pub struct ProfileChanges {
    pub name: Option<UserName>,
    pub email: Option<Email>,
    /// Needed to change the email. Checked against the stored hash, never parsed: a password
    /// set under older rules must still be accepted.
    pub current_password: Option<String>,
}

/// Account use cases.
#[derive(Clone)]
pub struct Accounts {
    ctx: Context,
}

/// The signed-in caller with their subscription as stored (see
/// [`Accounts::authenticate_subscriber`]); the subscription is interpreted by the use case
/// that needs it.
#[derive(Debug, Clone)]
pub struct Subscriber {
    pub user: CurrentUser,
    pub(crate) subscription: Option<SubscriptionRow>,
}

/// The account behind verified claims, as it is now: it must exist, be active, not have
/// revoked tokens issued before these, and the sign-in they belong to must not be over.
fn admit(
    claims: &AccessClaims,
    found: Option<SessionAccount>,
) -> Result<CurrentUser, ServiceError> {
    let SessionAccount { user, session_live } = found.ok_or(ServiceError::InvalidToken)?;
    // A disabled account says so (403) rather than looking like a stale token.
    if !user.is_active {
        return Err(ServiceError::AccountDisabled);
    }
    if claims.issued_at < user.tokens_valid_after || !session_live {
        return Err(ServiceError::InvalidToken);
    }
    let role = Role::parse(&user.role).map_err(|e| ServiceError::internal("stored role", e))?;
    Ok(CurrentUser {
        id: user.id,
        email: user.email,
        role,
        session_id: claims.session_id,
    })
}

/// A validated new account, shared by registration and admin creation.
pub(crate) struct AccountDraft {
    pub email: Email,
    pub name: UserName,
    pub password: Password,
    pub role: Role,
    pub plan: Plan,
}

impl Accounts {
    pub(crate) fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// Registers a user and signs them in. A paid plan is paid for first: the Stripe customer
    /// and subscription exist before the account commits, a declined card leaves no account,
    /// and a payment that needs the customer (3-D Secure) registers the account on `free`
    /// with status `pending` and returns the secret to finish it.
    #[tracing::instrument(skip_all)]
    pub async fn register(
        &self,
        request: Registration,
        client_ip: Option<&str>,
    ) -> Result<Registered, ServiceError> {
        let Registration {
            name,
            email,
            password,
            role,
            plan,
            billing_interval,
            payment_method_id,
        } = request;
        if role != Role::User {
            return Err(ServiceError::ForbiddenRole);
        }
        let paid = if plan.is_paid() {
            Some(payments::check_paid_registration(
                &self.ctx,
                plan,
                billing_interval,
                payment_method_id,
            )?)
        } else {
            None
        };
        if let Some(ip) = client_ip {
            let budget = self
                .ctx
                .budget(Scope::RegisterIp, self.ctx.throttle.register_per_ip);
            budgets::spend_by_client(&self.ctx, budget, ip, self.ctx.now()).await?;
        }
        let draft = AccountDraft {
            email,
            name,
            password,
            role,
            plan,
        };
        let password_hash = hash_new_account_password(&self.ctx, &draft).await?;
        let stripe = match &paid {
            Some(sign_up) => Some(
                payments::subscribe_new_account(
                    &self.ctx,
                    draft.email.as_str(),
                    draft.name.as_str(),
                    sign_up,
                )
                .await?,
            ),
            None => None,
        };
        let committed = self
            .commit_registration(draft, password_hash, paid.as_ref().zip(stripe.as_ref()))
            .await;
        if let (Err(e), Some(state)) = (&committed, &stripe) {
            // Paid for, but no account: say where the money is. A retry of the same
            // registration reuses this subscription (same idempotency keys).
            tracing::error!(
                error = %e,
                stripe_subscription = %state.stripe_subscription_id,
                stripe_customer = %state.stripe_customer_id,
                "registration failed after Stripe accepted the subscription"
            );
        }
        let signed_in = committed?;
        Ok(Registered {
            client_secret: stripe
                .as_ref()
                .and_then(|s| s.client_secret().map(str::to_owned)),
            signed_in,
        })
    }

    async fn commit_registration(
        &self,
        draft: AccountDraft,
        password_hash: String,
        paid: Option<(&payments::PaidSignUp, &billing::SubscriptionState)>,
    ) -> Result<SignedIn, ServiceError> {
        let now = self.ctx.now();
        // The account, its subscription, preferences and first sign-in commit together.
        let txn = persistence::begin_write(&self.ctx.db).await?;
        let user_id = insert_account(&self.ctx, &txn, draft, password_hash, now).await?;
        if let Some((sign_up, state)) = paid {
            payments::record_sign_up(&txn, user_id, state, sign_up, now).await?;
        }
        let tokens = start_session(&self.ctx, &txn, user_id, now).await?;
        let profile = load_profile(&txn, &self.ctx, user_id).await?;
        queue_verification(
            &self.ctx,
            &txn,
            user_id,
            &profile.account.name,
            &profile.account.email,
            now,
        )
        .await?;
        txn.commit().await.map_err(StoreError::from)?;
        wake(&self.ctx.outbox_signal);
        Ok(SignedIn { tokens, profile })
    }

    /// Resolves a bearer token to the current user: signature and claims, then the account as
    /// it is now (it must exist, be active, and not have revoked tokens issued before) and its
    /// sign-in (not signed out), read in one query.
    pub async fn authenticate(&self, bearer: &str) -> Result<CurrentUser, ServiceError> {
        let claims = auth_tokens::verify_access(&self.ctx.auth, bearer, self.ctx.now())?;
        let found =
            session_store::find_account(&self.ctx.db, claims.user_id, claims.session_id).await?;
        admit(&claims, found)
    }

    /// [`authenticate`](Self::authenticate), with the caller's subscription read in the same
    /// query (one round trip instead of two on the metering path).
    pub async fn authenticate_subscriber(&self, bearer: &str) -> Result<Subscriber, ServiceError> {
        let claims = auth_tokens::verify_access(&self.ctx.auth, bearer, self.ctx.now())?;
        let (found, subscription) = match session_store::find_account_with_subscription(
            &self.ctx.db,
            claims.user_id,
            claims.session_id,
        )
        .await?
        {
            Some((found, subscription)) => (Some(found), subscription),
            None => (None, None),
        };
        Ok(Subscriber {
            user: admit(&claims, found)?,
            subscription,
        })
    }

    /// The caller's subscription as in force now.
    pub async fn subscription(&self, user_id: Uuid) -> Result<Subscription, ServiceError> {
        let row = subscriptions::find_by_user(&self.ctx.db, user_id)
            .await?
            .ok_or(ServiceError::NotFound("Subscription"))?;
        Subscription::at(row, self.ctx.now())
    }

    /// The caller's account with subscription and preferences.
    pub async fn profile(&self, user_id: Uuid) -> Result<Profile, ServiceError> {
        load_profile(&self.ctx.db, &self.ctx, user_id).await
    }

    /// Changes one's name and/or email. Changing the email takes the current password (so a
    /// stolen access token cannot move the account to another address and reset it from
    /// there) and a unit of the per-user budget; the new address is unverified until
    /// confirmed, the old one is told, and outstanding reset links stop working.
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn update_profile(
        &self,
        user_id: Uuid,
        changes: ProfileChanges,
    ) -> Result<Profile, ServiceError> {
        let ProfileChanges {
            name,
            email,
            current_password,
        } = changes;
        let now = self.ctx.now();
        let current = users::find_by_id(&self.ctx.db, user_id)
            .await?
            .ok_or(ServiceError::NotFound("User"))?;
        let new_email = email.filter(|e| e.as_str() != current.email);
        if new_email.is_some() {
            let budget = self
                .ctx
                .budget(Scope::EmailChange, self.ctx.throttle.email_changes_per_user);
            budgets::spend(&self.ctx, budget, &user_id.to_string(), now).await?;
            let password = current_password.as_deref().unwrap_or_default();
            self.reauthenticate(&current, password, now).await?;
        }
        let txn = persistence::begin_write(&self.ctx.db).await?;
        let update = UserChanges {
            name: name.map(UserName::into_inner),
            is_verified: new_email.is_some().then_some(false),
            email: new_email.map(Email::into_inner),
            ..Default::default()
        };
        match users::update(&txn, user_id, update, now).await {
            Ok(_) => {}
            Err(StoreError::Duplicate(_)) => return Err(ServiceError::EmailTaken),
            Err(e) => return Err(e.into()),
        }
        let profile = load_profile(&txn, &self.ctx, user_id).await?;
        let email_changed = profile.account.email != current.email;
        if email_changed {
            let account = &profile.account;
            email_store::retire_tokens(&txn, user_id, email_flows::RESET, now).await?;
            queue_verification(&self.ctx, &txn, user_id, &account.name, &account.email, now)
                .await?;
            email_flows::queue_email_changed(&txn, &current.email, account, now).await?;
        }
        txn.commit().await.map_err(StoreError::from)?;
        if email_changed {
            wake(&self.ctx.outbox_signal);
        }
        Ok(profile)
    }

    /// Checks the caller's current password before a sensitive change, within the per-user
    /// failure budget: once spent, even the right password waits out the window (429). A
    /// right password takes its attempt back.
    async fn reauthenticate(
        &self,
        user: &users::UserRow,
        password: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), ServiceError> {
        let budget = self.ctx.budget(
            Scope::PasswordChange,
            self.ctx.throttle.password_change_failures,
        );
        let attempt = budgets::spend(&self.ctx, budget, &user.id.to_string(), now).await?;
        if !self
            .ctx
            .hasher
            .verify(password, Some(&user.password_hash))
            .await?
        {
            return Err(ServiceError::WrongCurrentPassword); // the attempt stays: a failure
        }
        throttle::forget(&self.ctx.db, &[attempt]).await?;
        Ok(())
    }

    /// Changes one's password after checking the current one (within the per-user failure
    /// budget). Every other sign-in is revoked, every access token issued before now stops
    /// working and outstanding reset links are retired; the caller's own sign-in survives, so
    /// its refresh token yields a fresh access token.
    #[tracing::instrument(skip_all, fields(user_id = %current.id))]
    pub async fn change_password(
        &self,
        current: &CurrentUser,
        current_password: &str,
        new_password: &str,
    ) -> Result<(), ServiceError> {
        let new_password = parse_new_password(new_password)?;
        let user = users::find_by_id(&self.ctx.db, current.id)
            .await?
            .ok_or(ServiceError::NotFound("User"))?;
        self.reauthenticate(&user, current_password, self.ctx.now())
            .await?;
        let hash = self.ctx.hasher.hash(&new_password).await?;
        let now = self.ctx.now();
        let txn = persistence::begin_write(&self.ctx.db).await?;
        let changes = UserChanges {
            password_hash: Some(hash),
            ..Default::default()
        };
        end_sessions(&txn, current.id, Some(current.session_id), changes, now).await?;
        email_store::retire_tokens(&txn, current.id, email_flows::RESET, now).await?;
        txn.commit().await.map_err(StoreError::from)?;
        Ok(())
    }
}

/// Refuses a taken email before spending CPU on the hash, then hashes the password.
pub(crate) async fn hash_new_account_password(
    ctx: &Context,
    draft: &AccountDraft,
) -> Result<String, ServiceError> {
    if users::find_by_email(&ctx.db, draft.email.as_str())
        .await?
        .is_some()
    {
        return Err(ServiceError::EmailTaken);
    }
    ctx.hasher.hash(&draft.password).await
}

/// Inserts an account with its subscription and default preferences on `conn` (a transaction
/// the caller commits). A concurrent registration of the same email is [`ServiceError::EmailTaken`].
pub(crate) async fn insert_account(
    ctx: &Context,
    conn: &impl ConnectionTrait,
    draft: AccountDraft,
    password_hash: String,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Uuid, ServiceError> {
    let user_id = Uuid::now_v7();
    let inserted = users::insert(
        conn,
        NewUser {
            id: user_id,
            email: draft.email.into_inner(),
            name: draft.name.into_inner(),
            password_hash,
            role: draft.role.as_str().to_owned(),
            is_active: true,
            is_verified: false,
            now,
        },
    )
    .await;
    match inserted {
        Ok(_) => {}
        Err(StoreError::Duplicate(_)) => return Err(ServiceError::EmailTaken),
        Err(e) => return Err(e.into()),
    }
    subscriptions::insert(
        conn,
        NewSubscription {
            user_id,
            plan: draft.plan.as_str().to_owned(),
            status: "active".to_owned(),
            is_active: true,
            auto_renew: draft.plan.is_paid(),
            expires_at: None,
            stripe_customer_id: None,
            stripe_subscription_id: None,
            payment_method_id: None,
            now,
        },
    )
    .await?;
    let defaults = default_preferences(&ctx.catalog, user_id, draft.plan.max_model_tier(), now);
    preferences::insert_if_missing(conn, defaults).await?;
    tracing::info!(user_id = %user_id, "account created");
    Ok(user_id)
}

/// Loads the account, subscription and preferences of a user (preferences are created on
/// first read and kept within the plan's tier), as they are now.
pub(crate) async fn load_profile(
    conn: &impl ConnectionTrait,
    ctx: &Context,
    user_id: Uuid,
) -> Result<Profile, ServiceError> {
    let user = users::find_by_id(conn, user_id)
        .await?
        .ok_or(ServiceError::NotFound("User"))?;
    let row = subscriptions::find_by_user(conn, user_id)
        .await?
        .ok_or_else(|| {
            ServiceError::internal("profile", format!("user {user_id} has no subscription"))
        })?;
    let now = ctx.now();
    let subscription = Subscription::at(row, now)?;
    let max_tier = subscription.max_model_tier;
    let preferences = preferences_for(conn, &ctx.catalog, user_id, max_tier, now).await?;
    Ok(Profile {
        account: Account::try_from(user)?,
        subscription,
        preferences,
    })
}
