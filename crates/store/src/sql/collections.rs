//! Certificate collections of a customer.

use super::*;

impl Repo {
    pub(crate) async fn collection_in(tx: &mut Tx, account: AccountId, id: CollectionId) -> Result<Collection> {
        let row = sqlx::query(
            "SELECT id, account_id, name, created_at, updated_at FROM collections WHERE account_id = $1 AND id = $2",
        )
        .bind(account.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(DomainError::NotFound)?;
        collection_from_row(&row)
    }
}

#[async_trait::async_trait]
impl CollectionStore for Repo {
    async fn list_collections(&self, grant: &Grant<cap::ResourceRead>, page: &PageRequest) -> Result<Page<Collection>> {
        let account = grant.account_id();
        let sql = "SELECT id, account_id, name, created_at, updated_at FROM collections WHERE account_id = $1 \
                   AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3";
        self.page_of_account(sql, account, page, collection_from_row, |c| c.id.to_string()).await
    }

    async fn get_collection(&self, grant: &Grant<cap::ResourceRead>, id: CollectionId) -> Result<Collection> {
        let account = grant.account_id();
        let mut tx = self.pool.begin().await?;
        let collection = Self::collection_in(&mut tx, account, id).await?;
        self.commit(tx).await?;
        Ok(collection)
    }

    async fn create_collection(
        &self,
        grant: &Grant<cap::ResourceWrite>,
        name: String,
        ctx: &Ctx,
    ) -> Result<Collection> {
        let account = grant.account_id();
        let now = self.now();
        let id = CollectionId::new();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO collections (id, account_id, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(id.to_string())
        .bind(account.to_string())
        .bind(&name)
        .bind(to_micros(now))
        .execute(&mut *tx)
        .await?;
        let details = serde_json::json!({ "name": name });
        Self::append(&mut tx, now, &change(account, Action::CollectionCreated, target("collection", id), details), ctx)
            .await?;
        let collection = Self::collection_in(&mut tx, account, id).await?;
        self.commit(tx).await?;
        Ok(collection)
    }

    async fn rename_collection(
        &self,
        grant: &Grant<cap::ResourceWrite>,
        id: CollectionId,
        name: String,
        ctx: &Ctx,
    ) -> Result<Collection> {
        let account = grant.account_id();
        let now = self.now();
        let mut tx = self.begin_write().await?;
        Self::collection_in(&mut tx, account, id).await?;
        sqlx::query("UPDATE collections SET name = $3, updated_at = $4 WHERE account_id = $1 AND id = $2")
            .bind(account.to_string())
            .bind(id.to_string())
            .bind(&name)
            .bind(to_micros(now))
            .execute(&mut *tx)
            .await?;
        let details = serde_json::json!({ "name": name });
        Self::append(&mut tx, now, &change(account, Action::CollectionUpdated, target("collection", id), details), ctx)
            .await?;
        let collection = Self::collection_in(&mut tx, account, id).await?;
        self.commit(tx).await?;
        Ok(collection)
    }

    async fn delete_collection(&self, grant: &Grant<cap::ResourceWrite>, id: CollectionId, ctx: &Ctx) -> Result<()> {
        let account = grant.account_id();
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let collection = Self::collection_in(&mut tx, account, id).await?;
        // What still works in it is not removed by the way: agents report into it, targets are
        // checked into it. Revoke or move them first.
        let count =
            |sql: &'static str| sqlx::query_scalar::<_, i64>(sql).bind(account.to_string()).bind(id.to_string());
        let agents =
            count("SELECT COUNT(*) FROM agents WHERE account_id = $1 AND collection_id = $2 AND revoked_at IS NULL")
                .fetch_one(&mut *tx)
                .await?;
        let targets = count("SELECT COUNT(*) FROM targets WHERE account_id = $1 AND collection_id = $2")
            .fetch_one(&mut *tx)
            .await?;
        if agents > 0 || targets > 0 {
            return Err(DomainError::Conflict(format!(
                "the collection still holds {agents} active agent(s) and {targets} monitored target(s); revoke the agents and move or delete the targets first"
            ))
            .into());
        }
        let certificates = count("SELECT COUNT(*) FROM certificates WHERE account_id = $1 AND collection_id = $2")
            .fetch_one(&mut *tx)
            .await?;
        let revoked_agents = count("SELECT COUNT(*) FROM agents WHERE account_id = $1 AND collection_id = $2")
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM collections WHERE account_id = $1 AND id = $2")
            .bind(account.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let details = serde_json::json!({
            "name": collection.name,
            "certificates_removed": certificates,
            "revoked_agents_removed": revoked_agents,
        });
        Self::append(&mut tx, now, &change(account, Action::CollectionDeleted, target("collection", id), details), ctx)
            .await?;
        self.commit(tx).await?;
        Ok(())
    }
}
