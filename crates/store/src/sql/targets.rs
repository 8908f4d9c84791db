//! Monitored targets, their checks and the scheduler's leases.

use super::*;

impl Repo {
    pub(crate) async fn target_in(tx: &mut Tx, account: AccountId, id: TargetId) -> Result<MonitoredTarget> {
        let row = sqlx::query(concat!("SELECT ", target_cols!(), " FROM targets WHERE account_id = $1 AND id = $2"))
            .bind(account.to_string())
            .bind(id.to_string())
            .fetch_optional(&mut **tx)
            .await?
            .ok_or(DomainError::NotFound)?;
        target_from_row(&row)
    }

    /// Refuses a second target on the same `host:port` in one account.
    pub(crate) async fn refuse_duplicate_target(
        tx: &mut Tx,
        account: AccountId,
        hostname: &str,
        port: u16,
        except: Option<TargetId>,
    ) -> Result<()> {
        let taken: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM targets WHERE account_id = $1 AND hostname = $2 AND port = $3 AND ($4 IS NULL OR id <> $4)",
        )
        .bind(account.to_string())
        .bind(hostname)
        .bind(i64::from(port))
        .bind(except.map(|e| e.to_string()))
        .fetch_one(&mut **tx)
        .await?;
        if taken > 0 {
            return Err(DomainError::Conflict(format!("{hostname}:{port} is already monitored in this account")).into());
        }
        Ok(())
    }

    /// Stores a check's findings on a target and when it is due next, ending any lease — only
    /// while the target is still at the address that was checked and, for a scheduled check, the
    /// lease is still `owner`'s. A check that found no certificate keeps the last one known.
    pub(crate) async fn store_check(
        tx: &mut Tx,
        account: AccountId,
        checked: (TargetId, &str, u16),
        owner: Option<&str>,
        check: &TlsCheck,
        next_check_at: OffsetDateTime,
    ) -> Result<u64> {
        let (id, hostname, port) = checked;
        Ok(sqlx::query(
            "UPDATE targets SET checked_at = $3, not_after = COALESCE($4, not_after), subject = COALESCE($5, subject), \
             issuer = COALESCE($6, issuer), error = $7, next_check_at = $8, lease_owner = NULL, lease_until = NULL \
             WHERE account_id = $1 AND id = $2 AND hostname = $9 AND port = $10 AND ($11 IS NULL OR lease_owner = $11)",
        )
        .bind(account.to_string())
        .bind(id.to_string())
        .bind(to_micros(check.checked_at))
        .bind(check.not_after.map(to_micros))
        .bind(&check.subject)
        .bind(&check.issuer)
        .bind(&check.error)
        .bind(to_micros(next_check_at))
        .bind(hostname)
        .bind(i64::from(port))
        .bind(owner)
        .execute(&mut **tx)
        .await?
        .rows_affected())
    }
}

#[async_trait::async_trait]
impl TargetStore for Repo {
    async fn create_target(
        &self,
        grant: &Grant<cap::ResourceWrite>,
        new: NewTarget,
        ctx: &Ctx,
    ) -> Result<MonitoredTarget> {
        let account = grant.account_id();
        let now = self.now();
        let id = TargetId::new();
        let mut tx = self.begin_write().await?;
        Self::collection_in(&mut tx, account, new.collection_id).await?;
        Self::enforce_limit(&mut tx, account, Resource::Targets, 1).await?;
        Self::refuse_duplicate_target(&mut tx, account, &new.hostname, new.port, None).await?;
        sqlx::query(
            "INSERT INTO targets (id, account_id, collection_id, hostname, port, created_at, updated_at, next_check_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6, $6)",
        )
        .bind(id.to_string())
        .bind(account.to_string())
        .bind(new.collection_id.to_string())
        .bind(&new.hostname)
        .bind(i64::from(new.port))
        .bind(to_micros(now))
        .execute(&mut *tx)
        .await?;
        let details = serde_json::json!({
            "hostname": new.hostname,
            "port": new.port,
            "collection_id": new.collection_id.to_string(),
        });
        Self::append(&mut tx, now, &change(account, Action::TargetCreated, target("target", id), details), ctx).await?;
        let created = Self::target_in(&mut tx, account, id).await?;
        self.commit(tx).await?;
        Ok(created)
    }

    async fn list_targets(
        &self,
        grant: &Grant<cap::ResourceRead>,
        page: &PageRequest,
    ) -> Result<Page<MonitoredTarget>> {
        let account = grant.account_id();
        let sql = concat!(
            "SELECT ",
            target_cols!(),
            " FROM targets WHERE account_id = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3"
        );
        self.page_of_account(sql, account, page, target_from_row, |t| t.id.to_string()).await
    }

    async fn get_target(&self, grant: &Grant<cap::ResourceRead>, id: TargetId) -> Result<MonitoredTarget> {
        let account = grant.account_id();
        let sql = concat!("SELECT ", target_cols!(), " FROM targets WHERE account_id = $1 AND id = $2");
        self.row_of_account(sql, account, id.to_string(), target_from_row).await
    }

