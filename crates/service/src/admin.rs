//! Administration of accounts: listing, creation, overrides without payment, deletion.

use domain::{Email, ModelTier, Password, Plan, Role, UserName};
use persistence::subscriptions::{self, SubscriptionChanges};
use persistence::users::{self, ListQuery, SortKey, UserChanges};
use persistence::{ConnectionTrait, StoreError};
use uuid::Uuid;

use crate::accounts::{AccountDraft, hash_new_account_password, insert_account, load_profile};
use crate::auth_tokens::CurrentUser;
use crate::error::FieldErrors;
use crate::sessions::end_sessions;
use crate::subscription_events;
use crate::views::{Account, Profile, Subscription};
use crate::{Context, ServiceError};

/// The admin listing's query as received.
#[derive(Debug, Clone, Default)]
pub struct UserListQuery {
    pub page: Option<u64>,
    pub limit: Option<u64>,
    pub q: Option<String>,
    pub role: Option<String>,
    pub plan: Option<String>,
    pub is_active: Option<bool>,
    pub sort: Option<String>,
    pub order: Option<String>,
}

/// One page of accounts.
#[derive(Debug, Clone)]
pub struct UserPage {
    pub total_records: u64,
    pub total_pages: u64,
    pub current_page: u64,
    pub records_per_page: u64,
    pub users: Vec<(Account, Option<Subscription>)>,
}

/// An account created by an admin.
#[derive(Debug, Clone, Default)]
pub struct NewAccount {
    pub name: String,
    pub email: String,
    pub password: String,
    pub role: Option<String>,
    pub plan: Option<String>,
}

/// An admin override. Outer `None`: leave as is; `Some(None)` on a nullable override: back to
/// the plan's value.
#[derive(Debug, Clone, Default)]
pub struct AdminPatch {
    pub is_active: Option<bool>,
    pub is_verified: Option<bool>,
    pub role: Option<String>,
    pub plan: Option<String>,
    pub token_limit: Option<Option<i64>>,
    pub max_model_tier: Option<Option<String>>,
}

/// Admin use cases. Every function takes the acting admin and checks the role itself.
#[derive(Clone)]
pub struct Admin {
    ctx: Context,
}

/// Largest page the listing serves.
pub const MAX_PAGE_SIZE: u64 = 100;

pub(crate) fn require_admin(actor: &CurrentUser) -> Result<(), ServiceError> {
    if actor.role == Role::Admin {
        Ok(())
    } else {
        Err(ServiceError::AdminRequired)
    }
}

impl Admin {
    pub(crate) fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// Lists accounts with filters, sort and pagination.
    pub async fn list_users(
        &self,
        actor: &CurrentUser,
        query: UserListQuery,
    ) -> Result<UserPage, ServiceError> {
        require_admin(actor)?;
        let mut errors = FieldErrors::default();
        let role = query
            .role
            .as_deref()
            .map(Role::parse)
            .and_then(|r| errors.take(r));
        let plan = query
            .plan
            .as_deref()
            .map(Plan::parse)
            .and_then(|r| errors.take(r));
        errors.finish()?;
        let (page, per_page) =
            crate::usage_reports::page_params(query.page, query.limit, 20, MAX_PAGE_SIZE)?;
        let sort = match query.sort.as_deref() {
            None | Some("created_at") => SortKey::CreatedAt,
            Some("email") => SortKey::Email,
            Some("name") => SortKey::Name,
            Some(_) => {
                return Err(ServiceError::invalid_field(
                    "sort",
                    "sort must be created_at, email or name.",
                ));
            }
        };
        let descending = match query.order.as_deref() {
            None => sort == SortKey::CreatedAt,
            Some("asc") => false,
            Some("desc") => true,
            Some(_) => {
                return Err(ServiceError::invalid_field(
                    "order",
                    "order must be asc or desc.",
                ));
            }
        };
        let list = ListQuery {
            search: query.q.map(|q| q.trim().to_owned()),
            role: role.map(|r| r.as_str().to_owned()),
            plan: plan.map(|p| p.as_str().to_owned()),
            is_active: query.is_active,
            sort,
            descending,
            page,
            per_page,
        };
        let (total, rows) = users::list(&self.ctx.db, &list).await?;
        let users = rows
            .into_iter()
            .map(|(user, sub)| {
                Ok((
                    Account::try_from(user)?,
                    sub.map(|row| Subscription::at(row, self.ctx.now()))
                        .transpose()?,
                ))
            })
            .collect::<Result<Vec<_>, ServiceError>>()?;
        Ok(UserPage {
            total_records: total,
            total_pages: total.div_ceil(per_page),
            current_page: page,
            records_per_page: per_page,
            users,
        })
    }

