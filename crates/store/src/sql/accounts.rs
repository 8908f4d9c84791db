//! Accounts: the tree, its closure table, status and deletion.

use super::*;

impl Repo {
    /// Inserts an account and its closure rows.
    pub(crate) async fn insert_account(
        tx: &mut Tx,
        now: OffsetDateTime,
        id: AccountId,
        parent: Option<AccountId>,
        new: &NewAccount,
        slug: &Slug,
    ) -> Result<Account> {
        sqlx::query(
            "INSERT INTO accounts (id, kind, name, slug, parent_id, status, plan, sso_mandatory, contact_email, region, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'active', $6, FALSE, $7, $8, $9)",
        )
        .bind(id.to_string())
        .bind(new.kind.as_str())
        .bind(&new.name)
        .bind(slug.as_str())
        .bind(parent.map(|p| p.to_string()))
        .bind(new.plan.as_str())
        .bind(&new.contact_email)
        .bind(&new.region)
        .bind(to_micros(now))
        .execute(&mut **tx)
        .await
        .map_err(unique_violation)?;
        sqlx::query("INSERT INTO account_closure (ancestor, descendant, depth) VALUES ($1, $1, 0)")
            .bind(id.to_string())
            .execute(&mut **tx)
            .await?;
        if let Some(parent) = parent {
            sqlx::query(
                "INSERT INTO account_closure (ancestor, descendant, depth) \
                 SELECT ancestor, $1, depth + 1 FROM account_closure WHERE descendant = $2",
            )
            .bind(id.to_string())
            .bind(parent.to_string())
            .execute(&mut **tx)
            .await?;
        }
        Self::account_in(tx, id).await
    }

    /// The slug to use: the client's, or the name's with the first free numeric suffix.
    pub(crate) async fn free_slug(tx: &mut Tx, new: &NewAccount) -> Result<Slug> {
        if let Some(slug) = &new.slug {
            return Ok(slug.clone());
        }
        let base = Slug::from_name(&new.name);
        let mut candidate = base.clone();
        for n in 2..1_000u32 {
            let taken: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts WHERE slug = $1")
                .bind(candidate.as_str())
                .fetch_one(&mut **tx)
                .await?;
            if taken == 0 {
                return Ok(candidate);
            }
            candidate = base.with_suffix(n);
        }
        Err(DomainError::Conflict("no free slug; give one".into()).into())
    }

    pub(crate) async fn set_account_status<P: Capability>(
        &self,
        grant: &Grant<P>,
        action: Action,
        status: AccountStatus,
        deadline: Option<OffsetDateTime>,
        ctx: &Ctx,
    ) -> Result<Account> {
        let id = grant.account_id();
        let now = self.now();
        let mut tx = self.begin_write().await?;
        Self::lock_account(&mut tx, id).await?;
        let before = Self::account_in(&mut tx, id).await?;
        match status {
            AccountStatus::PendingDeletion => {
                let live: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM accounts WHERE parent_id = $1 AND status <> 'pending_deletion'",
                )
                .bind(id.to_string())
                .fetch_one(&mut *tx)
                .await?;
                if live > 0 {
                    return Err(DomainError::HasChildren.into());
                }
            }
            _ if before.status != AccountStatus::PendingDeletion => {
                return Err(DomainError::Conflict("the account is not pending deletion".into()).into());
            }
            _ => {}
        }
        sqlx::query("UPDATE accounts SET status = $2, deletion_deadline = $3 WHERE id = $1")
            .bind(id.to_string())
            .bind(status.as_str())
            .bind(deadline.map(to_micros))
            .execute(&mut *tx)
            .await?;
        let details = serde_json::json!({ "status": status.as_str(), "deletion_deadline": deadline.map(tenantry_domain::clock::rfc3339_micros) });
        Self::append(&mut tx, now, &change(id, action, target("account", id), details), ctx).await?;
        let account = Self::account_in(&mut tx, id).await?;
        self.commit(tx).await?;
        Ok(account)
    }
}

