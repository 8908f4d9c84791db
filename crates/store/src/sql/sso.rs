//! An account's OpenID Connect provider settings and the email domains it claims.

use super::*;

impl Repo {
    /// Whether the account's single sign-on is configured and enabled, inside a transaction.
    pub(crate) async fn sso_enabled(tx: &mut Tx, account: AccountId) -> Result<bool> {
        let enabled: Option<bool> = sqlx::query_scalar("SELECT enabled FROM sso_configs WHERE account_id = $1")
            .bind(account.to_string())
            .fetch_optional(&mut **tx)
            .await?;
        Ok(enabled.unwrap_or(false))
    }

    async fn sso_in(tx: &mut Tx, account: AccountId) -> Result<Option<SsoSettings>> {
        let row = sqlx::query(
            "SELECT enabled, issuer, client_id, client_secret, scopes, email_claim, jit_provisioning, default_role \
             FROM sso_configs WHERE account_id = $1",
        )
        .bind(account.to_string())
        .fetch_optional(&mut **tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let domains: Vec<String> =
            sqlx::query_scalar("SELECT domain FROM sso_domains WHERE account_id = $1 ORDER BY domain")
                .bind(account.to_string())
                .fetch_all(&mut **tx)
                .await?;
        let scopes: String = row.try_get("scopes")?;
        Ok(Some(SsoSettings {
            enabled: row.try_get("enabled")?,
            issuer: row.try_get("issuer")?,
            client_id: row.try_get("client_id")?,
            client_secret: row.try_get("client_secret")?,
            scopes: serde_json::from_str(&scopes).map_err(|e| corrupt("scopes", e))?,
            email_claim: row.try_get("email_claim")?,
            allowed_email_domains: domains,
            jit_provisioning: row.try_get("jit_provisioning")?,
            default_role: parse_col(&row, "default_role")?,
        }))
    }
}

#[async_trait::async_trait]
impl SsoStore for Repo {
    async fn sso_settings(&self, grant: &Grant<cap::SsoManage>) -> Result<Option<SsoSettings>> {
        let mut tx = self.pool.begin().await?;
        let settings = Self::sso_in(&mut tx, grant.account_id()).await?;
        tx.commit().await?;
        Ok(settings)
    }

    async fn set_sso_settings(
        &self,
        grant: &Grant<cap::SsoManage>,
        settings: SsoSettings,
        ctx: &Ctx,
    ) -> Result<SsoSettings> {
        let account = grant.account_id();
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let before = Self::sso_in(&mut tx, account).await?;
        if !settings.enabled && Self::account_in(&mut tx, account).await?.sso_mandatory {
            return Err(
                DomainError::Conflict("single sign-on is mandatory; turn sso_mandatory off first".into()).into()
            );
        }
        let secret = settings.client_secret.clone().or_else(|| before.as_ref().and_then(|b| b.client_secret.clone()));
        if settings.enabled && secret.is_none() {
            return Err(DomainError::invalid("client_secret", "is needed to enable single sign-on").into());
        }
        let scopes = serde_json::to_string(&settings.scopes).map_err(|e| DomainError::Internal(e.to_string()))?;
        sqlx::query("DELETE FROM sso_configs WHERE account_id = $1")
            .bind(account.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sso_configs (account_id, enabled, issuer, client_id, client_secret, scopes, email_claim, \
             jit_provisioning, default_role, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(account.to_string())
        .bind(settings.enabled)
        .bind(&settings.issuer)
        .bind(&settings.client_id)
        .bind(&secret)
        .bind(scopes)
        .bind(&settings.email_claim)
        .bind(settings.jit_provisioning)
        .bind(settings.default_role.as_str())
        .bind(to_micros(now))
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sso_domains WHERE account_id = $1")
            .bind(account.to_string())
            .execute(&mut *tx)
            .await?;
        for domain in &settings.allowed_email_domains {
            sqlx::query("INSERT INTO sso_domains (domain, account_id) VALUES ($1, $2)")
                .bind(domain)
                .bind(account.to_string())
                .execute(&mut *tx)
                .await
                .map_err(|e| match &e {
                    sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::from(DomainError::Conflict(
                        format!("the email domain {domain} is already another account's"),
                    )),
                    _ => e.into(),
                })?;
        }
        let details = serde_json::json!({
            "enabled": settings.enabled,
            "issuer": settings.issuer,
            "client_id": settings.client_id,
            "client_secret_changed": settings.client_secret.is_some(),
            "allowed_email_domains": settings.allowed_email_domains,
            "jit_provisioning": settings.jit_provisioning,
            "default_role": settings.default_role.as_str(),
        });
        Self::append(&mut tx, now, &change(account, Action::SsoUpdated, target("account", account), details), ctx)
            .await?;
        let after = Self::sso_in(&mut tx, account).await?.ok_or(DomainError::NotFound)?;
        tx.commit().await?;
        Ok(after)
    }
}
