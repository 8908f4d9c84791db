//! API tokens of an account.

use super::*;

impl Repo {
    pub(crate) async fn revoke_in(
        tx: &mut Tx,
        now: OffsetDateTime,
        sql: &'static str,
        account: AccountId,
        what: AuditTarget,
        action: Action,
        ctx: &Ctx,
    ) -> Result<()> {
        let revoked = sqlx::query(sql)
            .bind(account.to_string())
            .bind(what.id.clone().unwrap_or_default())
            .bind(to_micros(now))
            .execute(&mut **tx)
            .await?
            .rows_affected();
        if revoked > 0 {
            Self::append(tx, now, &change(account, action, what, serde_json::json!({})), ctx).await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl TokenStore for Repo {
    async fn create_api_token(
        &self,
        grant: &Grant<cap::ApiTokenCreate>,
        new: NewApiToken,
        ctx: &Ctx,
    ) -> Result<ApiTokenRecord> {
        let account = grant.account_id();
        let creator = ctx.actor.user_id.ok_or_else(|| DomainError::Internal("a token needs a creator".into()))?;
        let now = self.now();
        let id = ApiTokenId::new();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO api_tokens (id, account_id, name, token_hash, role, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id.to_string())
        .bind(account.to_string())
        .bind(&new.name)
        .bind(&new.token_hash)
        .bind(new.role.as_str())
        .bind(creator.to_string())
        .bind(to_micros(now))
        .bind(to_micros(new.expires_at))
        .execute(&mut *tx)
        .await?;
        let details = serde_json::json!({ "name": new.name, "role": new.role.as_str() });
        Self::append(&mut tx, now, &change(account, Action::ApiTokenCreated, target("api_token", id), details), ctx)
            .await?;
        self.commit(tx).await?;
        Ok(ApiTokenRecord {
            id,
            account_id: account,
            name: new.name,
            role: new.role,
            created_by: creator,
            created_at: now,
            expires_at: new.expires_at,
            last_used_at: None,
            revoked_at: None,
        })
    }

    async fn list_api_tokens(
        &self,
        grant: &Grant<cap::ApiTokenManage>,
        page: &PageRequest,
    ) -> Result<Page<ApiTokenRecord>> {
        let account = grant.account_id();
        let sql = concat!(
            "SELECT ",
            api_token_cols!(),
            " FROM api_tokens t WHERE t.account_id = $1 AND ($2 IS NULL OR t.id > $2) ORDER BY t.id LIMIT $3"
        );
        self.page_of_account(sql, account, page, api_token_from_row, |t| t.id.to_string()).await
    }

    async fn get_api_token(&self, grant: &Grant<cap::ApiTokenManage>, id: ApiTokenId) -> Result<ApiTokenRecord> {
        let account = grant.account_id();
        let sql = concat!("SELECT ", api_token_cols!(), " FROM api_tokens t WHERE t.account_id = $1 AND t.id = $2");
        self.row_of_account(sql, account, id.to_string(), api_token_from_row).await
    }

    async fn revoke_api_token(&self, grant: &Grant<cap::ApiTokenManage>, id: ApiTokenId, ctx: &Ctx) -> Result<()> {
        let account = grant.account_id();
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let exists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens WHERE account_id = $1 AND id = $2")
            .bind(account.to_string())
            .bind(id.to_string())
            .fetch_one(&mut *tx)
            .await?;
        if exists == 0 {
            return Err(DomainError::NotFound.into());
        }
        let sql = "UPDATE api_tokens SET revoked_at = $3 WHERE account_id = $1 AND id = $2 AND revoked_at IS NULL";
        Self::revoke_in(&mut tx, now, sql, account, target("api_token", id), Action::ApiTokenRevoked, ctx).await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn token_principal(&self, token_hash: &str) -> Result<Option<TokenPrincipal>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            api_token_cols!(),
            ", ",
            joined_account_user_cols!(),
            ", ",
            blocked_expr!(),
            " AS blocked FROM api_tokens t JOIN users u ON u.id = t.created_by JOIN accounts a ON a.id = t.account_id ",
            "WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > $2"
        ))
        .bind(token_hash)
        .bind(to_micros(self.now()))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(TokenPrincipal {
            token: api_token_from_row(&row)?,
            creator: user_from_row_as(&row, "u_")?,
            account: account_from_row_as(&row, "a_")?,
            blocked: row.try_get("blocked")?,
        }))
    }

    async fn touch_api_token(&self, id: ApiTokenId) -> Result<()> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(to_micros(self.now()))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