    /// One account.
    pub async fn get_user(&self, actor: &CurrentUser, id: Uuid) -> Result<Profile, ServiceError> {
        require_admin(actor)?;
        load_profile(&self.ctx.db, &self.ctx, id).await
    }

    /// Creates an account (any role, any plan: no payment is taken for admin-created accounts).
    #[tracing::instrument(skip_all, fields(admin_id = %actor.id))]
    pub async fn create_user(
        &self,
        actor: &CurrentUser,
        new: NewAccount,
    ) -> Result<Profile, ServiceError> {
        require_admin(actor)?;
        let draft = parse_new_account(new)?;
        self.insert_new_account(draft).await
    }

    /// Creates an admin from the command line (`create-admin`): no acting user exists yet.
    pub async fn bootstrap_admin(
        &self,
        email: &str,
        name: &str,
        password: &str,
    ) -> Result<Profile, ServiceError> {
        let draft = parse_new_account(NewAccount {
            name: name.to_owned(),
            email: email.to_owned(),
            password: password.to_owned(),
            role: Some("admin".to_owned()),
            plan: None,
        })?;
        self.insert_new_account(draft).await
    }

    async fn insert_new_account(&self, draft: AccountDraft) -> Result<Profile, ServiceError> {
        let hash = hash_new_account_password(&self.ctx, &draft).await?;
        let now = self.ctx.now();
        let txn = persistence::begin_write(&self.ctx.db).await?;
        let id = insert_account(&self.ctx, &txn, draft, hash, now).await?;
        let profile = load_profile(&txn, &self.ctx, id).await?;
        txn.commit().await.map_err(StoreError::from)?;
        Ok(profile)
    }

    /// Applies an admin override. An admin cannot demote or disable itself, and no change may
    /// leave no active admin (see [`keep_an_active_admin`]). Disabling an account revokes its
    /// sign-ins at once.
    #[tracing::instrument(skip_all, fields(admin_id = %actor.id, user_id = %id))]
    pub async fn patch_user(
        &self,
        actor: &CurrentUser,
        id: Uuid,
        patch: AdminPatch,
    ) -> Result<Profile, ServiceError> {
        require_admin(actor)?;
        let mut errors = FieldErrors::default();
        let role = patch
            .role
            .as_deref()
            .map(Role::parse)
            .and_then(|r| errors.take(r));
        let plan = patch
            .plan
            .as_deref()
            .map(Plan::parse)
            .and_then(|r| errors.take(r));
        let tier = match &patch.max_model_tier {
            Some(Some(raw)) => errors.take(ModelTier::parse(raw)).map(Some),
            Some(None) => Some(None),
            None => None,
        };
        errors.finish()?;
        if let Some(Some(limit)) = patch.token_limit
            && limit < 0
        {
            return Err(ServiceError::invalid_field(
                "token_limit",
                "token_limit must be 0 or more, or null.",
            ));
        }
        let demoting = role.is_some_and(|r| r != Role::Admin);
        let disabling = patch.is_active == Some(false);
        let now = self.ctx.now();
        let txn = persistence::begin_write(&self.ctx.db).await?;
        if demoting || disabling {
            let self_change = if demoting {
                "An admin cannot demote itself."
            } else {
                "An admin cannot disable itself."
            };
            keep_an_active_admin(&txn, actor, id, self_change).await?;
        }
        let user_changes = UserChanges {
            role: role.map(|r| r.as_str().to_owned()),
            is_active: patch.is_active,
            is_verified: patch.is_verified,
            ..Default::default()
        };
        let updated = if disabling {
            end_sessions(&txn, id, None, user_changes, now).await?
        } else {
            users::update(&txn, id, user_changes, now).await?
        };
        updated.ok_or(ServiceError::NotFound("User"))?;
        let sub_changes = SubscriptionChanges {
            plan: plan.map(|p| p.as_str().to_owned()),
            status: plan.map(|_| "active".to_owned()),
            is_active: plan.map(|_| true),
            start_date: plan.map(|_| now),
            expires_at: plan.map(|_| None),
            token_limit: patch.token_limit,
            max_model_tier: tier.map(|t| t.map(|t| t.as_str().to_owned())),
            ..Default::default()
        };
        let before = subscriptions::lock_by_user(&txn, id).await?;
        let after = subscriptions::update(&txn, id, sub_changes, now).await?;
        let queued = match (&before, &after) {
            (Some(before), Some(after)) => {
                subscription_events::announce_change(&txn, before, after, now).await?
            }
            _ => 0,
        };
        let profile = load_profile(&txn, &self.ctx, id).await?;
        txn.commit().await.map_err(StoreError::from)?;
        if queued > 0 {
            self.ctx.webhook_signal.notify_one();
        }
        Ok(profile)
    }

