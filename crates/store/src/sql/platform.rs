//! The platform account and the database itself.

use super::*;

impl Repo {
    /// Creates the platform account unless one exists.
    pub(crate) async fn create_platform(&self, name: &str) -> Result<(Account, bool)> {
        let mut tx = self.begin_write().await?;
        let existing = sqlx::query(concat!("SELECT ", account_cols!(), " FROM accounts WHERE kind = 'platform'"))
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = existing {
            return Ok((account_from_row(&row)?, false));
        }
        let now = self.now();
        let id = AccountId::new();
        let new = NewAccount {
            kind: AccountKind::Platform,
            name: name.to_owned(),
            slug: None,
            plan: Plan::Partner,
            contact_email: None,
            region: None,
        };
        let slug = Self::free_slug(&mut tx, &new).await?;
        let account = Self::insert_account(&mut tx, now, id, None, &new, &slug).await?;
        let details = serde_json::json!({ "kind": "platform", "name": name });
        Self::append(
            &mut tx,
            now,
            &change(id, Action::AccountCreated, target("account", id), details),
            &Ctx::default(),
        )
        .await?;
        self.commit(tx).await?;
        Ok((account, true))
    }
}

#[async_trait::async_trait]
impl PlatformStore for Repo {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn ensure_platform(&self, name: &str) -> Result<(Account, bool)> {
        match self.create_platform(name).await {
            Ok(created) => Ok(created),
            // Another process created it first: use theirs.
            Err(e) => match self.platform().await {
                Ok(existing) => Ok((existing, false)),
                Err(_) => Err(e),
            },
        }
    }

    async fn platform(&self) -> Result<Account> {
        let row = sqlx::query(concat!("SELECT ", account_cols!(), " FROM accounts WHERE kind = 'platform'"))
            .fetch_optional(&self.pool)
            .await?
            .ok_or(DomainError::NotFound)?;
        account_from_row(&row)
    }
}
