//! Sign-ins: attempts under the limits, sessions, step-up, activation.

use super::*;

/// The user with an email key (`$1`), its account, and whether that account is blocked.
pub(crate) const LOGIN_CANDIDATE: &str = concat!(
    "SELECT ",
    joined_account_user_cols!(),
    ", u.password_hash, ",
    blocked_expr!(),
    " AS blocked FROM users u JOIN accounts a ON a.id = u.account_id WHERE u.email_key = $1"
);

pub(crate) fn login_candidate_from_row(row: &DbRow) -> Result<LoginCandidate> {
    Ok(LoginCandidate {
        user: user_from_row_as(row, "u_")?,
        password_hash: row.try_get("password_hash")?,
        account: account_from_row_as(row, "a_")?,
        blocked: row.try_get("blocked")?,
    })
}

impl Repo {
    /// Takes an attempt's reservation back, inside the caller's transaction.
    pub(crate) async fn release_in(tx: &mut Tx, reservation: &Reservation) -> Result<()> {
        for id in reservation.ids() {
            sqlx::query("DELETE FROM login_failures WHERE id = $1").bind(id).execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Ends a user's sign-ins (but `keep`) and the access sessions they opened; returns how many
    /// sign-ins ended.
    pub(crate) async fn end_user_sessions(
        tx: &mut Tx,
        now: OffsetDateTime,
        user: UserId,
        keep: Option<SessionId>,
        reason: &str,
        ctx: &Ctx,
    ) -> Result<u64> {
        let keep = keep.map(|k| k.to_string()).unwrap_or_default();
        let ended =
            sqlx::query("UPDATE sessions SET ended_at = $2 WHERE user_id = $1 AND ended_at IS NULL AND id <> $3")
                .bind(user.to_string())
                .bind(to_micros(now))
                .bind(&keep)
                .execute(&mut **tx)
                .await?
                .rows_affected();
        Self::end_access_sessions(tx, now, Ending::ActorExcept(user, keep), reason, ctx).await?;
        Ok(ended)
    }
}

#[async_trait::async_trait]
impl SignInStore for Repo {
    async fn login_candidate(&self, email: &str) -> Result<Option<LoginCandidate>> {
        let row = sqlx::query(LOGIN_CANDIDATE).bind(email.trim().to_lowercase()).fetch_optional(&self.pool).await?;
        row.as_ref().map(login_candidate_from_row).transpose()
    }

    async fn reserve_attempt(
        &self,
        scopes: &[String],
        limit: i64,
        since: OffsetDateTime,
    ) -> Result<Option<Reservation>> {
        let now = self.now();
        let mut scopes = scopes.to_vec();
        scopes.sort();
        scopes.dedup();
        // A scope already at its limit is refused without taking a lock (a flood of attempts
        // under it writes nothing here); the count that decides is the locked one below.
        for scope in &scopes {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM login_failures WHERE scope = $1 AND at >= $2")
                .bind(scope)
                .bind(to_micros(since))
                .fetch_one(&self.pool)
                .await?;
            if n >= limit {
                return Ok(None);
            }
        }
        let mut tx = self.begin_write().await?;
        // Lock each scope's row (in one order, so two attempts never wait on each other): a
        // concurrent attempt under the same scope counts only after this one has committed.
        for scope in &scopes {
            sqlx::query(
                "INSERT INTO rate_scopes (scope) VALUES ($1) ON CONFLICT (scope) DO UPDATE SET scope = excluded.scope",
            )
            .bind(scope)
            .execute(&mut *tx)
            .await?;
        }
        for scope in &scopes {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM login_failures WHERE scope = $1 AND at >= $2")
                .bind(scope)
                .bind(to_micros(since))
                .fetch_one(&mut *tx)
                .await?;
            if n >= limit {
                tx.rollback().await?;
                return Ok(None);
            }
        }
        let mut ids = Vec::with_capacity(scopes.len());
        for scope in &scopes {
            let id = EventId::new().to_string();
            sqlx::query("INSERT INTO login_failures (id, scope, at) VALUES ($1, $2, $3)")
                .bind(&id)
                .bind(scope)
                .bind(to_micros(now))
                .execute(&mut *tx)
                .await?;
            ids.push(id);
        }
        self.commit(tx).await?;
        Ok(Some(Reservation::new(ids)))
    }

    async fn release_attempt(&self, reservation: Reservation) -> Result<()> {
        let mut tx = self.begin_write().await?;
        Self::release_in(&mut tx, &reservation).await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn prune_attempts(&self) -> Result<()> {
        let old = to_micros(self.now() - time::Duration::days(1));
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM login_failures WHERE at < $1").bind(old).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM rate_scopes WHERE scope NOT IN (SELECT scope FROM login_failures)")
            .execute(&mut *tx)
            .await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn end_lapsed_sessions(&self, idle: time::Duration, limit: u32) -> Result<u64> {
        let now = self.now();
        let idle_since = to_micros(now - idle);
        let rows = sqlx::query(concat!(
            "SELECT s.id, s.expires_at, s.last_seen_at, s.ip, ",
            joined_account_user_cols!(),
            " FROM sessions s JOIN users u ON u.id = s.user_id JOIN accounts a ON a.id = u.account_id ",
            "WHERE s.ended_at IS NULL AND (s.expires_at <= $1 OR s.last_seen_at <= $2) ORDER BY s.id LIMIT $3"
        ))
        .bind(to_micros(now))
        .bind(idle_since)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut ended = 0;
        for row in &rows {
            let id: SessionId = parse_col(row, "id")?;
            let expires_at = from_micros(row.try_get("expires_at")?);
            let lapsed_at = expires_at.min(from_micros(row.try_get("last_seen_at")?) + idle);
            let user = user_from_row_as(row, "u_")?;
            let account = account_from_row_as(row, "a_")?;
            let ctx = Ctx {
                actor: AuditActor {
                    user_id: Some(user.id),
                    email: Some(user.email.to_string()),
                    account_id: Some(account.id),
                    account_name: Some(account.name.clone()),
                },
                ip: row.try_get("ip")?,
                ..Ctx::default()
            };
            let mut tx = self.begin_write().await?;
            // Only the process whose update takes the row ends it: the others find it ended.
            let taken = sqlx::query(
                "UPDATE sessions SET ended_at = $2 WHERE id = $1 AND ended_at IS NULL \
                 AND (expires_at <= $3 OR last_seen_at <= $4)",
            )
            .bind(id.to_string())
            .bind(to_micros(lapsed_at))
            .bind(to_micros(now))
            .bind(idle_since)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if taken > 0 {
                Self::end_access_sessions_at(&mut tx, now, lapsed_at, Ending::SignIn(id), "sign_in_expired", &ctx)
                    .await?;
                ended += 1;
            }
            self.commit(tx).await?;
        }
        Ok(ended)
    }

    async fn create_session(&self, session: NewSession, ctx: &Ctx) -> Result<()> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        if let Some(attempt) = &session.attempt {
            Self::release_in(&mut tx, attempt).await?;
        }
        let user_agent = session.user_agent.as_deref().map(|ua| ua.chars().take(512).collect::<String>());
        sqlx::query(
            "INSERT INTO sessions (id, token_hash, user_id, csrf_token, created_at, last_seen_at, reauth_at, expires_at, \
             ip, user_agent, method) VALUES ($1, $2, $3, $4, $5, $5, $5, $6, $7, $8, $9)",
        )
        .bind(session.id.to_string())
        .bind(&session.token_hash)
        .bind(session.user_id.to_string())
        .bind(&session.csrf_token)
        .bind(to_micros(now))
        .bind(to_micros(session.expires_at))
        .bind(&session.ip)
        .bind(user_agent)
        .bind(session.method)
        .execute(&mut *tx)
        .await?;
        let account_id: String =
            sqlx::query_scalar("UPDATE users SET last_login_at = $2 WHERE id = $1 RETURNING account_id")
                .bind(session.user_id.to_string())
                .bind(to_micros(now))
                .fetch_one(&mut *tx)
                .await?;
        let account_id: AccountId = account_id.parse().map_err(|e| corrupt("account_id", e))?;
        let details = serde_json::json!({ "session_id": session.id.to_string(), "method": session.method });
        Self::append(&mut tx, now, &change(account_id, Action::Login, target("user", session.user_id), details), ctx)
            .await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn session_by_token(&self, token_hash: &str) -> Result<Option<SessionRecord>> {
        let row = sqlx::query(concat!(
            "SELECT s.id AS s_id, s.csrf_token, s.created_at AS s_created_at, s.last_seen_at, s.reauth_at, ",
            "s.expires_at AS s_expires_at, s.method, ",
            joined_account_user_cols!(),
            ", ",
            blocked_expr!(),
            " AS blocked FROM sessions s JOIN users u ON u.id = s.user_id JOIN accounts a ON a.id = u.account_id ",
            "WHERE s.token_hash = $1 AND s.ended_at IS NULL"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(SessionRecord {
            id: parse_col(&row, "s_id")?,
            user: user_from_row_as(&row, "u_")?,
            account: account_from_row_as(&row, "a_")?,
            blocked: row.try_get("blocked")?,
            csrf_token: row.try_get("csrf_token")?,
            created_at: from_micros(row.try_get("s_created_at")?),
            last_seen_at: from_micros(row.try_get("last_seen_at")?),
            reauth_at: from_micros(row.try_get("reauth_at")?),
            expires_at: from_micros(row.try_get("s_expires_at")?),
            method: row.try_get("method")?,
        }))
    }

    async fn revision(&self) -> Result<u64> {
        self.engine_revision().await
    }

    async fn touch_session(&self, id: SessionId) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(to_micros(self.now()))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn rotate_session(&self, id: SessionId, new_token_hash: &str, method: &str, ctx: &Ctx) -> Result<()> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let user_id: String = sqlx::query_scalar(
            "UPDATE sessions SET token_hash = $2, reauth_at = $3, last_seen_at = $3 WHERE id = $1 AND ended_at IS NULL RETURNING user_id",
        )
        .bind(id.to_string())
        .bind(new_token_hash)
        .bind(to_micros(now))
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(DomainError::NotFound)?;
        let account = ctx.actor.account_id.ok_or_else(|| DomainError::Internal("step-up without an actor".into()))?;
        let details = serde_json::json!({ "session_id": id.to_string(), "method": method });
        Self::append(&mut tx, now, &change(account, Action::Reauth, target("user", user_id), details), ctx).await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn end_session(&self, id: SessionId, action: Option<Action>, ctx: &Ctx) -> Result<()> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE sessions SET ended_at = $2 WHERE id = $1 AND ended_at IS NULL")
            .bind(id.to_string())
            .bind(to_micros(now))
            .execute(&mut *tx)
            .await?;
        let reason = if action.is_some() { "sign_out" } else { "sign_in_expired" };
        Self::end_access_sessions(&mut tx, now, Ending::SignIn(id), reason, ctx).await?;
        if let (Some(action), Some(account), Some(user)) = (action, ctx.actor.account_id, ctx.actor.user_id) {
            let details = serde_json::json!({ "session_id": id.to_string() });
            Self::append(&mut tx, now, &change(account, action, target("user", user), details), ctx).await?;
        }
        self.commit(tx).await?;
        Ok(())
    }

    async fn list_sign_ins(
        &self,
        user: UserId,
        seen_since: OffsetDateTime,
        page: &PageRequest,
    ) -> Result<Page<SignInSummary>> {
        let rows = sqlx::query(
            "SELECT id, created_at, last_seen_at, ip, user_agent, method FROM sessions \
             WHERE user_id = $1 AND ended_at IS NULL AND expires_at > $2 AND last_seen_at > $3 \
             AND ($4 IS NULL OR id < $4) ORDER BY id DESC LIMIT $5",
        )
        .bind(user.to_string())
        .bind(to_micros(self.now()))
        .bind(to_micros(seen_since))
        .bind(&page.after)
        .bind(fetch_limit(page))
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(|row| {
                Ok(SignInSummary {
                    id: parse_col(row, "id")?,
                    created_at: from_micros(row.try_get("created_at")?),
                    last_seen_at: from_micros(row.try_get("last_seen_at")?),
                    ip: row.try_get("ip")?,
                    user_agent: row.try_get("user_agent")?,
                    method: row.try_get("method")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |s| s.id.to_string()))
    }

    async fn end_own_sign_in(&self, user: UserId, id: SessionId, ctx: &Ctx) -> Result<()> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let ended =
            sqlx::query("UPDATE sessions SET ended_at = $3 WHERE id = $1 AND user_id = $2 AND ended_at IS NULL")
                .bind(id.to_string())
                .bind(user.to_string())
                .bind(to_micros(now))
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if ended == 0 {
            return Err(DomainError::NotFound.into());
        }
        Self::end_access_sessions(&mut tx, now, Ending::SignIn(id), "sign_out", ctx).await?;
        let account =
            ctx.actor.account_id.ok_or_else(|| DomainError::Internal("a sign-out without an actor".into()))?;
        let details = serde_json::json!({ "session_id": id.to_string() });
        Self::append(&mut tx, now, &change(account, Action::SessionEnded, target("user", user), details), ctx).await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn end_other_sign_ins(&self, user: UserId, keep: SessionId, ctx: &Ctx) -> Result<u64> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let ended = Self::end_user_sessions(&mut tx, now, user, Some(keep), "sign_out", ctx).await?;
        let account =
            ctx.actor.account_id.ok_or_else(|| DomainError::Internal("a sign-out without an actor".into()))?;
        let details = serde_json::json!({ "kept_session_id": keep.to_string(), "ended": ended });
        Self::append(&mut tx, now, &change(account, Action::OtherSessionsEnded, target("user", user), details), ctx)
            .await?;
        self.commit(tx).await?;
        Ok(ended)
    }

    async fn change_own_password(&self, user: UserId, keep: SessionId, password_hash: &str, ctx: &Ctx) -> Result<()> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let account: String =
            sqlx::query_scalar("UPDATE users SET password_hash = $2 WHERE id = $1 RETURNING account_id")
                .bind(user.to_string())
                .bind(password_hash)
                .fetch_one(&mut *tx)
                .await?;
        let account: AccountId = account.parse().map_err(|e| corrupt("account_id", e))?;
        Self::end_user_sessions(&mut tx, now, user, Some(keep), "password_changed", ctx).await?;
        let details = serde_json::json!({ "changed": ["password"] });
        Self::append(&mut tx, now, &change(account, Action::PasswordChanged, target("user", user), details), ctx)
            .await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn invited_user(&self, token_hash: &str) -> Result<Option<User>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users WHERE status = 'invited' AND id IN (SELECT user_id FROM activation_tokens \
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2)"
        ))
        .bind(token_hash)
        .bind(to_micros(self.now()))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn activate(&self, token_hash: &str, password_hash: &str) -> Result<Option<User>> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let user_id: Option<String> = sqlx::query_scalar(
            "UPDATE activation_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id",
        )
        .bind(token_hash)
        .bind(to_micros(now))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(user_id) = user_id else { return Ok(None) };
        let row = sqlx::query(concat!(
            "UPDATE users SET password_hash = $2, status = 'active' WHERE id = $1 AND status = 'invited' RETURNING ",
            user_cols!()
        ))
        .bind(&user_id)
        .bind(password_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let user = user_from_row(&row)?;
        let ctx = Ctx {
            actor: AuditActor {
                user_id: Some(user.id),
                email: Some(user.email.to_string()),
                account_id: Some(user.account_id),
                account_name: Some(Self::account_in(&mut tx, user.account_id).await?.name),
            },
            ..Ctx::default()
        };
        let details = serde_json::json!({ "status": "active" });
        Self::append(
            &mut tx,
            now,
            &change(user.account_id, Action::UserActivated, target("user", user.id), details),
            &ctx,
        )
        .await?;
        self.commit(tx).await?;
        Ok(Some(user))
    }
}
