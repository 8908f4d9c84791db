//! Access sessions: a partner-side actor inside a customer.

use super::*;

/// Which open access sessions an implicit end applies to.
pub(crate) enum Ending {
    /// Those of one sign-in (sign-out, sign-in expiry).
    SignIn(SessionId),
    /// Those a user opened, except from the sign-in whose id is given (may be empty).
    ActorExcept(UserId, String),
    /// Those a user opened into one customer (unassignment).
    ActorInto(UserId, AccountId),
    /// Those opened from password sign-ins of an account's users but its `sso_admin`s (mandatory
    /// SSO switched on).
    UsersOf(AccountId),
}

impl Repo {
    /// Ends the open access sessions `ending` names, each with its `access_session.ended` event in
    /// the customer's trail and the actor's, inside the caller's transaction; returns how many.
    pub(crate) async fn end_access_sessions(
        tx: &mut Tx,
        now: OffsetDateTime,
        ending: Ending,
        reason: &str,
        ctx: &Ctx,
    ) -> Result<u64> {
        Self::end_access_sessions_at(tx, now, now, ending, reason, ctx).await
    }

    /// `end_access_sessions`, recording `ended_at` as the moment they ended (a lapsed sign-in's
    /// lapse, before `now`, when its events are written).
    pub(crate) async fn end_access_sessions_at(
        tx: &mut Tx,
        now: OffsetDateTime,
        ended_at: OffsetDateTime,
        ending: Ending,
        reason: &str,
        ctx: &Ctx,
    ) -> Result<u64> {
        let rows =
            match &ending {
                Ending::SignIn(signin) => {
                    sqlx::query(
                        "SELECT id, account_id FROM access_sessions WHERE signin_session_id = $1 AND ended_at IS NULL",
                    )
                    .bind(signin.to_string())
                    .fetch_all(&mut **tx)
                    .await?
                }
                Ending::ActorExcept(user, keep) => sqlx::query(
                    "SELECT id, account_id FROM access_sessions WHERE actor_user_id = $1 AND signin_session_id <> $2 \
                     AND ended_at IS NULL",
                )
                .bind(user.to_string())
                .bind(keep)
                .fetch_all(&mut **tx)
                .await?,
                Ending::ActorInto(user, customer) => {
                    sqlx::query(
                        "SELECT id, account_id FROM access_sessions WHERE actor_user_id = $1 AND account_id = $2 \
                     AND ended_at IS NULL",
                    )
                    .bind(user.to_string())
                    .bind(customer.to_string())
                    .fetch_all(&mut **tx)
                    .await?
                }
                Ending::UsersOf(account) => {
                    sqlx::query(
                        "SELECT id, account_id FROM access_sessions WHERE ended_at IS NULL AND actor_user_id IN \
                     (SELECT id FROM users WHERE account_id = $1 AND role <> 'sso_admin') AND signin_session_id IN \
                     (SELECT id FROM sessions WHERE method <> 'sso')",
                    )
                    .bind(account.to_string())
                    .fetch_all(&mut **tx)
                    .await?
                }
            };
        let mut ended = 0;
        for row in &rows {
            let id: AccessSessionId = parse_col(row, "id")?;
            let customer: AccountId = parse_col(row, "account_id")?;
            // Another transaction may have ended it meanwhile: one end, one event.
            let taken = sqlx::query(
                "UPDATE access_sessions SET ended_at = $2, end_reason = $3 WHERE id = $1 AND ended_at IS NULL",
            )
            .bind(id.to_string())
            .bind(to_micros(ended_at))
            .bind(reason)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            if taken == 0 {
                continue;
            }
            ended += 1;
            let ctx = Ctx { access_session_id: Some(id.to_string()), access_customer: None, ..ctx.clone() };
            let draft = change(
                customer,
                Action::AccessSessionEnded,
                target("access_session", id),
                serde_json::json!({ "reason": reason }),
            );
            Self::append(tx, now, &draft, &ctx).await?;
        }
        Ok(ended)
    }
}

