//! An account's users and their roles.

use super::*;

impl Repo {
    /// A password or a new email is a lasting credential: set only on its own grant, for the same
    /// account.
    fn may_set_credentials(account: AccountId, credentials: Option<Grant<cap::UserCredentials>>) -> Result<()> {
        match credentials {
            Some(grant) if grant.account_id() == account => Ok(()),
            _ => Err(DomainError::Forbidden("setting a password or an email needs `user.credentials`".into()).into()),
        }
    }

    pub(crate) async fn insert_user(
        tx: &mut Tx,
        now: OffsetDateTime,
        account: AccountId,
        new: &NewUser,
    ) -> Result<User> {
        let id = UserId::new();
        let status = if new.password_hash.is_some() { UserStatus::Active } else { UserStatus::Invited };
        sqlx::query(
            "INSERT INTO users (id, account_id, email, email_key, name, role, status, password_hash, mfa_enabled, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, FALSE, $9, $10)",
        )
        .bind(id.to_string())
        .bind(account.to_string())
        .bind(new.email.as_str())
        .bind(new.email.key())
        .bind(&new.name)
        .bind(new.role.as_str())
        .bind(status.as_str())
        .bind(&new.password_hash)
        .bind(new.expires_at.map(to_micros))
        .bind(to_micros(now))
        .execute(&mut **tx)
        .await
        .map_err(unique_violation)?;
        if let Some(activation) = &new.activation {
            sqlx::query(
                "INSERT INTO activation_tokens (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(&activation.token_hash)
            .bind(id.to_string())
            .bind(to_micros(now))
            .bind(to_micros(activation.expires_at))
            .execute(&mut **tx)
            .await?;
        }
        Self::user_in(tx, account, id).await
    }
}

#[async_trait::async_trait]
impl UserStore for Repo {
    async fn list_users(&self, grant: &Grant<cap::UserRead>, page: &PageRequest) -> Result<Page<User>> {
        let account = grant.account_id();
        let sql = concat!(
            "SELECT ",
            user_cols!(),
            " FROM users WHERE account_id = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3"
        );
        self.page_of_account(sql, account, page, user_from_row, |u| u.id.to_string()).await
    }

    async fn get_user(&self, grant: &Grant<cap::UserRead>, id: UserId) -> Result<User> {
        let account = grant.account_id();
        let sql = concat!("SELECT ", user_cols!(), " FROM users WHERE account_id = $1 AND id = $2");
        self.row_of_account(sql, account, id.to_string(), user_from_row).await
    }

    async fn create_user(
        &self,
        grant: &Grant<cap::UserManage>,
        credentials: Option<Grant<cap::UserCredentials>>,
        new: NewUser,
        ctx: &Ctx,
    ) -> Result<User> {
        let account = grant.account_id();
        if new.password_hash.is_some() {
            Self::may_set_credentials(account, credentials)?;
        }
        let now = self.now();
        let mut tx = self.begin_write().await?;
        Self::enforce_limit(&mut tx, account, Resource::Users, 1).await?;
        let user = Self::insert_user(&mut tx, now, account, &new).await?;
        let details = serde_json::json!({ "email": user.email.as_str(), "role": user.role.as_str(), "status": user.status.as_str() });
        Self::append(&mut tx, now, &change(account, Action::UserCreated, target("user", user.id), details), ctx)
            .await?;
        self.commit(tx).await?;
        Ok(user)
    }

    async fn update_user(
        &self,
        grant: &Grant<cap::UserManage>,
        credentials: Option<Grant<cap::UserCredentials>>,
        id: UserId,
        patch: UserPatch,
        ctx: &Ctx,
    ) -> Result<User> {
        let account = grant.account_id();
        if patch.password_hash.is_some() || patch.email.is_some() {
            Self::may_set_credentials(account, credentials)?;
        }
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let before = Self::user_in(&mut tx, account, id).await?;
        let mut status = patch.status.unwrap_or(before.status);
        if status == UserStatus::Active && before.status == UserStatus::Invited && patch.password_hash.is_none() {
            status = UserStatus::Invited;
        }
        if before.status == UserStatus::Invited
            && patch.password_hash.is_some()
            && patch.status != Some(UserStatus::Disabled)
        {
            status = UserStatus::Active;
        }
        let mut changed: Vec<&str> = Vec::new();
        let mut flag = |cond: bool, name: &'static str| {
            if cond {
                changed.push(name);
            }
        };
        flag(patch.name.as_ref().is_some_and(|n| *n != before.name), "name");
        flag(patch.email.as_ref().is_some_and(|e| *e != before.email), "email");
        flag(patch.role.is_some_and(|r| r != before.role), "role");
        flag(status != before.status, "status");
        flag(patch.expires_at.is_some_and(|e| e != before.expires_at), "expires_at");
        flag(patch.password_hash.is_some(), "password");
        let email = patch.email.clone().unwrap_or(before.email.clone());
        sqlx::query(
            "UPDATE users SET name = $3, email = $4, email_key = $5, role = $6, status = $7, expires_at = $8, \
             password_hash = COALESCE($9, password_hash) WHERE account_id = $1 AND id = $2",
        )
        .bind(account.to_string())
        .bind(id.to_string())
        .bind(patch.name.as_ref().unwrap_or(&before.name))
        .bind(email.as_str())
        .bind(email.key())
        .bind(patch.role.unwrap_or(before.role).as_str())
        .bind(status.as_str())
        .bind(patch.expires_at.unwrap_or(before.expires_at).map(to_micros))
        .bind(&patch.password_hash)
        .execute(&mut *tx)
        .await
        .map_err(unique_violation)?;
        let ends_sign_ins = status == UserStatus::Disabled
            || patch.password_hash.is_some()
            || patch.role.is_some_and(|r| r != before.role);
        if ends_sign_ins {
            Self::end_user_sessions(&mut tx, now, id, None, "user_updated", ctx).await?;
        }
        let details = serde_json::json!({ "changed": changed, "status": status.as_str() });
        Self::append(&mut tx, now, &change(account, Action::UserUpdated, target("user", id), details), ctx).await?;
        let user = Self::user_in(&mut tx, account, id).await?;
        self.commit(tx).await?;
        Ok(user)
    }

