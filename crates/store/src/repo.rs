// The repository implementation shared by both backends. `sqlite.rs` and `postgres.rs` each
// include this file after naming their database type `Db` and their `BEGIN_WRITE` statement, so
// one body of portable SQL serves both engines with their native drivers.

use crate::types::*;
use crate::{Result, StoreError};
use sqlx::Row;
use tenantry_domain::audit::{ChainVerifier, GENESIS, Verification};
use tenantry_domain::authz::{Basis, BelowScope, Grant, Permission};
use tenantry_domain::clock::{from_micros, to_micros};
use tenantry_domain::{
    AccessSessionId, Account, AccountId, AccountKind, AccountStatus, ApiTokenId, AuditActor, AuditEvent, AuditTarget,
    Certificate, CertificateId, Collection, CollectionId, DomainError, Limits, Resource, Agent, AgentId, SupportRequest, SupportRequestId, Email, EventId, MonitoredTarget, Outcome, Plan, Role, SessionId, Slug, TargetId, TlsCheck, User, UserId,
    UserStatus,
};
use time::OffsetDateTime;

type Tx = sqlx::Transaction<'static, Db>;
type DbRow = <Db as sqlx::Database>::Row;

/// The store over one pool.
pub struct Repo {
    pool: sqlx::Pool<Db>,
    clock: Arc<dyn Clock>,
}

macro_rules! account_cols {
    () => {
        "id, kind, name, slug, parent_id, status, plan, sso_mandatory, contact_email, region, created_at, deletion_deadline"
    };
}

macro_rules! user_cols {
    () => {
        "id, account_id, email, name, role, status, mfa_enabled, expires_at, created_at, last_login_at"
    };
}

/// Account columns of `accounts a`, renamed `a_*`, and user columns of `users u`, renamed `u_*`.
macro_rules! joined_account_user_cols {
    () => {
        "a.id AS a_id, a.kind AS a_kind, a.name AS a_name, a.slug AS a_slug, a.parent_id AS a_parent_id, \
         a.status AS a_status, a.plan AS a_plan, a.sso_mandatory AS a_sso_mandatory, \
         a.contact_email AS a_contact_email, a.region AS a_region, a.created_at AS a_created_at, \
         a.deletion_deadline AS a_deletion_deadline, \
         u.id AS u_id, u.account_id AS u_account_id, u.email AS u_email, u.name AS u_name, u.role AS u_role, \
         u.status AS u_status, u.mfa_enabled AS u_mfa_enabled, u.expires_at AS u_expires_at, \
         u.created_at AS u_created_at, u.last_login_at AS u_last_login_at"
    };
}

/// Whether account `a` or one of its ancestors is suspended or pending deletion.
macro_rules! blocked_expr {
    () => {
        "EXISTS (SELECT 1 FROM account_closure bc JOIN accounts bx ON bx.id = bc.ancestor \
         WHERE bc.descendant = a.id AND bx.status <> 'active')"
    };
}

macro_rules! event_cols {
    () => {
        "l.trail_account_id, l.seq, l.prev_hash, l.hash, e.id, e.at, e.account_id, e.action, e.outcome, \
         e.actor_user_id, e.actor_email, e.actor_account_id, e.actor_account_name, e.access_session_id, \
         e.target_type, e.target_id, e.ip, e.details"
    };
}

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Domain(DomainError::Internal(format!("stored {what} unreadable: {detail}")))
}

fn parse_col<T: std::str::FromStr>(row: &DbRow, col: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    let text: String = row.try_get(col)?;
    text.parse().map_err(|e| corrupt(col, e))
}

fn parse_opt_col<T: std::str::FromStr>(row: &DbRow, col: &str) -> Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    let text: Option<String> = row.try_get(col)?;
    text.map(|t| t.parse().map_err(|e| corrupt(col, e))).transpose()
}

fn opt_time(row: &DbRow, col: &str) -> Result<Option<OffsetDateTime>> {
    Ok(row.try_get::<Option<i64>, _>(col)?.map(from_micros))
}

fn account_from_row(row: &DbRow) -> Result<Account> {
    account_from_row_as(row, "")
}

/// Reads an account from columns named with `prefix` (for joins).
fn account_from_row_as(row: &DbRow, prefix: &str) -> Result<Account> {
    let c = |name: &str| format!("{prefix}{name}");
    Ok(Account {
        id: parse_col(row, &c("id"))?,
        kind: parse_col(row, &c("kind"))?,
        name: row.try_get(c("name").as_str())?,
        slug: Slug::from_stored(row.try_get(c("slug").as_str())?),
        parent_id: parse_opt_col(row, &c("parent_id"))?,
        status: parse_col(row, &c("status"))?,
        plan: parse_col(row, &c("plan"))?,
        sso_mandatory: row.try_get(c("sso_mandatory").as_str())?,
        contact_email: row.try_get(c("contact_email").as_str())?,
        region: row.try_get(c("region").as_str())?,
        created_at: from_micros(row.try_get(c("created_at").as_str())?),
        deletion_deadline: opt_time(row, &c("deletion_deadline"))?,
    })
}

fn user_from_row(row: &DbRow) -> Result<User> {
    user_from_row_as(row, "")
}

/// Reads a user from columns named with `prefix` (for joins).
fn user_from_row_as(row: &DbRow, prefix: &str) -> Result<User> {
    let c = |name: &str| format!("{prefix}{name}");
    Ok(User {
        id: parse_col(row, &c("id"))?,
        account_id: parse_col(row, &c("account_id"))?,
        email: Email::from_stored(row.try_get(c("email").as_str())?),
        name: row.try_get(c("name").as_str())?,
        role: parse_col(row, &c("role"))?,
        status: parse_col(row, &c("status"))?,
        mfa_enabled: row.try_get(c("mfa_enabled").as_str())?,
        expires_at: opt_time(row, &c("expires_at"))?,
        created_at: from_micros(row.try_get(c("created_at").as_str())?),
        last_login_at: opt_time(row, &c("last_login_at"))?,
    })
}