    /// Deletes an account and everything it owns. An admin cannot delete itself, nor the last
    /// other active admin (see [`keep_an_active_admin`]).
    #[tracing::instrument(skip_all, fields(admin_id = %actor.id, user_id = %id))]
    pub async fn delete_user(&self, actor: &CurrentUser, id: Uuid) -> Result<(), ServiceError> {
        const SELF_CHANGE: &str = "An admin cannot delete itself.";
        require_admin(actor)?;
        // Refused deletions must not reach Stripe: the same check without locks first, then
        // again, locked, in the transaction that deletes.
        keep_an_active_admin(&self.ctx.db, actor, id, SELF_CHANGE).await?;
        // Nobody is billed for an account that no longer exists: end its Stripe
        // subscription first (if Stripe refuses, the account stays and the admin retries).
        if let Some(row) = persistence::subscriptions::find_by_user(&self.ctx.db, id).await? {
            crate::payments::cancel_for_deletion(&self.ctx, &row).await?;
        }
        let txn = persistence::begin_write(&self.ctx.db).await?;
        keep_an_active_admin(&txn, actor, id, SELF_CHANGE).await?;
        if !users::delete(&txn, id).await? {
            return Err(ServiceError::NotFound("User"));
        }
        txn.commit().await.map_err(StoreError::from)?;
        Ok(())
    }
}

/// Checks, before `actor` takes `target`'s admin rights away (demotion, disabling, deletion),
/// that an active admin remains: 409 `last_admin` when `target` is the only one. An admin
/// cannot do it to itself when others remain either (`self_change`, 403), and an actor that
/// lost its own rights since its request was authenticated is refused (403 `admin_required`).
///
/// Inside a write transaction the active admins are locked first, so of two changes that would
/// each leave one admin (two admins demoting each other at once) the second sees the first and
/// is refused: the check and the change are atomic on both databases.
async fn keep_an_active_admin(
    conn: &impl ConnectionTrait,
    actor: &CurrentUser,
    target: Uuid,
    self_change: &'static str,
) -> Result<(), ServiceError> {
    let admins = users::lock_active_with_role(conn, Role::Admin.as_str()).await?;
    if admins.contains(&target) && admins.iter().all(|admin| *admin == target) {
        return Err(ServiceError::LastAdmin);
    }
    if target == actor.id {
        return Err(ServiceError::ForbiddenSelfChange(self_change));
    }
    if !admins.contains(&actor.id) {
        return Err(ServiceError::AdminRequired);
    }
    Ok(())
}

fn parse_new_account(new: NewAccount) -> Result<AccountDraft, ServiceError> {
    let mut errors = FieldErrors::default();
    let name = errors.take(UserName::parse(&new.name));
    let email = errors.take(Email::parse(&new.email));
    let password = errors.take(Password::parse(&new.password));
    let role = match new.role.as_deref() {
        None => Some(Role::User),
        Some(raw) => errors.take(Role::parse(raw)),
    };
    let plan = match new.plan.as_deref() {
        None => Some(Plan::Free),
        Some(raw) => errors.take(Plan::parse(raw)),
    };
    errors.finish()?;
    match (name, email, password, role, plan) {
        (Some(name), Some(email), Some(password), Some(role), Some(plan)) => Ok(AccountDraft {
            email,
            name,
            password,
            role,
            plan,
        }),
        _ => Err(ServiceError::internal(
            "new account",
            "collector lost an error",
        )),
    }
}
