//! The repository's SQL, one body of portable SQL for both engines: `sqlite.rs` and
//! `postgres.rs` each declare this module after naming their database type `Db` and their
//! `BEGIN_WRITE` statement, so every query runs on either engine's native driver. One module
//! a noun, each implementing that noun's trait of [`crate::repository`]; here the pool, the
//! column lists, and the helpers every noun shares.

use super::{BATCH_VALUES, BEGIN_WRITE, Db};
use crate::repository::*;
use crate::types::*;
use crate::{Result, StoreError};
use rows::*;
use sqlx::Row;
use std::sync::Arc;
use tenantry_domain::audit::{ChainVerifier, GENESIS, Verification};
use tenantry_domain::authz::{Basis, Capability, Grant, SeesBelow, cap};
use tenantry_domain::clock::{from_micros, to_micros};
use tenantry_domain::{
    AccessSessionId, Account, AccountId, AccountKind, AccountStatus, Agent, AgentId, ApiTokenId, AuditActor,
    AuditEvent, AuditTarget, Certificate, CertificateId, Clock, Collection, CollectionId, DomainError, Email, EventId,
    Limits, MonitoredTarget, Outcome, Plan, Resource, Role, SessionId, Slug, SupportRequest, SupportRequestId,
    TargetId, TlsCheck, User, UserId, UserStatus,
};
use time::OffsetDateTime;

pub(crate) type Tx = sqlx::Transaction<'static, Db>;
pub(crate) type DbRow = <Db as sqlx::Database>::Row;

/// The store over one pool.
pub struct Repo {
    pub(crate) pool: sqlx::Pool<Db>,
    pub(crate) clock: Arc<dyn Clock>,
    /// How this process reads the revision (see [`Repo::commit`]).
    pub(crate) revision: crate::revision::Revision,
}

macro_rules! account_cols {
    () => {
        "id, kind, name, slug, parent_id, status, plan, sso_mandatory, mfa_required, allowed_networks, contact_email, \
         region, created_at, deletion_deadline"
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
         a.status AS a_status, a.plan AS a_plan, a.sso_mandatory AS a_sso_mandatory, a.mfa_required AS a_mfa_required, \
         a.allowed_networks AS a_allowed_networks, \
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

pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Domain(DomainError::Internal(format!("stored {what} unreadable: {detail}")))
}

pub(crate) fn parse_col<T: std::str::FromStr>(row: &DbRow, col: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    let text: String = row.try_get(col)?;
    text.parse().map_err(|e| corrupt(col, e))
}

pub(crate) fn parse_opt_col<T: std::str::FromStr>(row: &DbRow, col: &str) -> Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    let text: Option<String> = row.try_get(col)?;
    text.map(|t| t.parse().map_err(|e| corrupt(col, e))).transpose()
}

pub(crate) fn opt_time(row: &DbRow, col: &str) -> Result<Option<OffsetDateTime>> {
    Ok(row.try_get::<Option<i64>, _>(col)?.map(from_micros))
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

macro_rules! certificate_cols {
    () => {
        "id, account_id, collection_id, subject, sans, issuer, serial, not_before, not_after, fingerprint_sha256, \
         key_type, key_bits, created_at"
    };
}

/// `%text%` for a case-insensitive LIKE, with the wildcards in `text` escaped.
pub(crate) fn contains_pattern(text: &str) -> String {
    let escaped = text.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

macro_rules! support_cols {
    () => {
        "r.id, r.from_account_id, a.name AS account_name, r.to_account_id, r.created_by, r.created_by_email, \
         r.subject, r.message, r.status, r.created_at, r.updated_at"
    };
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

/// Maps a unique violation on users' email to `EmailTaken`, on slugs to `Conflict`.
pub(crate) fn unique_violation(err: sqlx::Error) -> StoreError {
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

pub(crate) fn page_of<T>(mut items: Vec<T>, limit: u32, cursor: impl Fn(&T) -> String) -> Page<T> {
    let limit = limit as usize;
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(cursor)
    } else {
        None
    };
    Page { items, next }
}

pub(crate) fn fetch_limit(page: &PageRequest) -> i64 {
    i64::from(page.limit) + 1
}

/// The audit event of a change, linked into the acted-on account's trail and those above it.
pub(crate) fn change(
    account_id: AccountId,
    action: Action,
    target: AuditTarget,
    details: serde_json::Value,
) -> AuditDraft {
    AuditDraft { account_id, action, outcome: Outcome::Success, target, details, linking: Linking::UpToActor }
}

pub(crate) fn target(kind: &str, id: impl ToString) -> AuditTarget {
    AuditTarget { kind: kind.to_owned(), id: Some(id.to_string()) }
}

mod rows;

use access::Ending;
use tenantry_domain::Action;
mod access;
mod accounts;
mod agents;
mod audit;
mod branding;
mod certificates;
mod collections;
mod expiring;
mod mfa;
mod platform;
mod seed;
mod sessions;
mod sso;
mod staff;
mod subscription;
mod support;
mod targets;
mod tokens;
mod users;
mod webhooks;

impl Repo {
    pub(crate) fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub(crate) async fn begin_write(&self) -> Result<Tx> {
        Ok(self.pool.begin_with(BEGIN_WRITE).await?)
    }

    /// Commits `tx` and then counts it. Every transaction that writes ends here, so that a
    /// revision read before a read of the database moves once a write committed after it.
    pub(crate) async fn commit(&self, tx: Tx) -> Result<()> {
        tx.commit().await?;
        self.revision.committed();
        Ok(())
    }

    /// Locks an account's row until the transaction ends (a no-op write: a row lock on
    /// PostgreSQL, and SQLite's write transactions are serial anyway), so that creating a child and
    /// scheduling the parent's deletion cannot interleave.
    pub(crate) async fn lock_account(tx: &mut Tx, id: AccountId) -> Result<()> {
        sqlx::query("UPDATE accounts SET status = status WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    pub(crate) async fn account_in(tx: &mut Tx, id: AccountId) -> Result<Account> {
        let row = sqlx::query(concat!("SELECT ", account_cols!(), " FROM accounts WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&mut **tx)
            .await?
            .ok_or(DomainError::NotFound)?;
        account_from_row(&row)
    }

    pub(crate) async fn user_in(tx: &mut Tx, account: AccountId, id: UserId) -> Result<User> {
        let row = sqlx::query(concat!("SELECT ", user_cols!(), " FROM users WHERE account_id = $1 AND id = $2"))
            .bind(account.to_string())
            .bind(id.to_string())
            .fetch_optional(&mut **tx)
            .await?
            .ok_or(DomainError::NotFound)?;
        user_from_row(&row)
    }

    /// One row of an account by id: `sql` takes the account (`$1`) and the id (`$2`); none is
    /// `NotFound`, whether the row is missing or another account's.
    pub(crate) async fn row_of_account<T>(
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
    pub(crate) async fn page_of_account<T>(
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
}