    async fn delete_user(&self, grant: &Grant<cap::UserManage>, id: UserId, ctx: &Ctx) -> Result<()> {
        let account = grant.account_id();
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let user = Self::user_in(&mut tx, account, id).await?;
        for sql in [
            "DELETE FROM sessions WHERE user_id = $1",
            "DELETE FROM activation_tokens WHERE user_id = $1",
            "DELETE FROM staff_assignments WHERE user_id = $1",
            "DELETE FROM users WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id.to_string()).execute(&mut *tx).await?;
        }
        sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE created_by = $1 AND revoked_at IS NULL")
            .bind(id.to_string())
            .bind(to_micros(now))
            .execute(&mut *tx)
            .await?;
        Self::end_access_sessions(&mut tx, now, Ending::ActorExcept(id, String::new()), "user_deleted", ctx).await?;
        let details = serde_json::json!({ "email": user.email.as_str(), "role": user.role.as_str() });
        Self::append(&mut tx, now, &change(account, Action::UserDeleted, target("user", id), details), ctx).await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn end_user_sign_ins(&self, grant: &Grant<cap::UserManage>, id: UserId, ctx: &Ctx) -> Result<u64> {
        let account = grant.account_id();
        let now = self.now();
        let mut tx = self.begin_write().await?;
        Self::user_in(&mut tx, account, id).await?;
        let ended = Self::end_user_sessions(&mut tx, now, id, None, "sign_ins_ended", ctx).await?;
        let details = serde_json::json!({ "ended": ended });
        Self::append(&mut tx, now, &change(account, Action::UserSessionsEnded, target("user", id), details), ctx)
            .await?;
        self.commit(tx).await?;
        Ok(ended)
    }

    async fn create_user_as_operator(&self, account: AccountId, new: NewUser) -> Result<User> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let kind = Self::account_in(&mut tx, account).await?.kind;
        if !new.role.fits(kind) {
            return Err(DomainError::invalid("role", format!("`{}` does not fit a {kind} account", new.role)).into());
        }
        let user = Self::insert_user(&mut tx, now, account, &new).await?;
        let details = serde_json::json!({ "email": user.email.as_str(), "role": user.role.as_str(), "status": user.status.as_str(), "by": "operator" });
        Self::append(
            &mut tx,
            now,
            &change(account, Action::UserCreated, target("user", user.id), details),
            &Ctx::default(),
        )
        .await?;
        self.commit(tx).await?;
        Ok(user)
    }

    async fn reissue_activation(&self, email: &str, activation: ActivationSecret) -> Result<Option<User>> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let row =
            sqlx::query(concat!("SELECT ", user_cols!(), " FROM users WHERE email_key = $1 AND status = 'invited'"))
                .bind(email.trim().to_lowercase())
                .fetch_optional(&mut *tx)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let user = user_from_row(&row)?;
        sqlx::query("DELETE FROM activation_tokens WHERE user_id = $1")
            .bind(user.id.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO activation_tokens (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&activation.token_hash)
        .bind(user.id.to_string())
        .bind(to_micros(now))
        .bind(to_micros(activation.expires_at))
        .execute(&mut *tx)
        .await?;
        let details = serde_json::json!({ "email": user.email.as_str(), "by": "operator" });
        let draft = change(user.account_id, Action::UserActivationReissued, target("user", user.id), details);
        Self::append(&mut tx, now, &draft, &Ctx::default()).await?;
        self.commit(tx).await?;
        Ok(Some(user))
    }
}
