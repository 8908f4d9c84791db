//! Support requests and inboxes.

use super::*;

#[async_trait::async_trait]
impl SupportStore for Repo {
    async fn create_support_request(
        &self,
        grant: &Grant<cap::SupportCreate>,
        subject: String,
        message: String,
        ctx: &Ctx,
    ) -> Result<(SupportRequest, Option<String>)> {
        let customer = grant.account_id();
        let (Some(user), Some(email)) = (ctx.actor.user_id, ctx.actor.email.clone()) else {
            return Err(DomainError::Internal("a support request needs a sender".into()).into());
        };
        let now = self.now();
        let id = SupportRequestId::new();
        let mut tx = self.begin_write().await?;
        let account = Self::account_in(&mut tx, customer).await?;
        let inbox =
            account.parent_id.ok_or_else(|| DomainError::Conflict("this account has no parent to write to".into()))?;
        sqlx::query(
            "INSERT INTO support_requests (id, from_account_id, to_account_id, created_by, created_by_email, subject, \
             message, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8, $8)",
        )
        .bind(id.to_string())
        .bind(customer.to_string())
        .bind(inbox.to_string())
        .bind(user.to_string())
        .bind(&email)
        .bind(&subject)
        .bind(&message)
        .bind(to_micros(now))
        .execute(&mut *tx)
        .await?;
        let details = serde_json::json!({ "subject": subject, "to_account_id": inbox.to_string() });
        let draft = change(customer, Action::SupportRequestCreated, target("support_request", id), details);
        Self::append(&mut tx, now, &draft, ctx).await?;
        let row = sqlx::query(concat!(
            "SELECT ",
            support_cols!(),
            " FROM support_requests r JOIN accounts a ON a.id = r.from_account_id WHERE r.id = $1"
        ))
        .bind(id.to_string())
        .fetch_one(&mut *tx)
        .await?;
        let request = support_from_row(&row)?;
        let notify: Option<String> = sqlx::query_scalar(
            "SELECT COALESCE(b.support_email, a.contact_email) FROM accounts a \
             LEFT JOIN branding b ON b.account_id = a.id WHERE a.id = $1",
        )
        .bind(inbox.to_string())
        .fetch_one(&mut *tx)
        .await?;
        self.commit(tx).await?;
        Ok((request, notify))
    }

    async fn list_support_requests(
        &self,
        grant: &Grant<cap::SupportRead>,
        page: &PageRequest,
    ) -> Result<Page<SupportRequest>> {
        let account = grant.account_id();
        let rows = sqlx::query(concat!(
            "SELECT ",
            support_cols!(),
            " FROM support_requests r JOIN accounts a ON a.id = r.from_account_id ",
            "WHERE (r.from_account_id = $1 OR r.to_account_id = $1) AND ($2 IS NULL OR r.id < $2) ORDER BY r.id DESC LIMIT $3"
        ))
        .bind(account.to_string())
        .bind(&page.after)
        .bind(fetch_limit(page))
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(support_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |r| r.id.to_string()))
    }

    async fn get_support_request(
        &self,
        grant: &Grant<cap::SupportRead>,
        id: SupportRequestId,
    ) -> Result<SupportRequest> {
        let account = grant.account_id();
        let sql = concat!(
            "SELECT ",
            support_cols!(),
            " FROM support_requests r JOIN accounts a ON a.id = r.from_account_id ",
            "WHERE (r.to_account_id = $1 OR r.from_account_id = $1) AND r.id = $2"
        );
        self.row_of_account(sql, account, id.to_string(), support_from_row).await
    }

    async fn set_support_status(
        &self,
        grant: &Grant<cap::SupportManage>,
        id: SupportRequestId,
        open: bool,
        ctx: &Ctx,
    ) -> Result<SupportRequest> {
        let inbox = grant.account_id();
        let now = self.now();
        let status = if open { "open" } else { "closed" };
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(concat!(
            "SELECT ",
            support_cols!(),
            " FROM support_requests r JOIN accounts a ON a.id = r.from_account_id WHERE r.to_account_id = $1 AND r.id = $2"
        ))
        .bind(inbox.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(DomainError::NotFound)?;
        let before = support_from_row(&row)?;
        sqlx::query("UPDATE support_requests SET status = $3, updated_at = $4 WHERE to_account_id = $1 AND id = $2")
            .bind(inbox.to_string())
            .bind(id.to_string())
            .bind(status)
            .bind(to_micros(now))
            .execute(&mut *tx)
            .await?;
        let details = serde_json::json!({ "status": status });
        let draft = change(before.account_id, Action::SupportRequestUpdated, target("support_request", id), details);
        Self::append(&mut tx, now, &draft, ctx).await?;
        self.commit(tx).await?;
        Ok(SupportRequest { status: status.to_owned(), updated_at: now, ..before })
    }
}
