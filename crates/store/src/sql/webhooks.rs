//! Webhooks of an account and their outbox: a delivery row per matching event, queued in the
//! event's own transaction ([`Repo::queue_deliveries`]), leased like the monitored targets.

use super::*;
use tenantry_domain::WebhookId;

macro_rules! webhook_cols {
    () => {
        "id, account_id, url, events, description, enabled, created_at, updated_at"
    };
}

fn webhook_from_row(row: &DbRow) -> Result<Webhook> {
    let events: String = row.try_get("events")?;
    Ok(Webhook {
        id: parse_col(row, "id")?,
        account_id: parse_col(row, "account_id")?,
        url: row.try_get("url")?,
        events: serde_json::from_str(&events).map_err(|e| corrupt("webhook events", e))?,
        description: row.try_get("description")?,
        enabled: row.try_get("enabled")?,
        created_at: from_micros(row.try_get("created_at")?),
        updated_at: from_micros(row.try_get("updated_at")?),
    })
}

fn delivery_from_row(row: &DbRow) -> Result<Delivery> {
    let status: DeliveryStatus = parse_col(row, "status")?;
    Ok(Delivery {
        event_id: parse_col(row, "event_id")?,
        seq: row.try_get("seq")?,
        status,
        attempts: row.try_get("attempts")?,
        last_status_code: row.try_get("last_status_code")?,
        last_error: row.try_get("last_error")?,
        next_attempt_at: match status {
            DeliveryStatus::Pending => Some(from_micros(row.try_get("next_attempt_at")?)),
            _ => None,
        },
    })
}

fn events_json(events: &[String]) -> Result<String> {
    serde_json::to_string(events).map_err(|e| corrupt("webhook events", e))
}