#[async_trait::async_trait]
impl AccessStore for Repo {
    async fn open_access_session(
        &self,
        grant: &Grant<cap::AccessEnter>,
        new: NewAccessSession,
        ctx: &Ctx,
    ) -> Result<AccessSessionRecord> {
        let customer = grant.account_id();
        let (Some(actor_user), Some(actor_email), Some(actor_account)) =
            (ctx.actor.user_id, ctx.actor.email.clone(), ctx.actor.account_id)
        else {
            return Err(DomainError::Internal("an access session needs an actor".into()).into());
        };
        let now = self.now();
        let id = AccessSessionId::new();
        let mut tx = self.begin_write().await?;
        // The grant was judged before this transaction: judge again what it stood on, inside it.
        // The assignment's row is locked (an update that changes nothing), so an unassignment
        // either commits first (and this finds nothing) or waits and then ends this session.
        let still = if grant.basis() == Basis::Assignment {
            sqlx::query("UPDATE staff_assignments SET granted_at = granted_at WHERE user_id = $1 AND account_id = $2")
                .bind(actor_user.to_string())
                .bind(customer.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected()
        } else {
            let below: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM account_closure WHERE ancestor = $1 AND descendant = $2 AND depth > 0",
            )
            .bind(actor_account.to_string())
            .bind(customer.to_string())
            .fetch_one(&mut *tx)
            .await?;
            u64::try_from(below).unwrap_or(0)
        };
        if still == 0 {
            return Err(DomainError::NotFound.into());
        }
        sqlx::query(
            "INSERT INTO access_sessions (id, account_id, actor_user_id, actor_email, actor_account_id, \
             signin_session_id, reason, started_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id.to_string())
        .bind(customer.to_string())
        .bind(actor_user.to_string())
        .bind(&actor_email)
        .bind(actor_account.to_string())
        .bind(new.signin_session_id.to_string())
        .bind(&new.reason)
        .bind(to_micros(now))
        .bind(to_micros(new.expires_at))
        .execute(&mut *tx)
        .await?;
        let details = serde_json::json!({
            "reason": new.reason,
            "expires_at": tenantry_domain::clock::rfc3339_micros(new.expires_at),
        });
        let ctx = Ctx { access_session_id: Some(id.to_string()), access_customer: None, ..ctx.clone() };
        let draft = change(customer, Action::AccessSessionStarted, target("access_session", id), details);
        Self::append(&mut tx, now, &draft, &ctx).await?;
        self.commit(tx).await?;
        Ok(AccessSessionRecord {
            id,
            account_id: customer,
            actor_user_id: actor_user,
            actor_email,
            actor_account_id: actor_account,
            signin_session_id: new.signin_session_id,
            reason: new.reason,
            started_at: now,
            expires_at: new.expires_at,
            ended_at: None,
            end_reason: None,
        })
    }

    async fn access_session(&self, id: AccessSessionId) -> Result<Option<AccessSessionRecord>> {
        let row = sqlx::query(concat!("SELECT ", access_session_cols!(), " FROM access_sessions WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(access_session_from_row).transpose()
    }

    async fn open_access_sessions_of(&self, user: UserId) -> Result<Vec<AccessSessionRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            access_session_cols!(),
            " FROM access_sessions WHERE actor_user_id = $1 AND ended_at IS NULL AND expires_at > $2 ORDER BY id"
        ))
        .bind(user.to_string())
        .bind(to_micros(self.now()))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(access_session_from_row).collect()
    }

    async fn list_access_sessions(
        &self,
        grant: &Grant<cap::AccessList>,
        actor: Option<UserId>,
        page: &PageRequest,
    ) -> Result<Page<AccessSessionRecord>> {
        let customer = grant.account_id();
        let rows = sqlx::query(concat!(
            "SELECT ",
            access_session_cols!(),
            " FROM access_sessions WHERE account_id = $1 AND ($2 IS NULL OR actor_user_id = $2) ",
            "AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
        ))
        .bind(customer.to_string())
        .bind(actor.map(|a| a.to_string()))
        .bind(&page.after)
        .bind(fetch_limit(page))
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(access_session_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |s| s.id.to_string()))
    }

    async fn end_access_session(&self, grant: &Grant<cap::AccessEnd>, id: AccessSessionId, ctx: &Ctx) -> Result<()> {
        let customer = grant.account_id();
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let ended = sqlx::query(
            "UPDATE access_sessions SET ended_at = $3, end_reason = 'ended' WHERE id = $1 AND account_id = $2 \
             AND ended_at IS NULL",
        )
        .bind(id.to_string())
        .bind(customer.to_string())
        .bind(to_micros(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if ended > 0 {
            let ctx = Ctx { access_session_id: Some(id.to_string()), access_customer: None, ..ctx.clone() };
            let draft = change(
                customer,
                Action::AccessSessionEnded,
                target("access_session", id),
                serde_json::json!({ "reason": "ended" }),
            );
            Self::append(&mut tx, now, &draft, &ctx).await?;
        }
        self.commit(tx).await?;
        Ok(())
    }
}
