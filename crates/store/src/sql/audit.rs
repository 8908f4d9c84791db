//! Audit trails: appending to every trail an event belongs to, reading, verifying.

use super::*;

impl Repo {
    /// Appends one event to every trail it belongs to, inside the caller's transaction.
    pub(crate) async fn append(tx: &mut Tx, now: OffsetDateTime, draft: &AuditDraft, ctx: &Ctx) -> Result<EventId> {
        // A change made inside an access session commits only while that session is open: its
        // row is locked here (an update that changes nothing), so ending it (a sign-out, an
        // unassignment, the customer's say) either commits first and this change is refused, or
        // waits for this change. Every change appends its event in its own transaction.
        if let (Some(session), Some(customer)) = (&ctx.access_session_id, ctx.access_customer)
            && customer == draft.account_id
            && draft.outcome == Outcome::Success
        {
            let held = sqlx::query(
                "UPDATE access_sessions SET ended_at = ended_at WHERE id = $1 AND account_id = $2 \
                 AND ended_at IS NULL AND expires_at > $3",
            )
            .bind(session)
            .bind(customer.to_string())
            .bind(to_micros(now))
            .execute(&mut **tx)
            .await?
            .rows_affected();
            if held == 0 {
                return Err(DomainError::AccessSessionEnded.into());
            }
        }
        let id = EventId::new();
        let details = serde_json::to_string(&draft.details).map_err(|e| corrupt("details", e))?;
        let access_session_id = match ctx.access_customer {
            Some(customer) if customer != draft.account_id => None,
            _ => ctx.access_session_id.clone(),
        };
        sqlx::query(
            "INSERT INTO audit_events (id, at, account_id, action, outcome, actor_user_id, actor_email, \
             actor_account_id, actor_account_name, access_session_id, target_type, target_id, ip, details) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(id.to_string())
        .bind(to_micros(now))
        .bind(draft.account_id.to_string())
        .bind(draft.action.as_str())
        .bind(draft.outcome.as_str())
        .bind(ctx.actor.user_id.map(|u| u.to_string()))
        .bind(&ctx.actor.email)
        .bind(ctx.actor.account_id.map(|a| a.to_string()))
        .bind(&ctx.actor.account_name)
        .bind(&access_session_id)
        .bind(&draft.target.kind)
        .bind(&draft.target.id)
        .bind(&ctx.ip)
        .bind(details)
        .execute(&mut **tx)
        .await?;

        let mut trails = Self::trails_of(tx, draft, ctx).await?;
        trails.sort();
        trails.dedup();
        for trail in trails {
            sqlx::query(
                "INSERT INTO audit_trails (account_id, seq, head_hash) VALUES ($1, 0, $2) \
                 ON CONFLICT (account_id) DO NOTHING",
            )
            .bind(trail.to_string())
            .bind(GENESIS)
            .execute(&mut **tx)
            .await?;
            let head =
                sqlx::query("UPDATE audit_trails SET seq = seq + 1 WHERE account_id = $1 RETURNING seq, head_hash")
                    .bind(trail.to_string())
                    .fetch_one(&mut **tx)
                    .await?;
            let mut event = AuditEvent {
                id,
                trail_account_id: trail,
                seq: head.try_get("seq")?,
                at: now,
                account_id: draft.account_id,
                action: draft.action.as_str().to_owned(),
                outcome: draft.outcome,
                actor: ctx.actor.clone(),
                access_session_id: access_session_id.clone(),
                target: draft.target.clone(),
                ip: ctx.ip.clone(),
                details: draft.details.clone(),
                prev_hash: head.try_get("head_hash")?,
                hash: String::new(),
            };
            event.hash = event.compute_hash().map_err(|e| corrupt("event", e))?;
            sqlx::query("UPDATE audit_trails SET head_hash = $2 WHERE account_id = $1")
                .bind(trail.to_string())
                .bind(&event.hash)
                .execute(&mut **tx)
                .await?;
            sqlx::query(
                "INSERT INTO audit_links (trail_account_id, seq, event_id, prev_hash, hash) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(trail.to_string())
            .bind(event.seq)
            .bind(id.to_string())
            .bind(&event.prev_hash)
            .bind(&event.hash)
            .execute(&mut **tx)
            .await?;
            Self::queue_deliveries(tx, trail, event.seq, id, draft.action.as_str(), now).await?;
        }
        Ok(id)
    }

    /// The trails an event belongs to; see [`Linking`].
    pub(crate) async fn trails_of(tx: &mut Tx, draft: &AuditDraft, ctx: &Ctx) -> Result<Vec<AccountId>> {
        let acted = draft.account_id;
        let actor_account = ctx.actor.account_id;
        if draft.linking == Linking::ActorOnly {
            return Ok(vec![actor_account.unwrap_or(acted)]);
        }
        let rows = sqlx::query("SELECT ancestor FROM account_closure WHERE descendant = $1 ORDER BY depth")
            .bind(acted.to_string())
            .fetch_all(&mut **tx)
            .await?;
        let chain = rows.iter().map(|r| parse_col::<AccountId>(r, "ancestor")).collect::<Result<Vec<_>>>()?;
        Ok(match actor_account {
            Some(actor) => match chain.iter().position(|a| *a == actor) {
                Some(at) => chain[..=at].to_vec(),
                None => vec![acted, actor],
            },
            None => vec![acted],
        })
    }

    pub(crate) async fn audit_rows(
        &self,
        trail: AccountId,
        after_seq: i64,
        until_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            event_cols!(),
            " FROM audit_links l JOIN audit_events e ON e.id = l.event_id ",
            "WHERE l.trail_account_id = $1 AND l.seq > $2 AND l.seq <= $3 ORDER BY l.seq LIMIT $4"
        ))
        .bind(trail.to_string())
        .bind(after_seq)
        .bind(until_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }
}

#[async_trait::async_trait]
impl AuditStore for Repo {
    async fn audit_signing_key(&self, candidate: SigningKey) -> Result<SigningKey> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO audit_signing_keys (id, private_key, public_key, created_at) VALUES ('checkpoints', $1, $2, $3) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&candidate.private_key)
        .bind(&candidate.public_key)
        .bind(to_micros(self.now()))
        .execute(&mut *tx)
        .await?;
        let (private_key, public_key): (String, String) =
            sqlx::query_as("SELECT private_key, public_key FROM audit_signing_keys WHERE id = 'checkpoints'")
                .fetch_one(&mut *tx)
                .await?;
        self.commit(tx).await?;
        Ok(SigningKey { private_key, public_key })
    }

    async fn record(&self, draft: AuditDraft, ctx: &Ctx) -> Result<EventId> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let id = Self::append(&mut tx, now, &draft, ctx).await?;
        self.commit(tx).await?;
        Ok(id)
    }

    async fn audit_page(
        &self,
        grant: &Grant<cap::AuditRead>,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>> {
        let trail = grant.account_id();
        let before_seq: Option<i64> = match &page.after {
            Some(cursor) => Some(cursor.parse().map_err(|_| DomainError::invalid("cursor", "unreadable cursor"))?),
            None => None,
        };
        let rows = sqlx::query(concat!(
            "SELECT ",
            event_cols!(),
            " FROM audit_links l JOIN audit_events e ON e.id = l.event_id ",
            "WHERE l.trail_account_id = $1 AND ($2 IS NULL OR e.action = $2) AND ($3 IS NULL OR e.actor_user_id = $3) ",
            "AND ($4 IS NULL OR e.at >= $4) AND ($5 IS NULL OR e.at < $5) AND ($6 IS NULL OR l.seq < $6) ",
            "ORDER BY l.seq DESC LIMIT $7"
        ))
        .bind(trail.to_string())
        .bind(&filter.action)
        .bind(filter.actor_user_id.map(|u| u.to_string()))
        .bind(filter.since.map(to_micros))
        .bind(filter.until.map(to_micros))
        .bind(before_seq)
        .bind(fetch_limit(page))
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(event_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |e| e.seq.to_string()))
    }

    async fn audit_chunk(&self, grant: &Grant<cap::AuditRead>, after_seq: i64, limit: u32) -> Result<Vec<AuditEvent>> {
        self.operator_audit_chunk(grant.account_id(), after_seq, limit).await
    }

    async fn operator_audit_chunk(&self, trail: AccountId, after_seq: i64, limit: u32) -> Result<Vec<AuditEvent>> {
        self.audit_rows(trail, after_seq, i64::MAX, limit).await
    }

    async fn verify_trail(&self, grant: &Grant<cap::AuditRead>) -> Result<Verification> {
        self.verify_trail_of(grant.account_id()).await
    }

    async fn verify_every_trail(&self) -> Result<Vec<(AccountId, Verification)>> {
        let accounts =
            sqlx::query("SELECT account_id FROM audit_trails ORDER BY account_id").fetch_all(&self.pool).await?;
        let mut reports = Vec::with_capacity(accounts.len());
        for row in &accounts {
            let trail = parse_col::<AccountId>(row, "account_id")?;
            reports.push((trail, self.verify_trail_of(trail).await?));
        }
        Ok(reports)
    }
}

