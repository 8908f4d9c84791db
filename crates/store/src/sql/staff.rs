//! MSP staff assignments to customers.

use super::*;

impl Repo {
    /// The MSP's `msp_staff` user `user`, or `NotFound` / a validation error.
    pub(crate) async fn staff_member(tx: &mut Tx, msp: AccountId, user: UserId) -> Result<User> {
        let user = Self::user_in(tx, msp, user).await?;
        if user.role != Role::MspStaff {
            return Err(DomainError::invalid("user_id", "only msp_staff users are assigned to customers").into());
        }
        Ok(user)
    }

    /// A customer directly under the MSP, or `NotFound`.
    pub(crate) async fn customer_of(tx: &mut Tx, msp: AccountId, customer: AccountId) -> Result<Account> {
        let account = Self::account_in(tx, customer).await?;
        if account.parent_id != Some(msp) || account.kind != AccountKind::Customer {
            return Err(DomainError::NotFound.into());
        }
        Ok(account)
    }
}

#[async_trait::async_trait]
impl StaffStore for Repo {
    async fn list_assignments(
        &self,
        grant: &Grant<cap::StaffRead>,
        user: UserId,
        page: &PageRequest,
    ) -> Result<Page<Assignment>> {
        let msp = grant.account_id();
        let mut tx = self.begin_write().await?;
        Self::staff_member(&mut tx, msp, user).await?;
        self.commit(tx).await?;
        let rows = sqlx::query(
            "SELECT s.account_id, a.name AS account_name, s.granted_by, s.granted_at FROM staff_assignments s \
             JOIN accounts a ON a.id = s.account_id WHERE s.user_id = $1 AND a.parent_id = $2 \
             AND ($3 IS NULL OR s.account_id > $3) ORDER BY s.account_id LIMIT $4",
        )
        .bind(user.to_string())
        .bind(msp.to_string())
        .bind(&page.after)
        .bind(fetch_limit(page))
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(|r| {
                Ok(Assignment {
                    account_id: parse_col(r, "account_id")?,
                    account_name: r.try_get("account_name")?,
                    granted_by: parse_opt_col(r, "granted_by")?,
                    granted_at: from_micros(r.try_get("granted_at")?),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |a| a.account_id.to_string()))
    }

    async fn assign(
        &self,
        grant: &Grant<cap::StaffAssign>,
        user: UserId,
        customer: AccountId,
        ctx: &Ctx,
    ) -> Result<()> {
        let msp = grant.account_id();
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let staff = Self::staff_member(&mut tx, msp, user).await?;
        Self::customer_of(&mut tx, msp, customer).await?;
        let inserted = sqlx::query(
            "INSERT INTO staff_assignments (user_id, account_id, granted_by, granted_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, account_id) DO NOTHING",
        )
        .bind(user.to_string())
        .bind(customer.to_string())
        .bind(ctx.actor.user_id.map(|u| u.to_string()))
        .bind(to_micros(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted > 0 {
            let details = serde_json::json!({ "user_id": user.to_string(), "email": staff.email.as_str() });
            Self::append(&mut tx, now, &change(customer, Action::StaffAssigned, target("user", user), details), ctx)
                .await?;
        }
        self.commit(tx).await?;
        Ok(())
    }

    async fn find_assignment(
        &self,
        grant: &Grant<cap::StaffRead>,
        user: UserId,
        customer: AccountId,
        assigned: bool,
    ) -> Result<()> {
        let msp = grant.account_id();
        let mut tx = self.pool.begin().await?;
        Self::user_in(&mut tx, msp, user).await?;
        Self::customer_of(&mut tx, msp, customer).await?;
        if assigned {
            let found: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM staff_assignments WHERE user_id = $1 AND account_id = $2")
                    .bind(user.to_string())
                    .bind(customer.to_string())
                    .fetch_one(&mut *tx)
                    .await?;
            if found == 0 {
                return Err(DomainError::NotFound.into());
            }
        }
        self.commit(tx).await?;
        Ok(())
    }

    async fn unassign(
        &self,
        grant: &Grant<cap::StaffAssign>,
        user: UserId,
        customer: AccountId,
        ctx: &Ctx,
    ) -> Result<()> {
        let msp = grant.account_id();
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let staff = Self::staff_member(&mut tx, msp, user).await?;
        Self::customer_of(&mut tx, msp, customer).await?;
        let removed = sqlx::query("DELETE FROM staff_assignments WHERE user_id = $1 AND account_id = $2")
            .bind(user.to_string())
            .bind(customer.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if removed == 0 {
            return Err(DomainError::NotFound.into());
        }
        let ended =
            Self::end_access_sessions(&mut tx, now, Ending::ActorInto(user, customer), "unassigned", ctx).await?;
        let details = serde_json::json!({
            "user_id": user.to_string(),
            "email": staff.email.as_str(),
            "access_sessions_ended": ended,
        });
        Self::append(&mut tx, now, &change(customer, Action::StaffUnassigned, target("user", user), details), ctx)
            .await?;
        self.commit(tx).await?;
        Ok(())
    }
}
