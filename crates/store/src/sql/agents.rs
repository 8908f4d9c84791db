//! Agents: registration, revocation, and what they report.

use super::*;

impl Repo {
    pub(crate) async fn agent_in(tx: &mut Tx, account: AccountId, id: AgentId) -> Result<Agent> {
        let row =
            sqlx::query(concat!("SELECT ", agent_cols!(), " FROM agents g WHERE g.account_id = $1 AND g.id = $2"))
                .bind(account.to_string())
                .bind(id.to_string())
                .fetch_optional(&mut **tx)
                .await?
                .ok_or(DomainError::NotFound)?;
        agent_from_row(&row)
    }
}

#[async_trait::async_trait]
impl AgentStore for Repo {
    async fn register_agent(
        &self,
        grant: &Grant<cap::ResourceWrite>,
        collection: CollectionId,
        name: String,
        token_hash: String,
        ctx: &Ctx,
    ) -> Result<Agent> {
        let account = grant.account_id();
        let now = self.now();
        let id = AgentId::new();
        let mut tx = self.begin_write().await?;
        Self::collection_in(&mut tx, account, collection).await?;
        Self::enforce_limit(&mut tx, account, Resource::Agents, 1).await?;
        sqlx::query(
            "INSERT INTO agents (id, account_id, collection_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.to_string())
        .bind(account.to_string())
        .bind(collection.to_string())
        .bind(&name)
        .bind(&token_hash)
        .bind(to_micros(now))
        .execute(&mut *tx)
        .await?;
        let details = serde_json::json!({ "name": name, "collection_id": collection.to_string() });
        Self::append(&mut tx, now, &change(account, Action::AgentRegistered, target("agent", id), details), ctx)
            .await?;
        let agent = Self::agent_in(&mut tx, account, id).await?;
        self.commit(tx).await?;
        Ok(agent)
    }

    async fn list_agents(&self, grant: &Grant<cap::ResourceRead>, page: &PageRequest) -> Result<Page<Agent>> {
        let account = grant.account_id();
        let sql = concat!(
            "SELECT ",
            agent_cols!(),
            " FROM agents g WHERE g.account_id = $1 AND ($2 IS NULL OR g.id > $2) ORDER BY g.id LIMIT $3"
        );
        self.page_of_account(sql, account, page, agent_from_row, |a| a.id.to_string()).await
    }

    async fn get_agent(&self, grant: &Grant<cap::ResourceRead>, id: AgentId) -> Result<Agent> {
        let account = grant.account_id();
        let mut tx = self.pool.begin().await?;
        let agent = Self::agent_in(&mut tx, account, id).await?;
        self.commit(tx).await?;
        Ok(agent)
    }

    async fn revoke_agent(&self, grant: &Grant<cap::ResourceWrite>, id: AgentId, ctx: &Ctx) -> Result<()> {
        let account = grant.account_id();
        let now = self.now();
        let mut tx = self.begin_write().await?;
        Self::agent_in(&mut tx, account, id).await?;
        let sql = "UPDATE agents SET revoked_at = $3 WHERE account_id = $1 AND id = $2 AND revoked_at IS NULL";
        Self::revoke_in(&mut tx, now, sql, account, target("agent", id), Action::AgentRevoked, ctx).await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn agent_by_token(&self, token_hash: &str) -> Result<Option<(Agent, bool)>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            agent_cols!(),
            ", EXISTS (SELECT 1 FROM account_closure bc JOIN accounts bx ON bx.id = bc.ancestor ",
            "WHERE bc.descendant = g.account_id AND bx.status <> 'active') AS blocked ",
            "FROM agents g WHERE g.token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some((agent_from_row(&row)?, row.try_get("blocked")?)))
    }

    async fn agent_report(
        &self,
        agent: &Agent,
        hostname: String,
        certificates: Vec<NewCertificate>,
    ) -> Result<Vec<(Certificate, bool)>> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        Self::lock_account(&mut tx, agent.account_id).await?;
        // Re-checked inside the transaction: a revocation or suspension that just landed wins.
        let live: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM agents WHERE account_id = $1 AND id = $2 AND revoked_at IS NULL")
                .bind(agent.account_id.to_string())
                .bind(agent.id.to_string())
                .fetch_one(&mut *tx)
                .await?;
        let blocked: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM account_closure c JOIN accounts x ON x.id = c.ancestor \
             WHERE c.descendant = $1 AND x.status <> 'active'",
        )
        .bind(agent.account_id.to_string())
        .fetch_one(&mut *tx)
        .await?;
        if live == 0 || blocked > 0 {
            return Err(DomainError::Forbidden("the agent is revoked or its account suspended".into()).into());
        }
        let account = Self::account_in(&mut tx, agent.account_id).await?;
        let imported =
            Self::import_into(&mut tx, now, agent.account_id, agent.collection_id, certificates, Some(agent.id))
                .await?;
        sqlx::query("UPDATE agents SET last_seen_at = $3, last_hostname = $4 WHERE account_id = $1 AND id = $2")
            .bind(agent.account_id.to_string())
            .bind(agent.id.to_string())
            .bind(to_micros(now))
            .bind(&hostname)
            .execute(&mut *tx)
            .await?;
        let ctx = Ctx {
            actor: AuditActor {
                user_id: None,
                email: None,
                account_id: Some(account.id),
                account_name: Some(account.name.clone()),
            },
            ..Ctx::default()
        };
        let details = serde_json::json!({
            "agent_id": agent.id.to_string(),
            "agent": agent.name,
            "hostname": hostname,
            "added": imported.added,
            "duplicates": imported.duplicates,
        });
        let draft = change(agent.account_id, Action::AgentReported, target("agent", agent.id), details);
        Self::append(&mut tx, now, &draft, &ctx).await?;
        self.commit(tx).await?;
        Ok(imported.results)
    }
}