impl Repo {
    async fn verify_trail_of(&self, trail: AccountId) -> Result<Verification> {
        // The head is read first: events appended while verifying are beyond it and not judged.
        let head = sqlx::query("SELECT seq, head_hash FROM audit_trails WHERE account_id = $1")
            .bind(trail.to_string())
            .fetch_optional(&self.pool)
            .await?;
        let (head_seq, head_hash) = match &head {
            Some(row) => (row.try_get::<i64, _>("seq")?, row.try_get::<String, _>("head_hash")?),
            None => (0, GENESIS.to_owned()),
        };
        let mut verifier = ChainVerifier::new();
        let mut after = 0;
        loop {
            let chunk = self.audit_rows(trail, after, head_seq, 1_000).await?;
            let Some(last) = chunk.last() else { break };
            after = last.seq;
            chunk.iter().for_each(|e| verifier.push(e));
        }
        let mut report = verifier.finish();
        // The chain must end at the head: a removed newest event shows here.
        let events = i64::try_from(report.events).unwrap_or(i64::MAX);
        if report.valid && (head_seq != events || head_hash != report.head) {
            report.valid = false;
            report.first_bad_seq = Some(match head_seq.cmp(&events) {
                std::cmp::Ordering::Greater => events + 1,
                std::cmp::Ordering::Less => head_seq + 1,
                std::cmp::Ordering::Equal => events.max(1),
            });
        }
        Ok(report)
    }
}
