//! Administration of accounts: listing, creation, overrides without payment, deletion.

use domain::{Email, ModelTier, PageRequest, Password, Plan, Role, SortOrder, UserName, UserSort};
use persistence::subscriptions::{self, SubscriptionChanges};
use persistence::users::{self, ListQuery, UserChanges};
use persistence::{ConnectionTrait, StoreError};
use uuid::Uuid;

use crate::accounts::{AccountDraft, hash_new_account_password, insert_account, load_profile};
use crate::auth_tokens::CurrentUser;
use crate::sessions::end_sessions;
use crate::subscription_events;
use crate::views::{Account, Profile, Subscription};
use crate::{Context, ServiceError};

/// The admin listing's query, parsed: filters, order and page.
#[derive(Debug, Clone)]
pub struct UserListQuery {
    pub page: PageRequest,
    /// Case-insensitive substring of email or name; trimmed, never empty.
    pub search: Option<String>,
    pub role: Option<Role>,
    pub plan: Option<Plan>,
    pub is_active: Option<bool>,
    pub sort: UserSort,
    pub order: SortOrder,
}

impl UserListQuery {
    /// Accounts per page when the query names none.
    pub const DEFAULT_PAGE_SIZE: u64 = 20;
    /// Largest page the listing serves.
    pub const MAX_PAGE_SIZE: u64 = 100;
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

/// An account created by an admin: any role, any plan (granted without payment).
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub name: UserName,
    pub email: Email,
    pub password: Password,
    pub role: Role,
    pub plan: Plan,
}

/// An admin override. Outer `None`: leave as is; `Some(None)` on a nullable override: back to
/// the plan's value.
#[derive(Debug, Clone, Default)]
pub struct AdminPatch {
    pub is_active: Option<bool>,
    pub is_verified: Option<bool>,
    pub role: Option<Role>,
    pub plan: Option<Plan>,
    pub token_limit: Option<Option<u64>>,
    pub max_model_tier: Option<Option<ModelTier>>,
}

/// Admin use cases. Every function takes the acting admin and checks the role itself.
#[derive(Clone)]
pub struct Admin {
    ctx: Context,
}

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
        let page = query.page;
        let list = ListQuery {
            search: query.search,
            role: query.role,
            plan: query.plan,
            is_active: query.is_active,
            sort: query.sort,
            order: query.order,
            page,
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
            total_pages: page.total_pages(total),
            current_page: page.page(),
            records_per_page: page.per_page(),
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
        self.insert_new_account(new).await
    }

    /// Creates an admin on the free plan from the command line (`create-admin`): no acting
    /// user exists yet.
    pub async fn bootstrap_admin(
        &self,
        name: UserName,
        email: Email,
        password: Password,
    ) -> Result<Profile, ServiceError> {
        self.insert_new_account(NewAccount {
            name,
            email,
            password,
            role: Role::Admin,
            plan: Plan::Free,
        })
        .await
    }

    async fn insert_new_account(&self, new: NewAccount) -> Result<Profile, ServiceError> {
        let draft = AccountDraft {
            email: new.email,
            name: new.name,
            password: new.password,
            role: new.role,
            plan: new.plan,
        };
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
        let (role, plan) = (patch.role, patch.plan);
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
            token_limit: patch.token_limit.map(|limit| limit.map(stored_token_limit)),
            max_model_tier: patch
                .max_model_tier
                .map(|tier| tier.map(|t| t.as_str().to_owned())),
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

/// A token limit as the subscription row stores it (a BIGINT; no real limit comes near its
/// maximum, which stands for anything larger).
fn stored_token_limit(limit: u64) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}