    async fn update_target(
        &self,
        grant: &Grant<cap::ResourceWrite>,
        id: TargetId,
        patch: TargetPatch,
        ctx: &Ctx,
    ) -> Result<MonitoredTarget> {
        let account = grant.account_id();
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let before = Self::target_in(&mut tx, account, id).await?;
        if let Some(collection) = patch.collection_id {
            Self::collection_in(&mut tx, account, collection).await?;
        }
        let hostname = patch.hostname.clone().unwrap_or_else(|| before.hostname.clone());
        let port = patch.port.unwrap_or(before.port);
        let moved = hostname != before.hostname || port != before.port;
        if moved {
            Self::refuse_duplicate_target(&mut tx, account, &hostname, port, Some(id)).await?;
        }
        let collection = patch.collection_id.unwrap_or(before.collection_id);
        sqlx::query(
            "UPDATE targets SET collection_id = $3, hostname = $4, port = $5, updated_at = $6 WHERE account_id = $1 AND id = $2",
        )
        .bind(account.to_string())
        .bind(id.to_string())
        .bind(collection.to_string())
        .bind(&hostname)
        .bind(i64::from(port))
        .bind(to_micros(now))
        .execute(&mut *tx)
        .await?;
        if moved {
            // What was found on the old address says nothing about the new one.
            sqlx::query(
                "UPDATE targets SET checked_at = NULL, not_after = NULL, subject = NULL, issuer = NULL, error = NULL, \
                 next_check_at = $3, lease_owner = NULL, lease_until = NULL WHERE account_id = $1 AND id = $2",
            )
            .bind(account.to_string())
            .bind(id.to_string())
            .bind(to_micros(now))
            .execute(&mut *tx)
            .await?;
        }
        let details = serde_json::json!({
            "hostname": hostname,
            "port": port,
            "collection_id": collection.to_string(),
            "before": { "hostname": before.hostname, "port": before.port, "collection_id": before.collection_id.to_string() },
        });
        Self::append(&mut tx, now, &change(account, Action::TargetUpdated, target("target", id), details), ctx).await?;
        let updated = Self::target_in(&mut tx, account, id).await?;
        self.commit(tx).await?;
        Ok(updated)
    }

    async fn delete_target(&self, grant: &Grant<cap::ResourceWrite>, id: TargetId, ctx: &Ctx) -> Result<()> {
        let account = grant.account_id();
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let gone = Self::target_in(&mut tx, account, id).await?;
        sqlx::query("DELETE FROM targets WHERE account_id = $1 AND id = $2")
            .bind(account.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let details = serde_json::json!({ "hostname": gone.hostname, "port": gone.port });
        Self::append(&mut tx, now, &change(account, Action::TargetDeleted, target("target", id), details), ctx).await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn record_check(
        &self,
        grant: &Grant<cap::ResourceWrite>,
        checked: &MonitoredTarget,
        check: TlsCheck,
        next_check_at: OffsetDateTime,
        ctx: &Ctx,
    ) -> Result<MonitoredTarget> {
        let account = grant.account_id();
        let now = self.now();
        let mut tx = self.begin_write().await?;
        Self::target_in(&mut tx, account, checked.id).await?;
        let address = (checked.id, checked.hostname.as_str(), checked.port);
        if Self::store_check(&mut tx, account, address, None, &check, next_check_at).await? == 0 {
            return Err(DomainError::Conflict("the target moved while it was checked; check it again".into()).into());
        }
        let details = serde_json::json!({
            "hostname": checked.hostname,
            "port": checked.port,
            "not_after": check.not_after.map(tenantry_domain::clock::rfc3339_micros),
            "error": check.error,
        });
        Self::append(&mut tx, now, &change(account, Action::TargetChecked, target("target", checked.id), details), ctx)
            .await?;
        let updated = Self::target_in(&mut tx, account, checked.id).await?;
        self.commit(tx).await?;
        Ok(updated)
    }

    async fn claim_check(&self, grant: &Grant<cap::ResourceWrite>, id: TargetId, gap: time::Duration) -> Result<bool> {
        let account = grant.account_id();
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let claimed = sqlx::query(
            "UPDATE targets SET lease_owner = 'on demand', lease_until = $3 WHERE account_id = $1 AND id = $2 \
             AND (lease_until IS NULL OR lease_until < $4) AND (checked_at IS NULL OR checked_at <= $5)",
        )
        .bind(account.to_string())
        .bind(id.to_string())
        .bind(to_micros(now + gap))
        .bind(to_micros(now))
        .bind(to_micros(now - gap))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        self.commit(tx).await?;
        Ok(claimed > 0)
    }

    async fn lease_due_targets(
        &self,
        owner: &str,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<LeasedTarget>> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(concat!(
            "UPDATE targets SET lease_owner = $1, lease_until = $2 WHERE id IN (",
            "SELECT id FROM targets WHERE next_check_at <= $3 AND (lease_until IS NULL OR lease_until < $3) ",
            "ORDER BY next_check_at LIMIT $4",
            skip_locked!(),
            ") RETURNING id, account_id, hostname, port"
        ))
        .bind(owner)
        .bind(to_micros(lease_until))
        .bind(to_micros(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        self.commit(tx).await?;
        rows.iter().map(leased_from_row).collect()
    }

    async fn complete_lease(
        &self,
        owner: &str,
        leased: &LeasedTarget,
        check: TlsCheck,
        next_check_at: OffsetDateTime,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let address = (leased.id, leased.hostname.as_str(), leased.port);
        let stored = Self::store_check(&mut tx, leased.account_id, address, Some(owner), &check, next_check_at).await?;
        self.commit(tx).await?;
        Ok(stored > 0)
    }

    async fn release_leases(&self, owner: &str) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let mut released = 0;
        for sql in [
            "UPDATE targets SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
            "UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
        ] {
            released += sqlx::query(sql).bind(owner).execute(&mut *tx).await?.rows_affected();
        }
        self.commit(tx).await?;
        Ok(released)
    }
}