#[async_trait::async_trait]
impl AccountStore for Repo {
    async fn account_view(&self, id: AccountId, viewer: AccountId, viewer_user: UserId) -> Result<Option<AccountView>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            account_cols!(),
            ", (SELECT depth FROM account_closure WHERE ancestor = $2 AND descendant = a.id) AS depth_below_viewer, ",
            "EXISTS (SELECT 1 FROM staff_assignments WHERE user_id = $3 AND account_id = a.id) AS assigned ",
            "FROM accounts a WHERE a.id = $1"
        ))
        .bind(id.to_string())
        .bind(viewer.to_string())
        .bind(viewer_user.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(AccountView {
            account: account_from_row(&row)?,
            depth_below_viewer: row.try_get("depth_below_viewer")?,
            assigned_to_viewer: row.try_get("assigned")?,
        }))
    }

    async fn create_account(
        &self,
        parent: &Grant<cap::AccountCreate>,
        new: NewAccount,
        admin: NewUser,
        ctx: &Ctx,
    ) -> Result<(Account, User)> {
        let parent_id = parent.account_id();
        let now = self.now();
        let mut tx = self.begin_write().await?;
        Self::lock_account(&mut tx, parent_id).await?;
        let parent = Self::account_in(&mut tx, parent_id).await?;
        if parent.status == AccountStatus::PendingDeletion {
            return Err(DomainError::Conflict("the parent account is pending deletion".into()).into());
        }
        if !parent.kind.may_parent(new.kind) || !admin.role.fits(new.kind) {
            return Err(DomainError::Forbidden(format!(
                "a {} account cannot create a {} account",
                parent.kind, new.kind
            ))
            .into());
        }
        let id = AccountId::new();
        let slug = Self::free_slug(&mut tx, &new).await?;
        let account = Self::insert_account(&mut tx, now, id, Some(parent_id), &new, &slug).await?;
        let user = Self::insert_user(&mut tx, now, id, &admin).await?;
        let details = serde_json::json!({
            "kind": account.kind.as_str(),
            "name": account.name,
            "slug": account.slug.as_str(),
            "plan": account.plan.as_str(),
            "parent_id": parent_id.to_string(),
            "initial_user": { "id": user.id.to_string(), "email": user.email.as_str(), "role": user.role.as_str() },
        });
        Self::append(&mut tx, now, &change(id, Action::AccountCreated, target("account", id), details), ctx).await?;
        self.commit(tx).await?;
        Ok((account, user))
    }

    async fn list_accounts(
        &self,
        viewer: &Grant<cap::AccountRead>,
        filter: &AccountFilter,
        page: &PageRequest,
    ) -> Result<Page<Account>> {
        let viewer_account = viewer.account_id();
        let staff = match viewer.sees_below() {
            SeesBelow::All => None,
            SeesBelow::AssignedTo(user) => Some(user.to_string()),
            SeesBelow::Nothing => return Ok(Page { items: Vec::new(), next: None }),
        };
        let pattern = filter.q.as_deref().map(contains_pattern);
        // Ordered by the closure key (`descendant` is the account's id): the subtree is read in
        // index order and stops at the page's end, instead of being sorted whole.
        let rows = sqlx::query(
            "SELECT a.id, a.kind, a.name, a.slug, a.parent_id, a.status, a.plan, a.sso_mandatory, a.mfa_required, a.allowed_networks, \
             a.contact_email, \
             a.region, a.created_at, a.deletion_deadline \
             FROM accounts a JOIN account_closure c ON c.descendant = a.id \
             WHERE c.ancestor = $1 AND c.depth > 0 \
             AND ($2 IS NULL OR a.kind = $2) \
             AND ($3 IS NULL OR a.parent_id = $3) \
             AND ($4 IS NULL OR lower(a.name) LIKE $4 ESCAPE '\\' OR a.slug LIKE $4 ESCAPE '\\') \
             AND ($5 IS NULL OR c.descendant > $5) \
             AND ($6 IS NULL OR a.id IN (SELECT account_id FROM staff_assignments WHERE user_id = $6)) \
             ORDER BY c.descendant LIMIT $7",
        )
        .bind(viewer_account.to_string())
        .bind(filter.kind.map(AccountKind::as_str))
        .bind(filter.parent_id.map(|p| p.to_string()))
        .bind(pattern)
        .bind(&page.after)
        .bind(staff)
        .bind(fetch_limit(page))
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(account_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |a| a.id.to_string()))
    }

    async fn update_account(&self, grants: AccountGrants, patch: AccountPatch, ctx: &Ctx) -> Result<Account> {
        let missing = || DomainError::Internal("an account field without its grant".into());
        let details =
            patch.name.is_some() || patch.slug.is_some() || patch.contact_email.is_some() || patch.status.is_some();
        let mut on = Vec::new();
        if details {
            on.push(grants.update.ok_or_else(missing)?.account_id());
        }
        if patch.sso_mandatory.is_some() {
            on.push(grants.sso_mandatory.ok_or_else(missing)?.account_id());
        }
        if patch.mfa_required.is_some() || patch.allowed_networks.is_some() {
            on.push(grants.security.ok_or_else(missing)?.account_id());
        }
        let Some(&id) = on.first() else { return Err(DomainError::Internal("an empty account change".into()).into()) };
        if on.iter().any(|other| *other != id) {
            return Err(DomainError::Internal("an account change over two accounts".into()).into());
        }
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let before = Self::account_in(&mut tx, id).await?;
        if patch.sso_mandatory == Some(true) && !before.sso_mandatory && !Self::sso_enabled(&mut tx, id).await? {
            return Err(DomainError::SsoNotConfigured.into());
        }
        if patch.status.is_some() && before.status == AccountStatus::PendingDeletion {
            return Err(DomainError::Conflict("the account is pending deletion; restore it first".into()).into());
        }
        let mut changes = serde_json::Map::new();
        if let Some(name) = &patch.name {
            changes.insert("name".into(), name.clone().into());
        }
        if let Some(slug) = &patch.slug {
            changes.insert("slug".into(), slug.as_str().into());
        }
        if let Some(email) = &patch.contact_email {
            changes.insert("contact_email".into(), email.clone().into());
        }
        if let Some(sso) = patch.sso_mandatory {
            changes.insert("sso_mandatory".into(), sso.into());
        }
        if let Some(status) = patch.status {
            changes.insert("status".into(), status.as_str().into());
        }
        if let Some(mfa) = patch.mfa_required {
            changes.insert("mfa_required".into(), mfa.into());
        }
        if let Some(networks) = &patch.allowed_networks {
            changes.insert("allowed_networks".into(), networks.clone().into());
        }
        let networks = patch.allowed_networks.as_ref().unwrap_or(&before.allowed_networks);
        let networks = serde_json::to_string(networks).map_err(|e| DomainError::Internal(e.to_string()))?;
        sqlx::query(
            "UPDATE accounts SET name = $2, slug = $3, contact_email = $4, sso_mandatory = $5, status = $6, \
             mfa_required = $7, allowed_networks = $8 WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(patch.name.as_ref().unwrap_or(&before.name))
        .bind(patch.slug.as_ref().unwrap_or(&before.slug).as_str())
        .bind(patch.contact_email.clone().unwrap_or(before.contact_email.clone()))
        .bind(patch.sso_mandatory.unwrap_or(before.sso_mandatory))
        .bind(patch.status.unwrap_or(before.status).as_str())
        .bind(patch.mfa_required.unwrap_or(before.mfa_required))
        .bind(networks)
        .execute(&mut *tx)
        .await
        .map_err(unique_violation)?;
        if patch.sso_mandatory == Some(true) && !before.sso_mandatory {
            sqlx::query(
                "UPDATE sessions SET ended_at = $2 WHERE ended_at IS NULL AND method <> 'sso' AND user_id IN \
                 (SELECT id FROM users WHERE account_id = $1 AND role <> 'sso_admin')",
            )
            .bind(id.to_string())
            .bind(to_micros(now))
            .execute(&mut *tx)
            .await?;
            Self::end_access_sessions(&mut tx, now, Ending::UsersOf(id), "sso_mandatory", ctx).await?;
        }
        let details = serde_json::json!({ "changes": changes });
        Self::append(&mut tx, now, &change(id, Action::AccountUpdated, target("account", id), details), ctx).await?;
        let account = Self::account_in(&mut tx, id).await?;
        self.commit(tx).await?;
        Ok(account)
    }

    async fn schedule_deletion(
        &self,
        grant: &Grant<cap::AccountDelete>,
        deadline: OffsetDateTime,
        ctx: &Ctx,
    ) -> Result<Account> {
        self.set_account_status(
            grant,
            Action::AccountDeletionScheduled,
            AccountStatus::PendingDeletion,
            Some(deadline),
            ctx,
        )
        .await
    }

    async fn restore_account(&self, grant: &Grant<cap::AccountDelete>, ctx: &Ctx) -> Result<Account> {
        self.set_account_status(grant, Action::AccountRestored, AccountStatus::Active, None, ctx).await
    }
}