impl Repo {
    /// Queues the event `seq` of `trail` for every enabled webhook of the trail whose patterns
    /// match `action`, inside the event's transaction: committed with it or not at all.
    pub(crate) async fn queue_deliveries(
        tx: &mut Tx,
        trail: AccountId,
        seq: i64,
        event: EventId,
        action: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        let hooks = sqlx::query("SELECT id, events FROM webhooks WHERE account_id = $1 AND enabled")
            .bind(trail.to_string())
            .fetch_all(&mut **tx)
            .await?;
        for hook in &hooks {
            let events: Vec<String> = serde_json::from_str(&hook.try_get::<String, _>("events")?)
                .map_err(|e| corrupt("webhook events", e))?;
            if !tenantry_domain::webhook::matches(&events, action) {
                continue;
            }
            sqlx::query(
                "INSERT INTO webhook_deliveries (webhook_id, seq, event_id, status, created_at, next_attempt_at) \
                 VALUES ($1, $2, $3, 'pending', $4, $4)",
            )
            .bind(hook.try_get::<String, _>("id")?)
            .bind(seq)
            .bind(event.to_string())
            .bind(to_micros(now))
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    async fn webhook_in(tx: &mut Tx, account: AccountId, id: WebhookId) -> Result<Webhook> {
        let row = sqlx::query(concat!("SELECT ", webhook_cols!(), " FROM webhooks WHERE account_id = $1 AND id = $2"))
            .bind(account.to_string())
            .bind(id.to_string())
            .fetch_optional(&mut **tx)
            .await?
            .ok_or(DomainError::NotFound)?;
        webhook_from_row(&row)
    }
}

#[async_trait::async_trait]
impl WebhookStore for Repo {
    async fn create_webhook(&self, grant: &Grant<cap::WebhookManage>, new: NewWebhook, ctx: &Ctx) -> Result<Webhook> {
        let account = grant.account_id();
        let now = self.now();
        let webhook = Webhook {
            id: WebhookId::new(),
            account_id: account,
            url: new.url,
            events: new.events,
            description: new.description,
            enabled: true,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.begin_write().await?;
        let details = serde_json::json!({ "url": webhook.url, "events": webhook.events });
        let what = target("webhook", webhook.id);
        Self::append(&mut tx, now, &change(account, Action::WebhookCreated, what, details), ctx).await?;
        // After its own creation's event: the webhook streams what comes next.
        sqlx::query(
            "INSERT INTO webhooks (id, account_id, url, events, description, secret, enabled, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, TRUE, $7, $7)",
        )
        .bind(webhook.id.to_string())
        .bind(account.to_string())
        .bind(&webhook.url)
        .bind(events_json(&webhook.events)?)
        .bind(&webhook.description)
        .bind(&new.secret)
        .bind(to_micros(now))
        .execute(&mut *tx)
        .await?;
        self.commit(tx).await?;
        Ok(webhook)
    }

    async fn list_webhooks(&self, grant: &Grant<cap::WebhookManage>, page: &PageRequest) -> Result<Page<Webhook>> {
        let sql = concat!(
            "SELECT ",
            webhook_cols!(),
            " FROM webhooks WHERE account_id = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3"
        );
        self.page_of_account(sql, grant.account_id(), page, webhook_from_row, |w| w.id.to_string()).await
    }

    async fn get_webhook(&self, grant: &Grant<cap::WebhookManage>, id: WebhookId) -> Result<Webhook> {
        let sql = concat!("SELECT ", webhook_cols!(), " FROM webhooks WHERE account_id = $1 AND id = $2");
        self.row_of_account(sql, grant.account_id(), id.to_string(), webhook_from_row).await
    }

    async fn webhook_with_secret(&self, grant: &Grant<cap::WebhookManage>, id: WebhookId) -> Result<(Webhook, String)> {
        let sql = concat!("SELECT ", webhook_cols!(), ", secret FROM webhooks WHERE account_id = $1 AND id = $2");
        self.row_of_account(sql, grant.account_id(), id.to_string(), |row| {
            Ok((webhook_from_row(row)?, row.try_get("secret")?))
        })
        .await
    }

    async fn update_webhook(
        &self,
        grant: &Grant<cap::WebhookManage>,
        id: WebhookId,
        patch: WebhookPatch,
        ctx: &Ctx,
    ) -> Result<Webhook> {
        let account = grant.account_id();
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let mut webhook = Self::webhook_in(&mut tx, account, id).await?;
        let mut changed = serde_json::Map::new();
        if let Some(url) = patch.url {
            changed.insert("url".into(), url.clone().into());
            webhook.url = url;
        }
        if let Some(events) = patch.events {
            changed.insert("events".into(), serde_json::json!(events));
            webhook.events = events;
        }
        if let Some(enabled) = patch.enabled {
            changed.insert("enabled".into(), enabled.into());
            webhook.enabled = enabled;
        }
        webhook.updated_at = now;
        sqlx::query(
            "UPDATE webhooks SET url = $3, events = $4, enabled = $5, updated_at = $6 WHERE account_id = $1 AND id = $2",
        )
        .bind(account.to_string())
        .bind(id.to_string())
        .bind(&webhook.url)
        .bind(events_json(&webhook.events)?)
        .bind(webhook.enabled)
        .bind(to_micros(now))
        .execute(&mut *tx)
        .await?;
        let details = serde_json::Value::Object(changed);
        Self::append(&mut tx, now, &change(account, Action::WebhookUpdated, target("webhook", id), details), ctx)
            .await?;
        self.commit(tx).await?;
        Ok(webhook)
    }

    async fn delete_webhook(&self, grant: &Grant<cap::WebhookManage>, id: WebhookId, ctx: &Ctx) -> Result<()> {
        let account = grant.account_id();
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let webhook = Self::webhook_in(&mut tx, account, id).await?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM webhooks WHERE account_id = $1 AND id = $2")
            .bind(account.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let details = serde_json::json!({ "url": webhook.url });
        Self::append(&mut tx, now, &change(account, Action::WebhookDeleted, target("webhook", id), details), ctx)
            .await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn list_deliveries(
        &self,
        grant: &Grant<cap::WebhookManage>,
        id: WebhookId,
        page: &PageRequest,
    ) -> Result<Page<Delivery>> {
        self.get_webhook(grant, id).await?;
        let before = match &page.after {
            Some(cursor) => Some(cursor.parse::<i64>().map_err(|_| DomainError::NotFound)?),
            None => None,
        };
        let rows = sqlx::query(
            "SELECT event_id, seq, status, attempts, last_status_code, last_error, next_attempt_at \
             FROM webhook_deliveries WHERE webhook_id = $1 AND ($2 IS NULL OR seq < $2) ORDER BY seq DESC LIMIT $3",
        )
        .bind(id.to_string())
        .bind(before)
        .bind(fetch_limit(page))
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(delivery_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |d| d.seq.to_string()))
    }

    async fn lease_due_deliveries(
        &self,
        owner: &str,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<DueDelivery>> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let leased = sqlx::query(concat!(
            "UPDATE webhook_deliveries SET lease_owner = $1, lease_until = $2 WHERE (webhook_id, seq) IN (",
            "SELECT d.webhook_id, d.seq FROM webhook_deliveries d WHERE d.status = 'pending' ",
            "AND d.next_attempt_at <= $3 AND (d.lease_until IS NULL OR d.lease_until < $3) ",
            "AND d.webhook_id IN (SELECT id FROM webhooks WHERE enabled) ",
            "AND d.seq = (SELECT MIN(o.seq) FROM webhook_deliveries o WHERE o.webhook_id = d.webhook_id ",
            "AND o.status = 'pending') ORDER BY d.next_attempt_at LIMIT $4",
            skip_locked!(),
            ") RETURNING webhook_id, seq, attempts, created_at"
        ))
        .bind(owner)
        .bind(to_micros(lease_until))
        .bind(to_micros(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        self.commit(tx).await?;
        let mut due = Vec::with_capacity(leased.len());
        for row in &leased {
            let webhook_id: WebhookId = parse_col(row, "webhook_id")?;
            let seq: i64 = row.try_get("seq")?;
            let hook = sqlx::query("SELECT account_id, url, secret FROM webhooks WHERE id = $1")
                .bind(webhook_id.to_string())
                .fetch_optional(&self.pool)
                .await?;
            let Some(hook) = hook else { continue };
            let trail: AccountId = parse_col(&hook, "account_id")?;
            let Some(event) = self.audit_rows(trail, seq - 1, seq, 1).await?.pop() else { continue };
            due.push(DueDelivery {
                webhook_id,
                url: hook.try_get("url")?,
                secret: hook.try_get("secret")?,
                seq,
                attempts: row.try_get("attempts")?,
                created_at: from_micros(row.try_get("created_at")?),
                event,
            });
        }
        Ok(due)
    }

    async fn complete_delivery(&self, owner: &str, due: &DueDelivery, outcome: AttemptOutcome) -> Result<bool> {
        let (status, code, error, next) = match outcome {
            AttemptOutcome::Delivered { status_code } => (DeliveryStatus::Delivered, Some(status_code), None, None),
            AttemptOutcome::Failed { status_code, error, retry_at: Some(at) } => {
                (DeliveryStatus::Pending, status_code, Some(error), Some(at))
            }
            AttemptOutcome::Failed { status_code, error, retry_at: None } => {
                (DeliveryStatus::Failed, status_code, Some(error), None)
            }
        };
        let mut tx = self.begin_write().await?;
        let stored = sqlx::query(
            "UPDATE webhook_deliveries SET status = $4, attempts = attempts + 1, last_status_code = $5, \
             last_error = $6, next_attempt_at = COALESCE($7, next_attempt_at), lease_owner = NULL, lease_until = NULL \
             WHERE webhook_id = $1 AND seq = $2 AND lease_owner = $3 AND status = 'pending'",
        )
        .bind(due.webhook_id.to_string())
        .bind(due.seq)
        .bind(owner)
        .bind(status.as_str())
        .bind(code.map(i64::from))
        .bind(error)
        .bind(next.map(to_micros))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        self.commit(tx).await?;
        Ok(stored > 0)
    }
}
