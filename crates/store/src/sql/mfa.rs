//! Second factors: TOTP enrollment and use (each time step accepted once), recovery codes, and
//! a user manager's reset.

use super::*;

impl Repo {
    /// The account a user belongs to, inside a transaction.
    async fn account_of_user(tx: &mut Tx, user: UserId) -> Result<AccountId> {
        let account: String = sqlx::query_scalar("SELECT account_id FROM users WHERE id = $1")
            .bind(user.to_string())
            .fetch_optional(&mut **tx)
            .await?
            .ok_or(DomainError::NotFound)?;
        account.parse().map_err(|e| corrupt("account_id", e))
    }

    async fn insert_recovery_codes(tx: &mut Tx, now: OffsetDateTime, user: UserId, hashes: &[String]) -> Result<()> {
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user.to_string()).execute(&mut **tx).await?;
        for hash in hashes {
            sqlx::query("INSERT INTO recovery_codes (code_hash, user_id, created_at) VALUES ($1, $2, $3)")
                .bind(hash)
                .bind(user.to_string())
                .bind(to_micros(now))
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Removes a factor and its codes and turns `mfa_enabled` off.
    async fn drop_factor(tx: &mut Tx, user: UserId) -> Result<()> {
        for sql in [
            "DELETE FROM totp_factors WHERE user_id = $1",
            "DELETE FROM recovery_codes WHERE user_id = $1",
            "UPDATE users SET mfa_enabled = FALSE WHERE id = $1",
        ] {
            sqlx::query(sql).bind(user.to_string()).execute(&mut **tx).await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl MfaStore for Repo {
    async fn begin_totp(&self, user: UserId, secret: &str) -> Result<()> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        // Only a pending enrollment is replaced: a factor confirmed meanwhile stays, and the
        // insert then finds its row and changes nothing.
        sqlx::query("DELETE FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NULL")
            .bind(user.to_string())
            .execute(&mut *tx)
            .await?;
        let started = sqlx::query(
            "INSERT INTO totp_factors (user_id, secret, created_at) VALUES ($1, $2, $3) ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user.to_string())
        .bind(secret)
        .bind(to_micros(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if started == 0 {
            return Err(DomainError::Conflict("TOTP is already on; turn it off first".into()).into());
        }
        self.commit(tx).await?;
        Ok(())
    }

    async fn totp_factor(&self, user: UserId) -> Result<Option<TotpFactor>> {
        let row = sqlx::query("SELECT secret, confirmed_at, last_step FROM totp_factors WHERE user_id = $1")
            .bind(user.to_string())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let confirmed_at: Option<i64> = row.try_get("confirmed_at")?;
        Ok(Some(TotpFactor {
            secret: row.try_get("secret")?,
            confirmed: confirmed_at.is_some(),
            last_step: row.try_get("last_step")?,
        }))
    }

    async fn confirm_totp(&self, user: UserId, step: i64, recovery_hashes: &[String], ctx: &Ctx) -> Result<bool> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let confirmed = sqlx::query(
            "UPDATE totp_factors SET confirmed_at = $2, last_step = $3 WHERE user_id = $1 AND confirmed_at IS NULL",
        )
        .bind(user.to_string())
        .bind(to_micros(now))
        .bind(step)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if confirmed == 0 {
            return Ok(false);
        }
        Self::insert_recovery_codes(&mut tx, now, user, recovery_hashes).await?;
        sqlx::query("UPDATE users SET mfa_enabled = TRUE WHERE id = $1")
            .bind(user.to_string())
            .execute(&mut *tx)
            .await?;
        let account = Self::account_of_user(&mut tx, user).await?;
        let details = serde_json::json!({ "factor": "totp" });
        Self::append(&mut tx, now, &change(account, Action::MfaEnabled, target("user", user), details), ctx).await?;
        self.commit(tx).await?;
        Ok(true)
    }

    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool> {
        let used = sqlx::query(
            "UPDATE totp_factors SET last_step = $2 WHERE user_id = $1 AND confirmed_at IS NOT NULL AND last_step < $2",
        )
        .bind(user.to_string())
        .bind(step)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(used == 1)
    }

    async fn use_recovery_code(&self, user: UserId, code_hash: &str) -> Result<bool> {
        let used = sqlx::query(
            "UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(user.to_string())
        .bind(code_hash)
        .bind(to_micros(self.now()))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(used == 1)
    }

    async fn replace_recovery_codes(&self, user: UserId, recovery_hashes: &[String], ctx: &Ctx) -> Result<()> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let on: Option<i64> =
            sqlx::query_scalar("SELECT confirmed_at FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL")
                .bind(user.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        if on.is_none() {
            return Err(DomainError::NotFound.into());
        }
        Self::insert_recovery_codes(&mut tx, now, user, recovery_hashes).await?;
        let account = Self::account_of_user(&mut tx, user).await?;
        let details = serde_json::json!({ "count": recovery_hashes.len() });
        Self::append(&mut tx, now, &change(account, Action::RecoveryCodesRenewed, target("user", user), details), ctx)
            .await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn remove_totp(&self, user: UserId, ctx: &Ctx) -> Result<()> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        Self::drop_factor(&mut tx, user).await?;
        let account = Self::account_of_user(&mut tx, user).await?;
        let details = serde_json::json!({ "factor": "totp" });
        Self::append(&mut tx, now, &change(account, Action::MfaDisabled, target("user", user), details), ctx).await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn reset_user_mfa(&self, grant: &Grant<cap::UserManage>, id: UserId, ctx: &Ctx) -> Result<()> {
        let account = grant.account_id();
        let now = self.now();
        let mut tx = self.begin_write().await?;
        Self::user_in(&mut tx, account, id).await?;
        Self::drop_factor(&mut tx, id).await?;
        let ended = Self::end_user_sessions(&mut tx, now, id, None, "mfa_reset", ctx).await?;
        let details = serde_json::json!({ "factor": "totp", "sign_ins_ended": ended });
        Self::append(&mut tx, now, &change(account, Action::UserMfaReset, target("user", id), details), ctx).await?;
        self.commit(tx).await?;
        Ok(())
    }
}
