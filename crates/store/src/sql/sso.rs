//! An account's OpenID Connect provider settings, the email domains it claims, and the sign-ins
//! under way through it.

use super::sessions::{LOGIN_CANDIDATE, login_candidate_from_row};
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
        self.commit(tx).await?;
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
        self.commit(tx).await?;
        Ok(after)
    }

    async fn enabled_sso(&self, account: AccountId) -> Result<Option<SsoSettings>> {
        let mut tx = self.pool.begin().await?;
        let settings = Self::sso_in(&mut tx, account).await?;
        self.commit(tx).await?;
        Ok(settings.filter(|s| s.enabled))
    }

    async fn sso_account(&self, slug: Option<&str>, domain: Option<&str>) -> Result<Option<AccountId>> {
        let id: Option<String> = sqlx::query_scalar(
            "SELECT c.account_id FROM sso_configs c JOIN accounts a ON a.id = c.account_id \
             WHERE c.enabled AND (a.slug = $1 OR c.account_id IN (SELECT account_id FROM sso_domains WHERE domain = $2))",
        )
        .bind(slug)
        .bind(domain.map(str::to_lowercase))
        .fetch_optional(&self.pool)
        .await?;
        id.map(|id| id.parse().map_err(|e| corrupt("account_id", e))).transpose()
    }

    async fn begin_sso_flow(&self, flow: SsoFlow, per_ip: i64) -> Result<bool> {
        let now = to_micros(self.now());
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM sso_flows WHERE expires_at <= $1").bind(now).execute(&mut *tx).await?;
        let under_way: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sso_flows WHERE ip = $1")
            .bind(&flow.ip)
            .fetch_one(&mut *tx)
            .await?;
        if under_way >= per_ip {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO sso_flows (state_hash, account_id, session_id, browser_hash, nonce, pkce_verifier, return_to, \
             ip, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&flow.state_hash)
        .bind(flow.account_id.to_string())
        .bind(flow.step_up_of.map(|id| id.to_string()))
        .bind(&flow.browser_hash)
        .bind(&flow.nonce)
        .bind(&flow.pkce_verifier)
        .bind(&flow.return_to)
        .bind(&flow.ip)
        .bind(now)
        .bind(to_micros(flow.expires_at))
        .execute(&mut *tx)
        .await?;
        self.commit(tx).await?;
        Ok(true)
    }

    async fn take_sso_flow(&self, state_hash: &str, browser_hash: &str) -> Result<TakenFlow> {
        let now = to_micros(self.now());
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "DELETE FROM sso_flows WHERE state_hash = $1 AND browser_hash = $2 AND expires_at > $3 \
             RETURNING account_id, session_id, nonce, pkce_verifier, return_to, ip, expires_at",
        )
        .bind(state_hash)
        .bind(browser_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            let other: Option<String> =
                sqlx::query_scalar("SELECT account_id FROM sso_flows WHERE state_hash = $1 AND expires_at > $2")
                    .bind(state_hash)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
            self.commit(tx).await?;
            return Ok(match other {
                Some(account) => TakenFlow::OtherBrowser(account.parse().map_err(|e| corrupt("account_id", e))?),
                None => TakenFlow::Unknown,
            });
        };
        self.commit(tx).await?;
        let account_id: String = row.try_get("account_id")?;
        let session_id: Option<String> = row.try_get("session_id")?;
        Ok(TakenFlow::Taken(Box::new(SsoFlow {
            state_hash: state_hash.to_owned(),
            account_id: account_id.parse().map_err(|e| corrupt("account_id", e))?,
            step_up_of: session_id.map(|id| id.parse().map_err(|e| corrupt("session_id", e))).transpose()?,
            browser_hash: browser_hash.to_owned(),
            nonce: row.try_get("nonce")?,
            pkce_verifier: row.try_get("pkce_verifier")?,
            return_to: row.try_get("return_to")?,
            ip: row.try_get("ip")?,
            expires_at: from_micros(row.try_get("expires_at")?),
        })))
    }

    async fn sign_in_standing(&self, account: AccountId) -> Result<(Account, bool)> {
        let row = sqlx::query(concat!(
            "SELECT ",
            account_cols!(),
            ", ",
            blocked_expr!(),
            " AS blocked FROM accounts a WHERE a.id = $1"
        ))
        .bind(account.to_string())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(DomainError::NotFound)?;
        Ok((account_from_row(&row)?, row.try_get("blocked")?))
    }

    async fn sso_user(
        &self,
        account: AccountId,
        email: &Email,
        provision: Option<(Role, String)>,
        ctx: &Ctx,
    ) -> Result<SsoUser> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let found = sqlx::query(LOGIN_CANDIDATE).bind(email.key()).fetch_optional(&mut *tx).await?;
        if let Some(row) = found {
            let mut candidate = login_candidate_from_row(&row)?;
            if candidate.account.id != account {
                return Ok(SsoUser::Elsewhere);
            }
            if candidate.user.status == UserStatus::Invited {
                sqlx::query("UPDATE users SET status = 'active' WHERE id = $1")
                    .bind(candidate.user.id.to_string())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM activation_tokens WHERE user_id = $1")
                    .bind(candidate.user.id.to_string())
                    .execute(&mut *tx)
                    .await?;
                candidate.user.status = UserStatus::Active;
                let details = serde_json::json!({ "status": "active", "via": "sso" });
                Self::append(
                    &mut tx,
                    now,
                    &change(account, Action::UserUpdated, target("user", candidate.user.id), details),
                    ctx,
                )
                .await?;
            }
            self.commit(tx).await?;
            return Ok(SsoUser::Found(Box::new(candidate)));
        }
        let Some((role, name)) = provision else { return Ok(SsoUser::Unknown) };
        Self::enforce_limit(&mut tx, account, Resource::Users, 1).await?;
        let new = NewUser { email: email.clone(), name, role, password_hash: None, expires_at: None, activation: None };
        let user = Self::insert_user(&mut tx, now, account, &new).await?;
        sqlx::query("UPDATE users SET status = 'active' WHERE id = $1")
            .bind(user.id.to_string())
            .execute(&mut *tx)
            .await?;
        let details = serde_json::json!({ "email": user.email.as_str(), "role": user.role.as_str(), "status": "active", "via": "sso" });
        Self::append(&mut tx, now, &change(account, Action::UserCreated, target("user", user.id), details), ctx)
            .await?;
        let row = sqlx::query(LOGIN_CANDIDATE).bind(email.key()).fetch_one(&mut *tx).await?;
        let candidate = login_candidate_from_row(&row)?;
        self.commit(tx).await?;
        Ok(SsoUser::Found(Box::new(candidate)))
    }
}