fn event_from_row(row: &DbRow) -> Result<AuditEvent> {
    let outcome: String = row.try_get("outcome")?;
    let details: String = row.try_get("details")?;
    Ok(AuditEvent {
        id: parse_col(row, "id")?,
        trail_account_id: parse_col(row, "trail_account_id")?,
        seq: row.try_get("seq")?,
        at: from_micros(row.try_get("at")?),
        account_id: parse_col(row, "account_id")?,
        action: row.try_get("action")?,
        outcome: Outcome::parse(&outcome).ok_or_else(|| corrupt("outcome", &outcome))?,
        actor: AuditActor {
            user_id: parse_opt_col(row, "actor_user_id")?,
            email: row.try_get("actor_email")?,
            account_id: parse_opt_col(row, "actor_account_id")?,
            account_name: row.try_get("actor_account_name")?,
        },
        access_session_id: row.try_get("access_session_id")?,
        target: AuditTarget { kind: row.try_get("target_type")?, id: row.try_get("target_id")? },
        ip: row.try_get("ip")?,
        details: serde_json::from_str(&details).map_err(|e| corrupt("details", e))?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

macro_rules! access_session_cols {
    () => {
        "id, account_id, actor_user_id, actor_email, actor_account_id, signin_session_id, reason, started_at, \
         expires_at, ended_at, end_reason"
    };
}

macro_rules! api_token_cols {
    () => {
        "t.id, t.account_id, t.name, t.role, t.created_by, t.created_at, t.expires_at, t.last_used_at, t.revoked_at"
    };
}

fn access_session_from_row(row: &DbRow) -> Result<AccessSessionRecord> {
    Ok(AccessSessionRecord {
        id: parse_col(row, "id")?,
        account_id: parse_col(row, "account_id")?,
        actor_user_id: parse_col(row, "actor_user_id")?,
        actor_email: row.try_get("actor_email")?,
        actor_account_id: parse_col(row, "actor_account_id")?,
        signin_session_id: parse_col(row, "signin_session_id")?,
        reason: row.try_get("reason")?,
        started_at: from_micros(row.try_get("started_at")?),
        expires_at: from_micros(row.try_get("expires_at")?),
        ended_at: opt_time(row, "ended_at")?,
        end_reason: row.try_get("end_reason")?,
    })
}

fn api_token_from_row(row: &DbRow) -> Result<ApiTokenRecord> {
    Ok(ApiTokenRecord {
        id: parse_col(row, "id")?,
        account_id: parse_col(row, "account_id")?,
        name: row.try_get("name")?,
        role: parse_col(row, "role")?,
        created_by: parse_col(row, "created_by")?,
        created_at: from_micros(row.try_get("created_at")?),
        expires_at: from_micros(row.try_get("expires_at")?),
        last_used_at: opt_time(row, "last_used_at")?,
        revoked_at: opt_time(row, "revoked_at")?,
    })
}

macro_rules! certificate_cols {
    () => {
        "id, account_id, collection_id, subject, sans, issuer, serial, not_before, not_after, fingerprint_sha256, \
         key_type, key_bits, created_at"
    };
}

fn certificate_from_row(row: &DbRow) -> Result<Certificate> {
    let sans: String = row.try_get("sans")?;
    Ok(Certificate {
        id: parse_col(row, "id")?,
        account_id: parse_col(row, "account_id")?,
        collection_id: parse_col(row, "collection_id")?,
        subject: row.try_get("subject")?,
        sans: serde_json::from_str(&sans).map_err(|e| corrupt("sans", e))?,
        issuer: row.try_get("issuer")?,
        serial: row.try_get("serial")?,
        not_before: from_micros(row.try_get("not_before")?),
        not_after: from_micros(row.try_get("not_after")?),
        fingerprint_sha256: row.try_get("fingerprint_sha256")?,
        key_type: row.try_get("key_type")?,
        key_bits: u32::try_from(row.try_get::<i64, _>("key_bits")?).unwrap_or(0),
        created_at: from_micros(row.try_get("created_at")?),
    })
}

/// What `q` searches in a certificate: its subject and SAN names, lowercased here so that both
/// engines fold case alike.
fn names_key(c: &Certificate) -> String {
    std::iter::once(c.subject.as_str()).chain(c.sans.iter().map(String::as_str)).collect::<Vec<_>>().join("\n").to_lowercase()
}

/// `%text%` for a case-insensitive LIKE, with the wildcards in `text` escaped.
fn contains_pattern(text: &str) -> String {
    let escaped = text.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

macro_rules! support_cols {
    () => {
        "r.id, r.from_account_id, a.name AS account_name, r.to_account_id, r.created_by, r.created_by_email, \
         r.subject, r.message, r.status, r.created_at, r.updated_at"
    };
}

fn support_from_row(row: &DbRow) -> Result<SupportRequest> {
    Ok(SupportRequest {
        id: parse_col(row, "id")?,
        account_id: parse_col(row, "from_account_id")?,
        account_name: row.try_get("account_name")?,
        to_account_id: parse_col(row, "to_account_id")?,
        created_by: parse_col(row, "created_by")?,
        created_by_email: row.try_get("created_by_email")?,
        subject: row.try_get("subject")?,
        message: row.try_get("message")?,
        status: row.try_get("status")?,
        created_at: from_micros(row.try_get("created_at")?),
        updated_at: from_micros(row.try_get("updated_at")?),
    })
}

fn branding_from_row(row: &DbRow) -> Result<BrandingFields> {
    Ok(BrandingFields {
        display_name: row.try_get("display_name")?,
        support_email: row.try_get("support_email")?,
        support_phone: row.try_get("support_phone")?,
        homepage_url: row.try_get("homepage_url")?,
    })
}

/// The nearest account at or above `$1` that has a branding record.
macro_rules! nearest_branding {
    ($cols:literal) => {
        concat!(
            "SELECT ",
            $cols,
            " FROM account_closure c JOIN branding b ON b.account_id = c.ancestor WHERE c.descendant = $1 ",
            "ORDER BY c.depth LIMIT 1"
        )
    };
}

macro_rules! agent_cols {
    () => {
        "g.id, g.account_id, g.collection_id, g.name, g.created_at, g.last_seen_at, g.last_hostname, g.revoked_at, \
         (SELECT COUNT(*) FROM certificates x WHERE x.agent_id = g.id) AS certificate_count"
    };
}

fn agent_from_row(row: &DbRow) -> Result<Agent> {
    Ok(Agent {
        id: parse_col(row, "id")?,
        account_id: parse_col(row, "account_id")?,
        collection_id: parse_col(row, "collection_id")?,
        name: row.try_get("name")?,
        created_at: from_micros(row.try_get("created_at")?),
        last_seen_at: opt_time(row, "last_seen_at")?,
        last_hostname: row.try_get("last_hostname")?,
        certificate_count: row.try_get("certificate_count")?,
        revoked_at: opt_time(row, "revoked_at")?,
    })
}

fn collection_from_row(row: &DbRow) -> Result<Collection> {
    Ok(Collection {
        id: parse_col(row, "id")?,
        account_id: parse_col(row, "account_id")?,
        name: row.try_get("name")?,
        created_at: from_micros(row.try_get("created_at")?),
        updated_at: from_micros(row.try_get("updated_at")?),
    })
}

/// Maps a unique violation on users' email to `EmailTaken`, on slugs to `Conflict`.
fn unique_violation(err: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &err
        && db.is_unique_violation()
    {
        let text = format!("{} {}", db.message(), db.constraint().unwrap_or_default());
        if text.contains("email_key") {
            return DomainError::EmailTaken.into();
        }
        if text.contains("slug") {
            return DomainError::Conflict("slug is already in use".into()).into();
        }
    }
    err.into()
}

macro_rules! target_cols {
    () => {
        "id, account_id, collection_id, hostname, port, created_at, updated_at, next_check_at, checked_at, not_after, \
         subject, issuer, error"
    };
}

fn target_from_row(row: &DbRow) -> Result<MonitoredTarget> {
    let port: i64 = row.try_get("port")?;
    let last_check = match opt_time(row, "checked_at")? {
        Some(checked_at) => Some(TlsCheck {
            checked_at,
            not_after: opt_time(row, "not_after")?,
            subject: row.try_get("subject")?,
            issuer: row.try_get("issuer")?,
            error: row.try_get("error")?,
        }),
        None => None,
    };
    Ok(MonitoredTarget {
        id: parse_col(row, "id")?,
        account_id: parse_col(row, "account_id")?,
        collection_id: parse_col(row, "collection_id")?,
        hostname: row.try_get("hostname")?,
        port: u16::try_from(port).map_err(|e| corrupt("port", e))?,
        created_at: from_micros(row.try_get("created_at")?),
        updated_at: from_micros(row.try_get("updated_at")?),
        next_check_at: from_micros(row.try_get("next_check_at")?),
        last_check,
    })
}

fn leased_from_row(row: &DbRow) -> Result<LeasedTarget> {
    let port: i64 = row.try_get("port")?;
    Ok(LeasedTarget {
        id: parse_col(row, "id")?,
        account_id: parse_col(row, "account_id")?,
        hostname: row.try_get("hostname")?,
        port: u16::try_from(port).map_err(|e| corrupt("port", e))?,
    })
}

fn expiring_from_row(row: &DbRow) -> Result<ExpiringItem> {
    let kind: String = row.try_get("kind")?;
    Ok(ExpiringItem {
        kind: if kind == "target" { "target" } else { "certificate" },
        id: row.try_get("id")?,
        account_id: parse_col(row, "account_id")?,
        account_name: row.try_get("account_name")?,
        collection_id: parse_col(row, "collection_id")?,
        name: row.try_get("name")?,
        not_after: from_micros(row.try_get("not_after")?),
        error: row.try_get("error")?,
    })
}

fn page_of<T>(mut items: Vec<T>, limit: u32, cursor: impl Fn(&T) -> String) -> Page<T> {
    let limit = limit as usize;
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(cursor)
    } else {
        None
    };
    Page { items, next }
}

fn fetch_limit(page: &PageRequest) -> i64 {
    i64::from(page.limit) + 1
}

/// The audit event of a change, linked into the acted-on account's trail and those above it.
fn change(account_id: AccountId, action: &str, target: AuditTarget, details: serde_json::Value) -> AuditDraft {
    AuditDraft {
        account_id,
        action: action.to_owned(),
        outcome: Outcome::Success,
        target,
        details,
        linking: Linking::UpToActor,
    }
}

fn target(kind: &str, id: impl ToString) -> AuditTarget {
    AuditTarget { kind: kind.to_owned(), id: Some(id.to_string()) }
}

/// What an import stored: each certificate with whether it was already there, and the
/// fingerprints added and found.
struct Imported {
    results: Vec<(Certificate, bool)>,
    added: Vec<String>,
    duplicates: Vec<String>,
}

/// Which open access sessions an implicit end applies to.
enum Ending {
    /// Those of one sign-in (sign-out, sign-in expiry).
    SignIn(SessionId),
    /// Those a user opened, except from the sign-in whose id is given (may be empty).
    ActorExcept(UserId, String),
    /// Those a user opened into one customer (unassignment).
    ActorInto(UserId, AccountId),
    /// Those opened by an account's password users (mandatory SSO switched on).
    UsersOf(AccountId),
}

impl Repo {
    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    async fn begin_write(&self) -> Result<Tx> {
        Ok(self.pool.begin_with(BEGIN_WRITE).await?)
    }

    /// Takes an attempt's reservation back, inside the caller's transaction.
    async fn release_in(tx: &mut Tx, reservation: &Reservation) -> Result<()> {
        for id in reservation.ids() {
            sqlx::query("DELETE FROM login_failures WHERE id = $1").bind(id).execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Appends one event to every trail it belongs to, inside the caller's transaction.
    async fn append(tx: &mut Tx, now: OffsetDateTime, draft: &AuditDraft, ctx: &Ctx) -> Result<EventId> {
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
        .bind(&draft.action)
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
            let head = sqlx::query(
                "UPDATE audit_trails SET seq = seq + 1 WHERE account_id = $1 RETURNING seq, head_hash",
            )
            .bind(trail.to_string())
            .fetch_one(&mut **tx)
            .await?;
            let mut event = AuditEvent {
                id,
                trail_account_id: trail,
                seq: head.try_get("seq")?,
                at: now,
                account_id: draft.account_id,
                action: draft.action.clone(),
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
        }
        Ok(id)
    }

    /// The trails an event belongs to; see [`Linking`].
    async fn trails_of(tx: &mut Tx, draft: &AuditDraft, ctx: &Ctx) -> Result<Vec<AccountId>> {
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

    /// The limits in force for an account: those its MSP set, else its plan's (none for partners).
    async fn limits_of(tx: &mut Tx, account: &Account) -> Result<Option<Limits>> {
        let row = sqlx::query("SELECT users, certificates, agents, targets FROM account_limits WHERE account_id = $1")
            .bind(account.id.to_string())
            .fetch_optional(&mut **tx)
            .await?;
        Ok(match row {
            Some(r) => Some(Limits {
                users: r.try_get("users")?,
                certificates: r.try_get("certificates")?,
                agents: r.try_get("agents")?,
                targets: r.try_get("targets")?,
            }),
            None => account.plan.default_limits(),
        })
    }

    /// What an account holds.
    async fn usage_of(tx: &mut Tx, account: AccountId) -> Result<Limits> {
        let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE account_id = $1")
            .bind(account.to_string())
            .fetch_one(&mut **tx)
            .await?;
        let certificates: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM certificates WHERE account_id = $1")
            .bind(account.to_string())
            .fetch_one(&mut **tx)
            .await?;
        let agents: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM agents WHERE account_id = $1 AND revoked_at IS NULL")
            .bind(account.to_string())
            .fetch_one(&mut **tx)
            .await?;
        let targets: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM targets WHERE account_id = $1")
            .bind(account.to_string())
            .fetch_one(&mut **tx)
            .await?;
        Ok(Limits { users, certificates, agents, targets })
    }

    /// Refuses to add `adding` of `resource` beyond the account's limit. Locks the account first, so
    /// concurrent requests cannot together overshoot it.
    async fn enforce_limit(tx: &mut Tx, account: AccountId, resource: Resource, adding: i64) -> Result<()> {
        Self::lock_account(tx, account).await?;
        let record = Self::account_in(tx, account).await?;
        let Some(limits) = Self::limits_of(tx, &record).await? else { return Ok(()) };
        let usage = Self::usage_of(tx, account).await?;
        let limit = limits.of(resource);
        if usage.of(resource) + adding > limit {
            return Err(DomainError::PlanLimitReached { resource: resource.as_str(), limit }.into());
        }
        Ok(())
    }

    /// Locks an account's row until the transaction ends (a no-op write: a row lock on
    /// PostgreSQL, and SQLite's write transactions are serial anyway), so that creating a child and
    /// scheduling the parent's deletion cannot interleave.
    async fn lock_account(tx: &mut Tx, id: AccountId) -> Result<()> {
        sqlx::query("UPDATE accounts SET status = status WHERE id = $1").bind(id.to_string()).execute(&mut **tx).await?;
        Ok(())
    }

    async fn account_in(tx: &mut Tx, id: AccountId) -> Result<Account> {
        let row = sqlx::query(concat!("SELECT ", account_cols!(), " FROM accounts WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&mut **tx)
            .await?
            .ok_or(DomainError::NotFound)?;
        account_from_row(&row)
    }

    async fn user_in(tx: &mut Tx, account: AccountId, id: UserId) -> Result<User> {
        let row = sqlx::query(concat!("SELECT ", user_cols!(), " FROM users WHERE account_id = $1 AND id = $2"))
            .bind(account.to_string())
            .bind(id.to_string())
            .fetch_optional(&mut **tx)
            .await?
            .ok_or(DomainError::NotFound)?;
        user_from_row(&row)
    }

    /// Inserts an account and its closure rows.
    async fn insert_account(tx: &mut Tx, now: OffsetDateTime, id: AccountId, parent: Option<AccountId>, new: &NewAccount, slug: &Slug) -> Result<Account> {
        sqlx::query(
            "INSERT INTO accounts (id, kind, name, slug, parent_id, status, plan, sso_mandatory, contact_email, region, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'active', $6, FALSE, $7, $8, $9)",
        )
        .bind(id.to_string())
        .bind(new.kind.as_str())
        .bind(&new.name)
        .bind(slug.as_str())
        .bind(parent.map(|p| p.to_string()))
        .bind(new.plan.as_str())
        .bind(&new.contact_email)
        .bind(&new.region)
        .bind(to_micros(now))
        .execute(&mut **tx)
        .await
        .map_err(unique_violation)?;
        sqlx::query("INSERT INTO account_closure (ancestor, descendant, depth) VALUES ($1, $1, 0)")
            .bind(id.to_string())
            .execute(&mut **tx)
            .await?;
        if let Some(parent) = parent {
            sqlx::query(
                "INSERT INTO account_closure (ancestor, descendant, depth) \
                 SELECT ancestor, $1, depth + 1 FROM account_closure WHERE descendant = $2",
            )
            .bind(id.to_string())
            .bind(parent.to_string())
            .execute(&mut **tx)
            .await?;
        }
        Self::account_in(tx, id).await
    }

    /// The slug to use: the client's, or the name's with the first free numeric suffix.
    async fn free_slug(tx: &mut Tx, new: &NewAccount) -> Result<Slug> {
        if let Some(slug) = &new.slug {
            return Ok(slug.clone());
        }
        let base = Slug::from_name(&new.name);
        let mut candidate = base.clone();
        for n in 2..1_000u32 {
            let taken: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts WHERE slug = $1")
                .bind(candidate.as_str())
                .fetch_one(&mut **tx)
                .await?;
            if taken == 0 {
                return Ok(candidate);
            }
            candidate = base.with_suffix(n);
        }
        Err(DomainError::Conflict("no free slug; give one".into()).into())
    }

    async fn insert_user(tx: &mut Tx, now: OffsetDateTime, account: AccountId, new: &NewUser) -> Result<User> {
        let id = UserId::new();
        let status = if new.password_hash.is_some() { UserStatus::Active } else { UserStatus::Invited };
        sqlx::query(
            "INSERT INTO users (id, account_id, email, email_key, name, role, status, password_hash, mfa_enabled, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, FALSE, $9, $10)",
        )
        .bind(id.to_string())
        .bind(account.to_string())
        .bind(new.email.as_str())
        .bind(new.email.key())
        .bind(&new.name)
        .bind(new.role.as_str())
        .bind(status.as_str())
        .bind(&new.password_hash)
        .bind(new.expires_at.map(to_micros))
        .bind(to_micros(now))
        .execute(&mut **tx)
        .await
        .map_err(unique_violation)?;
        if let Some(activation) = &new.activation {
            sqlx::query(
                "INSERT INTO activation_tokens (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(&activation.token_hash)
            .bind(id.to_string())
            .bind(to_micros(now))
            .bind(to_micros(activation.expires_at))
            .execute(&mut **tx)
            .await?;
        }
        Self::user_in(tx, account, id).await
    }

    /// Ends a user's sign-ins (but `keep`) and the access sessions they opened.
    async fn end_user_sessions(
        tx: &mut Tx,
        now: OffsetDateTime,
        user: UserId,
        keep: Option<SessionId>,
        reason: &str,
        ctx: &Ctx,
    ) -> Result<()> {
        let keep = keep.map(|k| k.to_string()).unwrap_or_default();
        sqlx::query("UPDATE sessions SET ended_at = $2 WHERE user_id = $1 AND ended_at IS NULL AND id <> $3")
            .bind(user.to_string())
            .bind(to_micros(now))
            .bind(&keep)
            .execute(&mut **tx)
            .await?;
        Self::end_access_sessions(tx, now, Ending::ActorExcept(user, keep), reason, ctx).await?;
        Ok(())
    }

    /// Ends the open access sessions `ending` names, each with its `access_session.ended` event in
    /// the customer's trail and the actor's, inside the caller's transaction; returns how many.
    async fn end_access_sessions(tx: &mut Tx, now: OffsetDateTime, ending: Ending, reason: &str, ctx: &Ctx) -> Result<u64> {
        Self::end_access_sessions_at(tx, now, now, ending, reason, ctx).await
    }

    /// `end_access_sessions`, recording `ended_at` as the moment they ended (a lapsed sign-in's
    /// lapse, before `now`, when its events are written).
    async fn end_access_sessions_at(
        tx: &mut Tx,
        now: OffsetDateTime,
        ended_at: OffsetDateTime,
        ending: Ending,
        reason: &str,
        ctx: &Ctx,
    ) -> Result<u64> {
        let rows = match &ending {
            Ending::SignIn(signin) => {
                sqlx::query("SELECT id, account_id FROM access_sessions WHERE signin_session_id = $1 AND ended_at IS NULL")
                    .bind(signin.to_string())
                    .fetch_all(&mut **tx)
                    .await?
            }
            Ending::ActorExcept(user, keep) => {
                sqlx::query(
                    "SELECT id, account_id FROM access_sessions WHERE actor_user_id = $1 AND signin_session_id <> $2 \
                     AND ended_at IS NULL",
                )
                .bind(user.to_string())
                .bind(keep)
                .fetch_all(&mut **tx)
                .await?
            }
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
                     (SELECT id FROM users WHERE account_id = $1 AND role <> 'sso_admin')",
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
            let draft = change(customer, "access_session.ended", target("access_session", id), serde_json::json!({ "reason": reason }));
            Self::append(tx, now, &draft, &ctx).await?;
        }
        Ok(ended)
    }

    /// The MSP's `msp_staff` user `user`, or `NotFound` / a validation error.
    async fn staff_member(tx: &mut Tx, msp: AccountId, user: UserId) -> Result<User> {
        let user = Self::user_in(tx, msp, user).await?;
        if user.role != Role::MspStaff {
            return Err(DomainError::invalid("user_id", "only msp_staff users are assigned to customers").into());
        }
        Ok(user)
    }

    /// A customer directly under the MSP, or `NotFound`.
    async fn customer_of(tx: &mut Tx, msp: AccountId, customer: AccountId) -> Result<Account> {
        let account = Self::account_in(tx, customer).await?;
        if account.parent_id != Some(msp) || account.kind != AccountKind::Customer {
            return Err(DomainError::NotFound.into());
        }
        Ok(account)
    }

    async fn collection_in(tx: &mut Tx, account: AccountId, id: CollectionId) -> Result<Collection> {
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

    async fn set_account_status(&self, grant: &Grant, permission: Permission, action: &str, status: AccountStatus, deadline: Option<OffsetDateTime>, ctx: &Ctx) -> Result<Account> {
        let id = grant.scope(permission)?;
        let now = self.now();
        let mut tx = self.begin_write().await?;
        Self::lock_account(&mut tx, id).await?;
        let before = Self::account_in(&mut tx, id).await?;
        match status {
            AccountStatus::PendingDeletion => {
                let live: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM accounts WHERE parent_id = $1 AND status <> 'pending_deletion'",
                )
                .bind(id.to_string())
                .fetch_one(&mut *tx)
                .await?;
                if live > 0 {
                    return Err(DomainError::HasChildren.into());
                }
            }
            _ if before.status != AccountStatus::PendingDeletion => {
                return Err(DomainError::Conflict("the account is not pending deletion".into()).into());
            }
            _ => {}
        }
        sqlx::query("UPDATE accounts SET status = $2, deletion_deadline = $3 WHERE id = $1")
            .bind(id.to_string())
            .bind(status.as_str())
            .bind(deadline.map(to_micros))
            .execute(&mut *tx)
            .await?;
        let details = serde_json::json!({ "status": status.as_str(), "deletion_deadline": deadline.map(tenantry_domain::clock::rfc3339_micros) });
        Self::append(&mut tx, now, &change(id, action, target("account", id), details), ctx).await?;
        let account = Self::account_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(account)
    }

    /// Creates the platform account unless one exists.
    async fn create_platform(&self, name: &str) -> Result<(Account, bool)> {
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
        Self::append(&mut tx, now, &change(id, "account.created", target("account", id), details), &Ctx::default()).await?;
        tx.commit().await?;
        Ok((account, true))
    }

    /// Adds certificates to a collection inside the caller's transaction: those already in the
    /// account come back marked as duplicates; the plan's limit counts only new ones.
    async fn import_into(
        tx: &mut Tx,
        now: OffsetDateTime,
        account: AccountId,
        collection: CollectionId,
        certificates: Vec<NewCertificate>,
        agent: Option<AgentId>,
    ) -> Result<Imported> {
        Self::lock_account(tx, account).await?;
        // What the account already holds of these, in one query per chunk.
        let mut known: std::collections::HashMap<String, Certificate> = std::collections::HashMap::new();
        let fingerprints: Vec<&String> = certificates.iter().map(|c| &c.fingerprint_sha256).collect();
        for chunk in fingerprints.chunks(500) {
            let mut query = sqlx::QueryBuilder::<Db>::new(concat!("SELECT ", certificate_cols!(), " FROM certificates WHERE account_id = "));
            query.push_bind(account.to_string()).push(" AND fingerprint_sha256 IN (");
            let mut list = query.separated(", ");
            for fingerprint in chunk {
                list.push_bind((*fingerprint).clone());
            }
            query.push(")");
            for row in query.build().fetch_all(&mut **tx).await? {
                let certificate = certificate_from_row(&row)?;
                known.insert(certificate.fingerprint_sha256.clone(), certificate);
            }
        }
        let fresh: std::collections::HashSet<&String> = fingerprints.iter().copied().filter(|f| !known.contains_key(*f)).collect();
        Self::enforce_limit(tx, account, Resource::Certificates, i64::try_from(fresh.len()).unwrap_or(i64::MAX)).await?;
        let created_at = tenantry_domain::clock::truncate_to_micros(now);
        let mut results = Vec::with_capacity(certificates.len());
        let (mut added, mut duplicates) = (Vec::new(), Vec::new());
        let mut inserting = Vec::new();
        for new in certificates {
            if let Some(existing) = known.get(&new.fingerprint_sha256) {
                duplicates.push(new.fingerprint_sha256.clone());
                results.push((existing.clone(), true));
                continue;
            }
            let certificate = Certificate {
                id: CertificateId::new(),
                account_id: account,
                collection_id: collection,
                subject: new.subject.clone(),
                sans: new.sans.clone(),
                issuer: new.issuer.clone(),
                serial: new.serial.clone(),
                not_before: tenantry_domain::clock::truncate_to_micros(new.not_before),
                not_after: tenantry_domain::clock::truncate_to_micros(new.not_after),
                fingerprint_sha256: new.fingerprint_sha256.clone(),
                key_type: new.key_type.clone(),
                key_bits: new.key_bits,
                created_at,
            };
            known.insert(new.fingerprint_sha256.clone(), certificate.clone());
            added.push(new.fingerprint_sha256.clone());
            results.push((certificate.clone(), false));
            let sans = serde_json::to_string(&certificate.sans).map_err(|e| corrupt("sans", e))?;
            inserting.push((certificate, sans, new.pem));
        }
        // Many rows to a statement (17 parameters each, well under either engine's limit).
        for chunk in inserting.chunks(200) {
            let mut query = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO certificates (id, account_id, collection_id, subject, sans, issuer, serial, not_before, \
                 not_after, fingerprint_sha256, key_type, key_bits, pem, created_at, agent_id, names_key, issuer_key) ",
            );
            query.push_values(chunk, |mut row, (c, sans, pem)| {
                row.push_bind(c.id.to_string())
                    .push_bind(c.account_id.to_string())
                    .push_bind(c.collection_id.to_string())
                    .push_bind(c.subject.clone())
                    .push_bind(sans.clone())
                    .push_bind(c.issuer.clone())
                    .push_bind(c.serial.clone())
                    .push_bind(to_micros(c.not_before))
                    .push_bind(to_micros(c.not_after))
                    .push_bind(c.fingerprint_sha256.clone())
                    .push_bind(c.key_type.clone())
                    .push_bind(i64::from(c.key_bits))
                    .push_bind(pem.clone())
                    .push_bind(to_micros(c.created_at))
                    .push_bind(agent.map(|a| a.to_string()))
                    .push_bind(names_key(c))
                    .push_bind(c.issuer.to_lowercase());
            });
            query.build().execute(&mut **tx).await?;
        }
        Ok(Imported { results, added, duplicates })
    }

    async fn agent_in(tx: &mut Tx, account: AccountId, id: AgentId) -> Result<Agent> {
        let row = sqlx::query(concat!("SELECT ", agent_cols!(), " FROM agents g WHERE g.account_id = $1 AND g.id = $2"))
            .bind(account.to_string())
            .bind(id.to_string())
            .fetch_optional(&mut **tx)
            .await?
            .ok_or(DomainError::NotFound)?;
        agent_from_row(&row)
    }

    /// Revokes one credential of an account (`sql` takes the account, the id and the time) and
    /// records `action` if it was still live; revoking twice records nothing.
    /// The branding `account`'s users see: its own record or its nearest ancestor's.
    async fn effective_branding_of(&self, account: AccountId) -> Result<EffectiveBranding> {
        let row = sqlx::query(nearest_branding!(
            "b.display_name, b.support_email, b.support_phone, b.homepage_url, \
             b.logo_light IS NOT NULL AS has_light, b.logo_dark IS NOT NULL AS has_dark"
        ))
        .bind(account.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(EffectiveBranding::default()) };
        Ok(EffectiveBranding {
            fields: branding_from_row(&row)?,
            has_light_logo: row.try_get("has_light")?,
            has_dark_logo: row.try_get("has_dark")?,
        })
    }

    async fn effective_logo_of(&self, account: AccountId, variant: LogoVariant) -> Result<Option<Logo>> {
        let sql = match variant {
            LogoVariant::Light => nearest_branding!("b.logo_light AS bytes, b.logo_light_type AS content_type"),
            LogoVariant::Dark => nearest_branding!("b.logo_dark AS bytes, b.logo_dark_type AS content_type"),
        };
        let row = sqlx::query(sql).bind(account.to_string()).fetch_optional(&self.pool).await?;
        let Some(row) = row else { return Ok(None) };
        let bytes: Option<Vec<u8>> = row.try_get("bytes")?;
        let content_type: Option<String> = row.try_get("content_type")?;
        Ok(bytes.zip(content_type).map(|(bytes, content_type)| Logo { bytes, content_type }))
    }

    /// The account a login page `/login/{slug}` is branded for: the platform, a partner or an
    /// MSP — never a customer, whose name a public page must not confirm.
    async fn login_account(&self, slug: &str) -> Result<Option<AccountId>> {
        let id: Option<String> = sqlx::query_scalar("SELECT id FROM accounts WHERE slug = $1 AND kind <> 'customer'")
            .bind(slug)
            .fetch_optional(&self.pool)
            .await?;
        id.map(|i| i.parse().map_err(|e| corrupt("id", e))).transpose()
    }

    /// Fills the search keys of certificates stored before they existed, a batch at a time.
    async fn backfill_search_keys(&self) -> Result<()> {
        let mut after = String::new();
        loop {
            let mut tx = self.begin_write().await?;
            let rows = sqlx::query(concat!(
                "SELECT ",
                certificate_cols!(),
                " FROM certificates WHERE names_key = '' AND id > $1 ORDER BY id LIMIT 500"
            ))
            .bind(&after)
            .fetch_all(&mut *tx)
            .await?;
            let Some(last) = rows.last() else { return Ok(()) };
            after = last.try_get("id")?;
            for row in &rows {
                let c = certificate_from_row(row)?;
                sqlx::query("UPDATE certificates SET names_key = $2, issuer_key = $3 WHERE id = $1")
                    .bind(c.id.to_string())
                    .bind(names_key(&c))
                    .bind(c.issuer.to_lowercase())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
    }

    async fn target_in(tx: &mut Tx, account: AccountId, id: TargetId) -> Result<MonitoredTarget> {
        let row = sqlx::query(concat!("SELECT ", target_cols!(), " FROM targets WHERE account_id = $1 AND id = $2"))
            .bind(account.to_string())
            .bind(id.to_string())
            .fetch_optional(&mut **tx)
            .await?
            .ok_or(DomainError::NotFound)?;
        target_from_row(&row)
    }

    /// Refuses a second target on the same `host:port` in one account.
    async fn refuse_duplicate_target(tx: &mut Tx, account: AccountId, hostname: &str, port: u16, except: Option<TargetId>) -> Result<()> {
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
    async fn store_check(
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

    async fn revoke_in(
        tx: &mut Tx,
        now: OffsetDateTime,
        sql: &'static str,
        account: AccountId,
        what: AuditTarget,
        action: &str,
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

    /// One row of an account by id: `sql` takes the account (`$1`) and the id (`$2`); none is
    /// `NotFound`, whether the row is missing or another account's.
    async fn row_of_account<T>(
        &self,
        sql: &'static str,
        account: AccountId,
        id: String,
        from_row: fn(&DbRow) -> Result<T>,
    ) -> Result<T> {
        let row = sqlx::query(sql)
            .bind(account.to_string())
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(DomainError::NotFound)?;
        from_row(&row)
    }

    /// One page of an account's rows, by id: `sql` takes the account (`$1`), the cursor (`$2`)
    /// and the limit (`$3`).
    async fn page_of_account<T>(
        &self,
        sql: &'static str,
        account: AccountId,
        page: &PageRequest,
        from_row: fn(&DbRow) -> Result<T>,
        cursor: fn(&T) -> String,
    ) -> Result<Page<T>> {
        let rows = sqlx::query(sql)
            .bind(account.to_string())
            .bind(&page.after)
            .bind(fetch_limit(page))
            .fetch_all(&self.pool)
            .await?;
        let items = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, cursor))
    }

    async fn subscription_in(tx: &mut Tx, id: AccountId) -> Result<Subscription> {
        let account = Self::account_in(tx, id).await?;
        let limits = Self::limits_of(tx, &account).await?;
        let usage = Self::usage_of(tx, id).await?;
        let parent = match account.parent_id {
            Some(parent) => Some(Self::account_in(tx, parent).await?),
            None => None,
        };
        let parent_branding = match &parent {
            Some(parent) => sqlx::query(
                "SELECT display_name, support_email, support_phone, homepage_url FROM branding WHERE account_id = $1",
            )
            .bind(parent.id.to_string())
            .fetch_optional(&mut **tx)
            .await?
            .as_ref()
            .map(branding_from_row)
            .transpose()?,
            None => None,
        };
        Ok(Subscription { account, limits, usage, parent, parent_branding })
    }

    async fn audit_rows(&self, trail: AccountId, after_seq: i64, until_seq: i64, limit: u32) -> Result<Vec<AuditEvent>> {
        let rows = sqlx::query(concat!(
            "SELECT ", event_cols!(), " FROM audit_links l JOIN audit_events e ON e.id = l.event_id ",
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
impl crate::Repository for Repo {
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

    async fn account_view(&self, id: AccountId, viewer: AccountId, viewer_user: UserId) -> Result<Option<AccountView>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            account_cols!(),
            ", (SELECT depth FROM account_closure WHERE ancestor = $2 AND descendant = a.id) AS depth_below_viewer, ",
            "EXISTS (SELECT 1 FROM staff_assignments WHERE user_id = $3 AND account_id = a.id) AS assigned ",
            "FROM accounts a WHERE a.id = $1"
        ))
        .bind(id.to_string())
        .bind(viewer.to_string())
        .bind(viewer_user.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(AccountView {
            account: account_from_row(&row)?,
            depth_below_viewer: row.try_get("depth_below_viewer")?,
            assigned_to_viewer: row.try_get("assigned")?,
        }))
    }

    async fn create_account(&self, parent: &Grant, new: NewAccount, admin: NewUser, ctx: &Ctx) -> Result<(Account, User)> {
        let parent_id = parent.scope(Permission::AccountCreate)?;
        let now = self.now();
        let mut tx = self.begin_write().await?;
        Self::lock_account(&mut tx, parent_id).await?;
        let parent = Self::account_in(&mut tx, parent_id).await?;
        if parent.status == AccountStatus::PendingDeletion {
            return Err(DomainError::Conflict("the parent account is pending deletion".into()).into());
        }
        if !parent.kind.may_parent(new.kind) || !admin.role.fits(new.kind) {
            return Err(DomainError::Forbidden(format!("a {} account cannot create a {} account", parent.kind, new.kind)).into());
        }
        let id = AccountId::new();
        let slug = Self::free_slug(&mut tx, &new).await?;
        let account = Self::insert_account(&mut tx, now, id, Some(parent_id), &new, &slug).await?;
        let user = Self::insert_user(&mut tx, now, id, &admin).await?;
        let details = serde_json::json!({
            "kind": account.kind.as_str(),
            "name": account.name,
            "slug": account.slug.as_str(),
            "plan": account.plan.as_str(),
            "parent_id": parent_id.to_string(),
            "initial_user": { "id": user.id.to_string(), "email": user.email.as_str(), "role": user.role.as_str() },
        });
        Self::append(&mut tx, now, &change(id, "account.created", target("account", id), details), ctx).await?;
        tx.commit().await?;
        Ok((account, user))
    }

    async fn list_accounts(&self, viewer: &Grant, scope: BelowScope, viewer_user: UserId, filter: &AccountFilter, page: &PageRequest) -> Result<Page<Account>> {
        let viewer_account = viewer.scope(Permission::AccountRead)?;
        let staff = match scope {
            BelowScope::All => None,
            BelowScope::Assigned => Some(viewer_user.to_string()),
            BelowScope::Nothing => return Ok(Page { items: Vec::new(), next: None }),
        };
        let pattern = filter.q.as_deref().map(contains_pattern);
        let rows = sqlx::query(
            "SELECT a.id, a.kind, a.name, a.slug, a.parent_id, a.status, a.plan, a.sso_mandatory, a.contact_email, \
             a.region, a.created_at, a.deletion_deadline \
             FROM accounts a JOIN account_closure c ON c.descendant = a.id \
             WHERE c.ancestor = $1 AND c.depth > 0 \
             AND ($2 IS NULL OR a.kind = $2) \
             AND ($3 IS NULL OR a.parent_id = $3) \
             AND ($4 IS NULL OR lower(a.name) LIKE $4 ESCAPE '\\' OR a.slug LIKE $4 ESCAPE '\\') \
             AND ($5 IS NULL OR a.id > $5) \
             AND ($6 IS NULL OR a.id IN (SELECT account_id FROM staff_assignments WHERE user_id = $6)) \
             ORDER BY a.id LIMIT $7",
        )
        .bind(viewer_account.to_string())
        .bind(filter.kind.map(AccountKind::as_str))
        .bind(filter.parent_id.map(|p| p.to_string()))
        .bind(pattern)
        .bind(&page.after)
        .bind(staff)
        .bind(fetch_limit(page))
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(account_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |a| a.id.to_string()))
    }

    async fn update_account(&self, grant: &Grant, patch: AccountPatch, ctx: &Ctx) -> Result<Account> {
        let id = grant.account_id();
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let before = Self::account_in(&mut tx, id).await?;
        if patch.status.is_some() && before.status == AccountStatus::PendingDeletion {
            return Err(DomainError::Conflict("the account is pending deletion; restore it first".into()).into());
        }
        let mut changes = serde_json::Map::new();
        if let Some(name) = &patch.name {
            changes.insert("name".into(), name.clone().into());
        }
        if let Some(slug) = &patch.slug {
            changes.insert("slug".into(), slug.as_str().into());
        }
        if let Some(email) = &patch.contact_email {
            changes.insert("contact_email".into(), email.clone().into());
        }
        if let Some(sso) = patch.sso_mandatory {
            changes.insert("sso_mandatory".into(), sso.into());
        }
        if let Some(status) = patch.status {
            changes.insert("status".into(), status.as_str().into());
        }
        sqlx::query(
            "UPDATE accounts SET name = $2, slug = $3, contact_email = $4, sso_mandatory = $5, status = $6 WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(patch.name.as_ref().unwrap_or(&before.name))
        .bind(patch.slug.as_ref().unwrap_or(&before.slug).as_str())
        .bind(patch.contact_email.clone().unwrap_or(before.contact_email.clone()))
        .bind(patch.sso_mandatory.unwrap_or(before.sso_mandatory))
        .bind(patch.status.unwrap_or(before.status).as_str())
        .execute(&mut *tx)
        .await
        .map_err(unique_violation)?;
        if patch.sso_mandatory == Some(true) && !before.sso_mandatory {
            sqlx::query(
                "UPDATE sessions SET ended_at = $2 WHERE ended_at IS NULL AND user_id IN \
                 (SELECT id FROM users WHERE account_id = $1 AND role <> 'sso_admin')",
            )
            .bind(id.to_string())
            .bind(to_micros(now))
            .execute(&mut *tx)
            .await?;
            Self::end_access_sessions(&mut tx, now, Ending::UsersOf(id), "sso_mandatory", ctx).await?;
        }
        let details = serde_json::json!({ "changes": changes });
        Self::append(&mut tx, now, &change(id, "account.updated", target("account", id), details), ctx).await?;
        let account = Self::account_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(account)
    }

    async fn schedule_deletion(&self, grant: &Grant, deadline: OffsetDateTime, ctx: &Ctx) -> Result<Account> {
        self.set_account_status(grant, Permission::AccountDelete, "account.deletion_scheduled", AccountStatus::PendingDeletion, Some(deadline), ctx)
            .await
    }

    async fn restore_account(&self, grant: &Grant, ctx: &Ctx) -> Result<Account> {
        self.set_account_status(grant, Permission::AccountDelete, "account.restored", AccountStatus::Active, None, ctx).await
    }

    async fn list_users(&self, grant: &Grant, page: &PageRequest) -> Result<Page<User>> {
        let account = grant.scope(Permission::UserRead)?;
        let sql =
            concat!("SELECT ", user_cols!(), " FROM users WHERE account_id = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3");
        self.page_of_account(sql, account, page, user_from_row, |u| u.id.to_string()).await
    }

    async fn get_user(&self, grant: &Grant, id: UserId) -> Result<User> {
        let account = grant.scope_any(&[Permission::UserRead, Permission::UserManage])?;
        let sql = concat!("SELECT ", user_cols!(), " FROM users WHERE account_id = $1 AND id = $2");
        self.row_of_account(sql, account, id.to_string(), user_from_row).await
    }

    async fn create_user(&self, grant: &Grant, new: NewUser, ctx: &Ctx) -> Result<User> {
        let account = grant.scope(Permission::UserManage)?;
        let now = self.now();
        let mut tx = self.begin_write().await?;
        Self::enforce_limit(&mut tx, account, Resource::Users, 1).await?;
        let user = Self::insert_user(&mut tx, now, account, &new).await?;
        let details = serde_json::json!({ "email": user.email.as_str(), "role": user.role.as_str(), "status": user.status.as_str() });
        Self::append(&mut tx, now, &change(account, "user.created", target("user", user.id), details), ctx).await?;
        tx.commit().await?;
        Ok(user)
    }

    async fn update_user(&self, grant: &Grant, id: UserId, patch: UserPatch, ctx: &Ctx) -> Result<User> {
        let account = grant.scope(Permission::UserManage)?;
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let before = Self::user_in(&mut tx, account, id).await?;
        let mut status = patch.status.unwrap_or(before.status);
        if status == UserStatus::Active && before.status == UserStatus::Invited && patch.password_hash.is_none() {
            status = UserStatus::Invited;
        }
        if before.status == UserStatus::Invited && patch.password_hash.is_some() && patch.status != Some(UserStatus::Disabled) {
            status = UserStatus::Active;
        }
        let mut changed: Vec<&str> = Vec::new();
        let mut flag = |cond: bool, name: &'static str| {
            if cond {
                changed.push(name);
            }
        };
        flag(patch.name.as_ref().is_some_and(|n| *n != before.name), "name");
        flag(patch.email.as_ref().is_some_and(|e| *e != before.email), "email");
        flag(patch.role.is_some_and(|r| r != before.role), "role");
        flag(status != before.status, "status");
        flag(patch.expires_at.is_some_and(|e| e != before.expires_at), "expires_at");
        flag(patch.password_hash.is_some(), "password");
        let email = patch.email.clone().unwrap_or(before.email.clone());
        sqlx::query(
            "UPDATE users SET name = $3, email = $4, email_key = $5, role = $6, status = $7, expires_at = $8, \
             password_hash = COALESCE($9, password_hash) WHERE account_id = $1 AND id = $2",
        )
        .bind(account.to_string())
        .bind(id.to_string())
        .bind(patch.name.as_ref().unwrap_or(&before.name))
        .bind(email.as_str())
        .bind(email.key())
        .bind(patch.role.unwrap_or(before.role).as_str())
        .bind(status.as_str())
        .bind(patch.expires_at.unwrap_or(before.expires_at).map(to_micros))
        .bind(&patch.password_hash)
        .execute(&mut *tx)
        .await
        .map_err(unique_violation)?;
        let ends_sign_ins = status == UserStatus::Disabled
            || patch.password_hash.is_some()
            || patch.role.is_some_and(|r| r != before.role);
        if ends_sign_ins {
            Self::end_user_sessions(&mut tx, now, id, None, "user_updated", ctx).await?;
        }
        let details = serde_json::json!({ "changed": changed, "status": status.as_str() });
        Self::append(&mut tx, now, &change(account, "user.updated", target("user", id), details), ctx).await?;
        let user = Self::user_in(&mut tx, account, id).await?;
        tx.commit().await?;
        Ok(user)
    }

    async fn delete_user(&self, grant: &Grant, id: UserId, ctx: &Ctx) -> Result<()> {
        let account = grant.scope(Permission::UserManage)?;
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let user = Self::user_in(&mut tx, account, id).await?;
        for sql in [
            "DELETE FROM sessions WHERE user_id = $1",
            "DELETE FROM activation_tokens WHERE user_id = $1",
            "DELETE FROM staff_assignments WHERE user_id = $1",
            "DELETE FROM users WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id.to_string()).execute(&mut *tx).await?;
        }
        sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE created_by = $1 AND revoked_at IS NULL")
            .bind(id.to_string())
            .bind(to_micros(now))
            .execute(&mut *tx)
            .await?;
        Self::end_access_sessions(&mut tx, now, Ending::ActorExcept(id, String::new()), "user_deleted", ctx).await?;
        let details = serde_json::json!({ "email": user.email.as_str(), "role": user.role.as_str() });
        Self::append(&mut tx, now, &change(account, "user.deleted", target("user", id), details), ctx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn create_user_as_operator(&self, account: AccountId, new: NewUser) -> Result<User> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let kind = Self::account_in(&mut tx, account).await?.kind;
        if !new.role.fits(kind) {
            return Err(DomainError::invalid("role", format!("`{}` does not fit a {kind} account", new.role)).into());
        }
        let user = Self::insert_user(&mut tx, now, account, &new).await?;
        let details = serde_json::json!({ "email": user.email.as_str(), "role": user.role.as_str(), "status": user.status.as_str(), "by": "operator" });
        Self::append(&mut tx, now, &change(account, "user.created", target("user", user.id), details), &Ctx::default()).await?;
        tx.commit().await?;
        Ok(user)
    }

    async fn reissue_activation(&self, email: &str, activation: ActivationSecret) -> Result<Option<User>> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(concat!("SELECT ", user_cols!(), " FROM users WHERE email_key = $1 AND status = 'invited'"))
            .bind(email.trim().to_lowercase())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let user = user_from_row(&row)?;
        sqlx::query("DELETE FROM activation_tokens WHERE user_id = $1").bind(user.id.to_string()).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO activation_tokens (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(&activation.token_hash)
            .bind(user.id.to_string())
            .bind(to_micros(now))
            .bind(to_micros(activation.expires_at))
            .execute(&mut *tx)
            .await?;
        let details = serde_json::json!({ "email": user.email.as_str(), "by": "operator" });
        let draft = change(user.account_id, "user.activation_reissued", target("user", user.id), details);
        Self::append(&mut tx, now, &draft, &Ctx::default()).await?;
        tx.commit().await?;
        Ok(Some(user))
    }

    async fn login_candidate(&self, email: &str) -> Result<Option<LoginCandidate>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            joined_account_user_cols!(),
            ", u.password_hash, ",
            blocked_expr!(),
            " AS blocked FROM users u JOIN accounts a ON a.id = u.account_id WHERE u.email_key = $1"
        ))
        .bind(email.trim().to_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(LoginCandidate {
            user: user_from_row_as(&row, "u_")?,
            password_hash: row.try_get("password_hash")?,
            account: account_from_row_as(&row, "a_")?,
            blocked: row.try_get("blocked")?,
        }))
    }

    async fn reserve_attempt(&self, scopes: &[String], limit: i64, since: OffsetDateTime) -> Result<Option<Reservation>> {
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
            sqlx::query("INSERT INTO rate_scopes (scope) VALUES ($1) ON CONFLICT (scope) DO UPDATE SET scope = excluded.scope")
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
        tx.commit().await?;
        Ok(Some(Reservation::new(ids)))
    }

    async fn release_attempt(&self, reservation: Reservation) -> Result<()> {
        let mut tx = self.begin_write().await?;
        Self::release_in(&mut tx, &reservation).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn prune_attempts(&self) -> Result<()> {
        let old = to_micros(self.now() - time::Duration::days(1));
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM login_failures WHERE at < $1").bind(old).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM rate_scopes WHERE scope NOT IN (SELECT scope FROM login_failures)")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
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
                Self::end_access_sessions_at(&mut tx, now, lapsed_at, Ending::SignIn(id), "sign_in_expired", &ctx).await?;
                ended += 1;
            }
            tx.commit().await?;
        }
        Ok(ended)
    }

    async fn create_session(&self, session: NewSession, ctx: &Ctx) -> Result<()> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        if let Some(attempt) = &session.attempt {
            Self::release_in(&mut tx, attempt).await?;
        }
        sqlx::query(
            "INSERT INTO sessions (id, token_hash, user_id, csrf_token, created_at, last_seen_at, reauth_at, expires_at, ip) \
             VALUES ($1, $2, $3, $4, $5, $5, $5, $6, $7)",
        )
        .bind(session.id.to_string())
        .bind(&session.token_hash)
        .bind(session.user_id.to_string())
        .bind(&session.csrf_token)
        .bind(to_micros(now))
        .bind(to_micros(session.expires_at))
        .bind(&session.ip)
        .execute(&mut *tx)
        .await?;
        let account_id: String = sqlx::query_scalar("UPDATE users SET last_login_at = $2 WHERE id = $1 RETURNING account_id")
            .bind(session.user_id.to_string())
            .bind(to_micros(now))
            .fetch_one(&mut *tx)
            .await?;
        let account_id: AccountId = account_id.parse().map_err(|e| corrupt("account_id", e))?;
        let details = serde_json::json!({ "session_id": session.id.to_string() });
        Self::append(&mut tx, now, &change(account_id, "auth.login", target("user", session.user_id), details), ctx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn session_by_token(&self, token_hash: &str) -> Result<Option<SessionRecord>> {
        let row = sqlx::query(concat!(
            "SELECT s.id AS s_id, s.csrf_token, s.created_at AS s_created_at, s.last_seen_at, s.reauth_at, ",
            "s.expires_at AS s_expires_at, ",
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
        }))
    }

    async fn touch_session(&self, id: SessionId) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(to_micros(self.now()))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn rotate_session(&self, id: SessionId, new_token_hash: &str, ctx: &Ctx) -> Result<()> {
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
        let details = serde_json::json!({ "session_id": id.to_string() });
        Self::append(&mut tx, now, &change(account, "auth.reauth", target("user", user_id), details), ctx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn end_session(&self, id: SessionId, action: Option<&str>, ctx: &Ctx) -> Result<()> {
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
        tx.commit().await?;
        Ok(())
    }

    async fn change_own_password(&self, user: UserId, keep: SessionId, password_hash: &str, ctx: &Ctx) -> Result<()> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let account: String = sqlx::query_scalar("UPDATE users SET password_hash = $2 WHERE id = $1 RETURNING account_id")
            .bind(user.to_string())
            .bind(password_hash)
            .fetch_one(&mut *tx)
            .await?;
        let account: AccountId = account.parse().map_err(|e| corrupt("account_id", e))?;
        Self::end_user_sessions(&mut tx, now, user, Some(keep), "password_changed", ctx).await?;
        let details = serde_json::json!({ "changed": ["password"] });
        Self::append(&mut tx, now, &change(account, "auth.password_changed", target("user", user), details), ctx).await?;
        tx.commit().await?;
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
        Self::append(&mut tx, now, &change(user.account_id, "user.activated", target("user", user.id), details), &ctx).await?;
        tx.commit().await?;
        Ok(Some(user))
    }

    async fn list_assignments(&self, grant: &Grant, user: UserId, page: &PageRequest) -> Result<Page<Assignment>> {
        let msp = grant.scope(Permission::StaffRead)?;
        let mut tx = self.begin_write().await?;
        Self::staff_member(&mut tx, msp, user).await?;
        tx.commit().await?;
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

    async fn assign(&self, grant: &Grant, user: UserId, customer: AccountId, ctx: &Ctx) -> Result<()> {
        let msp = grant.scope(Permission::StaffAssign)?;
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
            Self::append(&mut tx, now, &change(customer, "staff.assigned", target("user", user), details), ctx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn find_assignment(&self, grant: &Grant, user: UserId, customer: AccountId, assigned: bool) -> Result<()> {
        let msp = grant.scope_any(&[Permission::StaffRead, Permission::StaffAssign])?;
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
        tx.commit().await?;
        Ok(())
    }

    async fn unassign(&self, grant: &Grant, user: UserId, customer: AccountId, ctx: &Ctx) -> Result<()> {
        let msp = grant.scope(Permission::StaffAssign)?;
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
        let ended = Self::end_access_sessions(&mut tx, now, Ending::ActorInto(user, customer), "unassigned", ctx).await?;
        let details = serde_json::json!({
            "user_id": user.to_string(),
            "email": staff.email.as_str(),
            "access_sessions_ended": ended,
        });
        Self::append(&mut tx, now, &change(customer, "staff.unassigned", target("user", user), details), ctx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn open_access_session(&self, grant: &Grant, new: NewAccessSession, ctx: &Ctx) -> Result<AccessSessionRecord> {
        let customer = grant.scope(Permission::AccessEnter)?;
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
        let draft = change(customer, "access_session.started", target("access_session", id), details);
        Self::append(&mut tx, now, &draft, &ctx).await?;
        tx.commit().await?;
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

    async fn list_access_sessions(&self, grant: &Grant, actor: Option<UserId>, page: &PageRequest) -> Result<Page<AccessSessionRecord>> {
        let customer = grant.scope(Permission::AccessList)?;
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

    async fn end_access_session(&self, grant: &Grant, id: AccessSessionId, ctx: &Ctx) -> Result<()> {
        let customer = grant.scope(Permission::AccessEnd)?;
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
            let draft = change(customer, "access_session.ended", target("access_session", id), serde_json::json!({ "reason": "ended" }));
            Self::append(&mut tx, now, &draft, &ctx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn create_api_token(&self, grant: &Grant, new: NewApiToken, ctx: &Ctx) -> Result<ApiTokenRecord> {
        let account = grant.scope(Permission::ApiTokenCreate)?;
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
        Self::append(&mut tx, now, &change(account, "api_token.created", target("api_token", id), details), ctx).await?;
        tx.commit().await?;
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

    async fn list_api_tokens(&self, grant: &Grant, page: &PageRequest) -> Result<Page<ApiTokenRecord>> {
        let account = grant.scope(Permission::ApiTokenManage)?;
        let sql = concat!(
            "SELECT ",
            api_token_cols!(),
            " FROM api_tokens t WHERE t.account_id = $1 AND ($2 IS NULL OR t.id > $2) ORDER BY t.id LIMIT $3"
        );
        self.page_of_account(sql, account, page, api_token_from_row, |t| t.id.to_string()).await
    }

    async fn get_api_token(&self, grant: &Grant, id: ApiTokenId) -> Result<ApiTokenRecord> {
        let account = grant.scope(Permission::ApiTokenManage)?;
        let sql = concat!("SELECT ", api_token_cols!(), " FROM api_tokens t WHERE t.account_id = $1 AND t.id = $2");
        self.row_of_account(sql, account, id.to_string(), api_token_from_row).await
    }

    async fn revoke_api_token(&self, grant: &Grant, id: ApiTokenId, ctx: &Ctx) -> Result<()> {
        let account = grant.scope(Permission::ApiTokenManage)?;
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
        Self::revoke_in(&mut tx, now, sql, account, target("api_token", id), "api_token.revoked", ctx).await?;
        tx.commit().await?;
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

    async fn list_collections(&self, grant: &Grant, page: &PageRequest) -> Result<Page<Collection>> {
        let account = grant.scope(Permission::ResourceRead)?;
        let sql = "SELECT id, account_id, name, created_at, updated_at FROM collections WHERE account_id = $1 \
                   AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3";
        self.page_of_account(sql, account, page, collection_from_row, |c| c.id.to_string()).await
    }

    async fn get_collection(&self, grant: &Grant, id: CollectionId) -> Result<Collection> {
        let account = grant.scope_any(&[Permission::ResourceRead, Permission::ResourceWrite])?;
        let mut tx = self.pool.begin().await?;
        let collection = Self::collection_in(&mut tx, account, id).await?;
        tx.commit().await?;
        Ok(collection)
    }

    async fn create_collection(&self, grant: &Grant, name: String, ctx: &Ctx) -> Result<Collection> {
        let account = grant.scope(Permission::ResourceWrite)?;
        let now = self.now();
        let id = CollectionId::new();
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO collections (id, account_id, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)")
            .bind(id.to_string())
            .bind(account.to_string())
            .bind(&name)
            .bind(to_micros(now))
            .execute(&mut *tx)
            .await?;
        let details = serde_json::json!({ "name": name });
        Self::append(&mut tx, now, &change(account, "collection.created", target("collection", id), details), ctx).await?;
        let collection = Self::collection_in(&mut tx, account, id).await?;
        tx.commit().await?;
        Ok(collection)
    }

    async fn rename_collection(&self, grant: &Grant, id: CollectionId, name: String, ctx: &Ctx) -> Result<Collection> {
        let account = grant.scope(Permission::ResourceWrite)?;
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
        Self::append(&mut tx, now, &change(account, "collection.updated", target("collection", id), details), ctx).await?;
        let collection = Self::collection_in(&mut tx, account, id).await?;
        tx.commit().await?;
        Ok(collection)
    }

    async fn delete_collection(&self, grant: &Grant, id: CollectionId, ctx: &Ctx) -> Result<()> {
        let account = grant.scope(Permission::ResourceWrite)?;
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let collection = Self::collection_in(&mut tx, account, id).await?;
        // What still works in it is not removed by the way: agents report into it, targets are
        // checked into it. Revoke or move them first.
        let count = |sql: &'static str| {
            sqlx::query_scalar::<_, i64>(sql).bind(account.to_string()).bind(id.to_string())
        };
        let agents = count("SELECT COUNT(*) FROM agents WHERE account_id = $1 AND collection_id = $2 AND revoked_at IS NULL")
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
        Self::append(&mut tx, now, &change(account, "collection.deleted", target("collection", id), details), ctx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn import_certificates(
        &self,
        grant: &Grant,
        collection: CollectionId,
        certificates: Vec<NewCertificate>,
        ctx: &Ctx,
    ) -> Result<Vec<(Certificate, bool)>> {
        let account = grant.scope(Permission::ResourceWrite)?;
        let now = self.now();
        let mut tx = self.begin_write().await?;
        Self::collection_in(&mut tx, account, collection).await?;
        let imported = Self::import_into(&mut tx, now, account, collection, certificates, None).await?;
        let details = serde_json::json!({
            "collection_id": collection.to_string(),
            "added": imported.added,
            "duplicates": imported.duplicates,
        });
        let draft = change(account, "certificate.imported", target("collection", collection), details);
        Self::append(&mut tx, now, &draft, ctx).await?;
        tx.commit().await?;
        Ok(imported.results)
    }

    async fn list_certificates(&self, grant: &Grant, filter: &CertificateFilter, page: &PageRequest) -> Result<Page<Certificate>> {
        let account = grant.scope(Permission::ResourceRead)?;
        let now = filter.now.map(to_micros);
        let rows = sqlx::query(concat!(
            "SELECT ",
            certificate_cols!(),
            " FROM certificates WHERE account_id = $1 ",
            "AND ($2 IS NULL OR (not_after > $3 AND not_after <= $2)) ",
            "AND ($4 IS NULL OR ($4 = 1 AND not_after <= $3) OR ($4 = 0 AND not_after > $3)) ",
            "AND ($5 IS NULL OR issuer_key LIKE $5 ESCAPE '\\') ",
            "AND ($6 IS NULL OR names_key LIKE $6 ESCAPE '\\') ",
            "AND ($7 IS NULL OR collection_id = $7) ",
            "AND ($8 IS NULL OR id > $8) ORDER BY id LIMIT $9"
        ))
        .bind(account.to_string())
        .bind(filter.expiring_before.map(to_micros))
        .bind(now.unwrap_or(0))
        .bind(filter.expired.map(i64::from))
        .bind(filter.issuer.as_deref().map(contains_pattern))
        .bind(filter.q.as_deref().map(contains_pattern))
        .bind(filter.collection_id.map(|c| c.to_string()))
        .bind(&page.after)
        .bind(fetch_limit(page))
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(certificate_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |c| c.id.to_string()))
    }

    async fn get_certificate(&self, grant: &Grant, id: CertificateId) -> Result<Certificate> {
        let account = grant.scope_any(&[Permission::ResourceRead, Permission::ResourceWrite])?;
        let sql = concat!("SELECT ", certificate_cols!(), " FROM certificates WHERE account_id = $1 AND id = $2");
        self.row_of_account(sql, account, id.to_string(), certificate_from_row).await
    }

    async fn delete_certificate(&self, grant: &Grant, id: CertificateId, ctx: &Ctx) -> Result<()> {
        let account = grant.scope(Permission::ResourceWrite)?;
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(concat!("SELECT ", certificate_cols!(), " FROM certificates WHERE account_id = $1 AND id = $2"))
            .bind(account.to_string())
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(DomainError::NotFound)?;
        let certificate = certificate_from_row(&row)?;
        sqlx::query("DELETE FROM certificates WHERE account_id = $1 AND id = $2")
            .bind(account.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let details = serde_json::json!({ "subject": certificate.subject, "fingerprint_sha256": certificate.fingerprint_sha256 });
        Self::append(&mut tx, now, &change(account, "certificate.deleted", target("certificate", id), details), ctx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn subscription(&self, grant: &Grant) -> Result<Subscription> {
        let id = grant.scope(Permission::SubscriptionRead)?;
        let mut tx = self.pool.begin().await?;
        let subscription = Self::subscription_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(subscription)
    }

    async fn set_limits(&self, grant: &Grant, limits: Limits, ctx: &Ctx) -> Result<Subscription> {
        let id = grant.scope(Permission::SubscriptionManage)?;
        let now = self.now();
        let mut tx = self.begin_write().await?;
        Self::lock_account(&mut tx, id).await?;
        let account = Self::account_in(&mut tx, id).await?;
        if account.plan != Plan::Managed {
            return Err(DomainError::Conflict("only a managed customer's limits are set by its MSP".into()).into());
        }
        sqlx::query(
            "INSERT INTO account_limits (account_id, users, certificates, agents, targets, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_id) DO UPDATE SET users = $2, certificates = $3, \
             agents = $4, targets = $5, updated_at = $6",
        )
        .bind(id.to_string())
        .bind(limits.users)
        .bind(limits.certificates)
        .bind(limits.agents)
        .bind(limits.targets)
        .bind(to_micros(now))
        .execute(&mut *tx)
        .await?;
        let details = serde_json::json!({ "limits": limits });
        Self::append(&mut tx, now, &change(id, "subscription.updated", target("account", id), details), ctx).await?;
        let subscription = Self::subscription_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(subscription)
    }

    async fn usage_below(&self, grant: &Grant, page: &PageRequest) -> Result<Page<UsageRow>> {
        let viewer = grant.scope(Permission::UsageRead)?;
        let rows = sqlx::query(
            "SELECT a.id, a.name, \
             (SELECT COUNT(*) FROM users u WHERE u.account_id = a.id) AS users, \
             (SELECT COUNT(*) FROM certificates x WHERE x.account_id = a.id) AS certificates, \
             (SELECT COUNT(*) FROM agents g WHERE g.account_id = a.id AND g.revoked_at IS NULL) AS agents, \
             (SELECT COUNT(*) FROM targets t WHERE t.account_id = a.id) AS targets \
             FROM accounts a JOIN account_closure c ON c.descendant = a.id \
             WHERE c.ancestor = $1 AND c.depth > 0 AND a.kind = 'customer' AND ($2 IS NULL OR a.id > $2) \
             ORDER BY a.id LIMIT $3",
        )
        .bind(viewer.to_string())
        .bind(&page.after)
        .bind(fetch_limit(page))
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(|r| {
                Ok(UsageRow {
                    account_id: parse_col(r, "id")?,
                    account_name: r.try_get("name")?,
                    usage: Limits {
                        users: r.try_get("users")?,
                        certificates: r.try_get("certificates")?,
                        agents: r.try_get("agents")?,
                        targets: r.try_get("targets")?,
                    },
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |u| u.account_id.to_string()))
    }

    async fn create_support_request(
        &self,
        grant: &Grant,
        subject: String,
        message: String,
        ctx: &Ctx,
    ) -> Result<(SupportRequest, Option<String>)> {
        let customer = grant.scope(Permission::SupportCreate)?;
        let (Some(user), Some(email)) = (ctx.actor.user_id, ctx.actor.email.clone()) else {
            return Err(DomainError::Internal("a support request needs a sender".into()).into());
        };
        let now = self.now();
        let id = SupportRequestId::new();
        let mut tx = self.begin_write().await?;
        let account = Self::account_in(&mut tx, customer).await?;
        let inbox = account.parent_id.ok_or_else(|| DomainError::Conflict("this account has no parent to write to".into()))?;
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
        let draft = change(customer, "support_request.created", target("support_request", id), details);
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
        tx.commit().await?;
        Ok((request, notify))
    }

    async fn list_support_requests(&self, grant: &Grant, page: &PageRequest) -> Result<Page<SupportRequest>> {
        let account = grant.scope(Permission::SupportRead)?;
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

    async fn get_support_request(&self, grant: &Grant, id: SupportRequestId) -> Result<SupportRequest> {
        let account = grant.scope_any(&[Permission::SupportRead, Permission::SupportManage])?;
        let sql = concat!(
            "SELECT ",
            support_cols!(),
            " FROM support_requests r JOIN accounts a ON a.id = r.from_account_id ",
            "WHERE (r.to_account_id = $1 OR r.from_account_id = $1) AND r.id = $2"
        );
        self.row_of_account(sql, account, id.to_string(), support_from_row).await
    }

    async fn set_support_status(&self, grant: &Grant, id: SupportRequestId, open: bool, ctx: &Ctx) -> Result<SupportRequest> {
        let inbox = grant.scope(Permission::SupportManage)?;
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
        let draft = change(before.account_id, "support_request.updated", target("support_request", id), details);
        Self::append(&mut tx, now, &draft, ctx).await?;
        tx.commit().await?;
        Ok(SupportRequest { status: status.to_owned(), updated_at: now, ..before })
    }

    async fn branding(&self, grant: &Grant) -> Result<BrandingFields> {
        let account = grant.scope_any(&[Permission::BrandingRead, Permission::BrandingManage])?;
        let row = sqlx::query("SELECT display_name, support_email, support_phone, homepage_url FROM branding WHERE account_id = $1")
            .bind(account.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(branding_from_row).transpose()?.unwrap_or_default())
    }

    async fn set_branding(&self, grant: &Grant, fields: BrandingFields, ctx: &Ctx) -> Result<BrandingFields> {
        let account = grant.scope(Permission::BrandingManage)?;
        let now = self.now();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO branding (account_id, display_name, support_email, support_phone, homepage_url, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_id) DO UPDATE SET display_name = $2, \
             support_email = $3, support_phone = $4, homepage_url = $5, updated_at = $6",
        )
        .bind(account.to_string())
        .bind(&fields.display_name)
        .bind(&fields.support_email)
        .bind(&fields.support_phone)
        .bind(&fields.homepage_url)
        .bind(to_micros(now))
        .execute(&mut *tx)
        .await?;
        let details = serde_json::json!({
            "display_name": fields.display_name,
            "support_email": fields.support_email,
            "support_phone": fields.support_phone,
            "homepage_url": fields.homepage_url,
        });
        Self::append(&mut tx, now, &change(account, "branding.updated", target("account", account), details), ctx).await?;
        tx.commit().await?;
        Ok(fields)
    }

    async fn set_logo(&self, grant: &Grant, variant: LogoVariant, logo: Option<Logo>, ctx: &Ctx) -> Result<()> {
        let account = grant.scope(Permission::BrandingManage)?;
        let now = self.now();
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO branding (account_id, updated_at) VALUES ($1, $2) ON CONFLICT (account_id) DO NOTHING")
            .bind(account.to_string())
            .bind(to_micros(now))
            .execute(&mut *tx)
            .await?;
        let sql = match variant {
            LogoVariant::Light => "UPDATE branding SET logo_light = $2, logo_light_type = $3, updated_at = $4 WHERE account_id = $1",
            LogoVariant::Dark => "UPDATE branding SET logo_dark = $2, logo_dark_type = $3, updated_at = $4 WHERE account_id = $1",
        };
        let (bytes, content_type) = match &logo {
            Some(l) => (Some(l.bytes.clone()), Some(l.content_type.clone())),
            None => (None, None),
        };
        sqlx::query(sql)
            .bind(account.to_string())
            .bind(bytes)
            .bind(&content_type)
            .bind(to_micros(now))
            .execute(&mut *tx)
            .await?;
        let which = match variant {
            LogoVariant::Light => "light",
            LogoVariant::Dark => "dark",
        };
        let details = serde_json::json!({ "logo": which, "content_type": content_type, "size": logo.as_ref().map(|l| l.bytes.len()) });
        Self::append(&mut tx, now, &change(account, "branding.updated", target("account", account), details), ctx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn effective_branding(&self, grant: &Grant) -> Result<EffectiveBranding> {
        self.effective_branding_of(grant.scope(Permission::AccountRead)?).await
    }

    async fn effective_logo(&self, grant: &Grant, variant: LogoVariant) -> Result<Option<Logo>> {
        self.effective_logo_of(grant.scope(Permission::AccountRead)?, variant).await
    }

    async fn login_branding(&self, slug: &str) -> Result<Option<EffectiveBranding>> {
        match self.login_account(slug).await? {
            Some(account) => Ok(Some(self.effective_branding_of(account).await?)),
            None => Ok(None),
        }
    }

    async fn login_logo(&self, slug: &str, variant: LogoVariant) -> Result<Option<Logo>> {
        match self.login_account(slug).await? {
            Some(account) => self.effective_logo_of(account, variant).await,
            None => Ok(None),
        }
    }

    async fn register_agent(
        &self,
        grant: &Grant,
        collection: CollectionId,
        name: String,
        token_hash: String,
        ctx: &Ctx,
    ) -> Result<Agent> {
        let account = grant.scope(Permission::ResourceWrite)?;
        let now = self.now();
        let id = AgentId::new();
        let mut tx = self.begin_write().await?;
        Self::collection_in(&mut tx, account, collection).await?;
        Self::enforce_limit(&mut tx, account, Resource::Agents, 1).await?;
        sqlx::query(
            "INSERT INTO agents (id, account_id, collection_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.to_string())
        .bind(account.to_string())
        .bind(collection.to_string())
        .bind(&name)
        .bind(&token_hash)
        .bind(to_micros(now))
        .execute(&mut *tx)
        .await?;
        let details = serde_json::json!({ "name": name, "collection_id": collection.to_string() });
        Self::append(&mut tx, now, &change(account, "agent.registered", target("agent", id), details), ctx).await?;
        let agent = Self::agent_in(&mut tx, account, id).await?;
        tx.commit().await?;
        Ok(agent)
    }

    async fn list_agents(&self, grant: &Grant, page: &PageRequest) -> Result<Page<Agent>> {
        let account = grant.scope(Permission::ResourceRead)?;
        let sql = concat!(
            "SELECT ",
            agent_cols!(),
            " FROM agents g WHERE g.account_id = $1 AND ($2 IS NULL OR g.id > $2) ORDER BY g.id LIMIT $3"
        );
        self.page_of_account(sql, account, page, agent_from_row, |a| a.id.to_string()).await
    }

    async fn get_agent(&self, grant: &Grant, id: AgentId) -> Result<Agent> {
        let account = grant.scope_any(&[Permission::ResourceRead, Permission::ResourceWrite])?;
        let mut tx = self.pool.begin().await?;
        let agent = Self::agent_in(&mut tx, account, id).await?;
        tx.commit().await?;
        Ok(agent)
    }

    async fn revoke_agent(&self, grant: &Grant, id: AgentId, ctx: &Ctx) -> Result<()> {
        let account = grant.scope(Permission::ResourceWrite)?;
        let now = self.now();
        let mut tx = self.begin_write().await?;
        Self::agent_in(&mut tx, account, id).await?;
        let sql = "UPDATE agents SET revoked_at = $3 WHERE account_id = $1 AND id = $2 AND revoked_at IS NULL";
        Self::revoke_in(&mut tx, now, sql, account, target("agent", id), "agent.revoked", ctx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn agent_by_token(&self, token_hash: &str) -> Result<Option<(Agent, bool)>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            agent_cols!(),
            ", EXISTS (SELECT 1 FROM account_closure bc JOIN accounts bx ON bx.id = bc.ancestor ",
            "WHERE bc.descendant = g.account_id AND bx.status <> 'active') AS blocked ",
            "FROM agents g WHERE g.token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some((agent_from_row(&row)?, row.try_get("blocked")?)))
    }

    async fn agent_report(
        &self,
        agent: &Agent,
        hostname: String,
        certificates: Vec<NewCertificate>,
    ) -> Result<Vec<(Certificate, bool)>> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        Self::lock_account(&mut tx, agent.account_id).await?;
        // Re-checked inside the transaction: a revocation or suspension that just landed wins.
        let live: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM agents WHERE account_id = $1 AND id = $2 AND revoked_at IS NULL",
        )
        .bind(agent.account_id.to_string())
        .bind(agent.id.to_string())
        .fetch_one(&mut *tx)
        .await?;
        let blocked: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM account_closure c JOIN accounts x ON x.id = c.ancestor \
             WHERE c.descendant = $1 AND x.status <> 'active'",
        )
        .bind(agent.account_id.to_string())
        .fetch_one(&mut *tx)
        .await?;
        if live == 0 || blocked > 0 {
            return Err(DomainError::Forbidden("the agent is revoked or its account suspended".into()).into());
        }
        let account = Self::account_in(&mut tx, agent.account_id).await?;
        let imported =
            Self::import_into(&mut tx, now, agent.account_id, agent.collection_id, certificates, Some(agent.id)).await?;
        sqlx::query("UPDATE agents SET last_seen_at = $3, last_hostname = $4 WHERE account_id = $1 AND id = $2")
            .bind(agent.account_id.to_string())
            .bind(agent.id.to_string())
            .bind(to_micros(now))
            .bind(&hostname)
            .execute(&mut *tx)
            .await?;
        let ctx = Ctx {
            actor: AuditActor {
                user_id: None,
                email: None,
                account_id: Some(account.id),
                account_name: Some(account.name.clone()),
            },
            ..Ctx::default()
        };
        let details = serde_json::json!({
            "agent_id": agent.id.to_string(),
            "agent": agent.name,
            "hostname": hostname,
            "added": imported.added,
            "duplicates": imported.duplicates,
        });
        let draft = change(agent.account_id, "agent.reported", target("agent", agent.id), details);
        Self::append(&mut tx, now, &draft, &ctx).await?;
        tx.commit().await?;
        Ok(imported.results)
    }

    async fn create_target(&self, grant: &Grant, new: NewTarget, ctx: &Ctx) -> Result<MonitoredTarget> {
        let account = grant.scope(Permission::ResourceWrite)?;
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
        Self::append(&mut tx, now, &change(account, "target.created", target("target", id), details), ctx).await?;
        let created = Self::target_in(&mut tx, account, id).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn list_targets(&self, grant: &Grant, page: &PageRequest) -> Result<Page<MonitoredTarget>> {
        let account = grant.scope(Permission::ResourceRead)?;
        let sql = concat!(
            "SELECT ",
            target_cols!(),
            " FROM targets WHERE account_id = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3"
        );
        self.page_of_account(sql, account, page, target_from_row, |t| t.id.to_string()).await
    }

    async fn get_target(&self, grant: &Grant, id: TargetId) -> Result<MonitoredTarget> {
        let account = grant.scope_any(&[Permission::ResourceRead, Permission::ResourceWrite])?;
        let sql = concat!("SELECT ", target_cols!(), " FROM targets WHERE account_id = $1 AND id = $2");
        self.row_of_account(sql, account, id.to_string(), target_from_row).await
    }

    async fn update_target(&self, grant: &Grant, id: TargetId, patch: TargetPatch, ctx: &Ctx) -> Result<MonitoredTarget> {
        let account = grant.scope(Permission::ResourceWrite)?;
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
        Self::append(&mut tx, now, &change(account, "target.updated", target("target", id), details), ctx).await?;
        let updated = Self::target_in(&mut tx, account, id).await?;
        tx.commit().await?;
        Ok(updated)
    }

    async fn delete_target(&self, grant: &Grant, id: TargetId, ctx: &Ctx) -> Result<()> {
        let account = grant.scope(Permission::ResourceWrite)?;
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let gone = Self::target_in(&mut tx, account, id).await?;
        sqlx::query("DELETE FROM targets WHERE account_id = $1 AND id = $2")
            .bind(account.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let details = serde_json::json!({ "hostname": gone.hostname, "port": gone.port });
        Self::append(&mut tx, now, &change(account, "target.deleted", target("target", id), details), ctx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_check(
        &self,
        grant: &Grant,
        checked: &MonitoredTarget,
        check: TlsCheck,
        next_check_at: OffsetDateTime,
        ctx: &Ctx,
    ) -> Result<MonitoredTarget> {
        let account = grant.scope(Permission::ResourceWrite)?;
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
        Self::append(&mut tx, now, &change(account, "target.checked", target("target", checked.id), details), ctx).await?;
        let updated = Self::target_in(&mut tx, account, checked.id).await?;
        tx.commit().await?;
        Ok(updated)
    }

    async fn claim_check(&self, grant: &Grant, id: TargetId, gap: time::Duration) -> Result<bool> {
        let account = grant.scope(Permission::ResourceWrite)?;
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
        tx.commit().await?;
        Ok(claimed > 0)
    }

    async fn lease_due_targets(&self, owner: &str, lease_until: OffsetDateTime, limit: u32) -> Result<Vec<LeasedTarget>> {
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
        tx.commit().await?;
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
        tx.commit().await?;
        Ok(stored > 0)
    }

    async fn expiring(&self, grant: &Grant, scope: ExpiryScope, page: &PageRequest) -> Result<Page<ExpiringItem>> {
        let root = grant.scope(Permission::ExpiryRead)?;
        let (after_at, after_id) = match &page.after {
            Some(cursor) => {
                let (at, id) = cursor.split_once('_').ok_or_else(|| DomainError::invalid("cursor", "unreadable cursor"))?;
                let at: i64 = at.parse().map_err(|_| DomainError::invalid("cursor", "unreadable cursor"))?;
                (Some(at), Some(id.to_owned()))
            }
            None => (None, None),
        };
        let rows = sqlx::query(
            "WITH visible AS (SELECT a.id, a.name FROM accounts a JOIN account_closure c ON c.descendant = a.id \
             WHERE c.ancestor = $1 AND a.kind = 'customer' \
             AND ($2 IS NULL OR a.id IN (SELECT account_id FROM staff_assignments WHERE user_id = $2))), \
             items AS ( \
             SELECT 'certificate' AS kind, x.id, x.account_id, v.name AS account_name, x.collection_id, \
             x.subject AS name, x.not_after, CAST(NULL AS TEXT) AS error \
             FROM certificates x JOIN visible v ON v.id = x.account_id WHERE x.not_after <= $3 \
             UNION ALL \
             SELECT 'target' AS kind, t.id, t.account_id, v.name AS account_name, t.collection_id, \
             t.hostname || ':' || CAST(t.port AS TEXT) AS name, t.not_after, t.error \
             FROM targets t JOIN visible v ON v.id = t.account_id WHERE t.not_after IS NOT NULL AND t.not_after <= $3) \
             SELECT kind, id, account_id, account_name, collection_id, name, not_after, error FROM items \
             WHERE ($4 IS NULL OR not_after > $4 OR (not_after = $4 AND id > $5)) \
             ORDER BY not_after, id LIMIT $6",
        )
        .bind(root.to_string())
        .bind(scope.assigned_to.map(|u| u.to_string()))
        .bind(to_micros(scope.until))
        .bind(after_at)
        .bind(after_id)
        .bind(fetch_limit(page))
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(expiring_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |i| format!("{}_{}", to_micros(i.not_after), i.id)))
    }

    async fn record(&self, draft: AuditDraft, ctx: &Ctx) -> Result<EventId> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let id = Self::append(&mut tx, now, &draft, ctx).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn audit_page(&self, grant: &Grant, filter: &AuditFilter, page: &PageRequest) -> Result<Page<AuditEvent>> {
        let trail = grant.scope(Permission::AuditRead)?;
        let before_seq: Option<i64> = match &page.after {
            Some(cursor) => Some(cursor.parse().map_err(|_| DomainError::invalid("cursor", "unreadable cursor"))?),
            None => None,
        };
        let rows = sqlx::query(concat!(
            "SELECT ", event_cols!(), " FROM audit_links l JOIN audit_events e ON e.id = l.event_id ",
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

    async fn audit_chunk(&self, grant: &Grant, after_seq: i64, limit: u32) -> Result<Vec<AuditEvent>> {
        let trail = grant.scope(Permission::AuditRead)?;
        self.audit_rows(trail, after_seq, i64::MAX, limit).await
    }

    async fn verify_trail(&self, grant: &Grant) -> Result<Verification> {
        let trail = grant.scope(Permission::AuditRead)?;
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
