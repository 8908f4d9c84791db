//! Plans, limits set by an MSP, and usage.

use super::*;

impl Repo {
    /// The limits in force for an account: those its MSP set, else its plan's (none for partners).
    pub(crate) async fn limits_of(tx: &mut Tx, account: &Account) -> Result<Option<Limits>> {
        let row = sqlx::query("SELECT users, certificates, agents, targets FROM account_limits WHERE account_id = $1")
            .bind(account.id.to_string())
            .fetch_optional(&mut **tx)
            .await?;
        Ok(match row {
            Some(r) => Some(Limits {
                users: r.try_get("users")?,
                certificates: r.try_get("certificates")?,
                agents: r.try_get("agents")?,
                targets: r.try_get("targets")?,
            }),
            None => account.plan.default_limits(),
        })
    }

    /// What an account holds.
    pub(crate) async fn usage_of(tx: &mut Tx, account: AccountId) -> Result<Limits> {
        let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE account_id = $1")
            .bind(account.to_string())
            .fetch_one(&mut **tx)
            .await?;
        let certificates: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM certificates WHERE account_id = $1")
            .bind(account.to_string())
            .fetch_one(&mut **tx)
            .await?;
        let agents: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM agents WHERE account_id = $1 AND revoked_at IS NULL")
                .bind(account.to_string())
                .fetch_one(&mut **tx)
                .await?;
        let targets: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM targets WHERE account_id = $1")
            .bind(account.to_string())
            .fetch_one(&mut **tx)
            .await?;
        Ok(Limits { users, certificates, agents, targets })
    }

    /// Refuses to add `adding` of `resource` beyond the account's limit. Locks the account first, so
    /// concurrent requests cannot together overshoot it.
    pub(crate) async fn enforce_limit(tx: &mut Tx, account: AccountId, resource: Resource, adding: i64) -> Result<()> {
        Self::lock_account(tx, account).await?;
        let record = Self::account_in(tx, account).await?;
        let Some(limits) = Self::limits_of(tx, &record).await? else { return Ok(()) };
        let usage = Self::usage_of(tx, account).await?;
        let limit = limits.of(resource);
        if usage.of(resource) + adding > limit {
            return Err(DomainError::PlanLimitReached { resource: resource.as_str(), limit }.into());
        }
        Ok(())
    }

    pub(crate) async fn subscription_in(tx: &mut Tx, id: AccountId) -> Result<Subscription> {
        let account = Self::account_in(tx, id).await?;
        let limits = Self::limits_of(tx, &account).await?;
        let usage = Self::usage_of(tx, id).await?;
        let parent = match account.parent_id {
            Some(parent) => Some(Self::account_in(tx, parent).await?),
            None => None,
        };
        let parent_branding = match &parent {
            Some(parent) => sqlx::query(
                "SELECT display_name, support_email, support_phone, homepage_url FROM branding WHERE account_id = $1",
            )
            .bind(parent.id.to_string())
            .fetch_optional(&mut **tx)
            .await?
            .as_ref()
            .map(branding_from_row)
            .transpose()?,
            None => None,
        };
        Ok(Subscription { account, limits, usage, parent, parent_branding })
    }
}

#[async_trait::async_trait]
impl SubscriptionStore for Repo {
    async fn subscription(&self, grant: &Grant<cap::SubscriptionRead>) -> Result<Subscription> {
        let id = grant.account_id();
        let mut tx = self.pool.begin().await?;
        let subscription = Self::subscription_in(&mut tx, id).await?;
        self.commit(tx).await?;
        Ok(subscription)
    }

    async fn set_limits(
        &self,
        grant: &Grant<cap::SubscriptionManage>,
        limits: Limits,
        ctx: &Ctx,
    ) -> Result<Subscription> {
        let id = grant.account_id();
        let now = self.now();
        let mut tx = self.begin_write().await?;
        Self::lock_account(&mut tx, id).await?;
        let account = Self::account_in(&mut tx, id).await?;
        if account.plan != Plan::Managed {
            return Err(DomainError::Conflict("only a managed customer's limits are set by its MSP".into()).into());
        }
        sqlx::query(
            "INSERT INTO account_limits (account_id, users, certificates, agents, targets, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_id) DO UPDATE SET users = $2, certificates = $3, \
             agents = $4, targets = $5, updated_at = $6",
        )
        .bind(id.to_string())
        .bind(limits.users)
        .bind(limits.certificates)
        .bind(limits.agents)
        .bind(limits.targets)
        .bind(to_micros(now))
        .execute(&mut *tx)
        .await?;
        let details = serde_json::json!({ "limits": limits });
        Self::append(&mut tx, now, &change(id, Action::SubscriptionUpdated, target("account", id), details), ctx)
            .await?;
        let subscription = Self::subscription_in(&mut tx, id).await?;
        self.commit(tx).await?;
        Ok(subscription)
    }

    async fn usage_below(&self, grant: &Grant<cap::UsageRead>, page: &PageRequest) -> Result<Page<UsageRow>> {
        let viewer = grant.account_id();
        let rows = sqlx::query(
            "SELECT a.id, a.name, \
             (SELECT COUNT(*) FROM users u WHERE u.account_id = a.id) AS users, \
             (SELECT COUNT(*) FROM certificates x WHERE x.account_id = a.id) AS certificates, \
             (SELECT COUNT(*) FROM agents g WHERE g.account_id = a.id AND g.revoked_at IS NULL) AS agents, \
             (SELECT COUNT(*) FROM targets t WHERE t.account_id = a.id) AS targets \
             FROM accounts a JOIN account_closure c ON c.descendant = a.id \
             WHERE c.ancestor = $1 AND c.depth > 0 AND a.kind = 'customer' AND ($2 IS NULL OR a.id > $2) \
             ORDER BY a.id LIMIT $3",
        )
        .bind(viewer.to_string())
        .bind(&page.after)
        .bind(fetch_limit(page))
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(|r| {
                Ok(UsageRow {
                    account_id: parse_col(r, "id")?,
                    account_name: r.try_get("name")?,
                    usage: Limits {
                        users: r.try_get("users")?,
                        certificates: r.try_get("certificates")?,
                        agents: r.try_get("agents")?,
                        targets: r.try_get("targets")?,
                    },
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |u| u.account_id.to_string()))
    }
}
