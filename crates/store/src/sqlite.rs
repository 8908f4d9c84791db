//! The SQLite backend: the embedded default (WAL, foreign keys, durable commits, busy timeout).
//! Its queries are the shared ones in `sql/`; only connecting and migrating are its own.

use sqlx::Sqlite as Db;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tenantry_domain::Clock;

/// Write transactions take the write lock up front, so concurrent writers queue on the busy
/// timeout instead of failing when a read lock cannot be upgraded.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// Values a batched statement binds at most: the driver finds each value's placeholder by name,
/// a cost that grows with the square of a statement's values.
const BATCH_VALUES: usize = 1_000;

/// SQLite runs one write transaction at a time, so a lease needs no row locks.
macro_rules! skip_locked {
    () => {
        ""
    };
}

pub(crate) fn migrations() -> Vec<sqlx::migrate::Migration> {
    vec![
        crate::repo_migration(1, "foundation", include_str!("../migrations/sqlite/0001_foundation.sql")),
        crate::repo_migration(2, "delegation", include_str!("../migrations/sqlite/0002_delegation.sql")),
        crate::repo_migration(3, "certificates", include_str!("../migrations/sqlite/0003_certificates.sql")),
        crate::repo_migration(4, "limits", include_str!("../migrations/sqlite/0004_limits.sql")),
        crate::repo_migration(5, "support", include_str!("../migrations/sqlite/0005_support.sql")),
        crate::repo_migration(6, "branding", include_str!("../migrations/sqlite/0006_branding.sql")),
        crate::repo_migration(7, "agents", include_str!("../migrations/sqlite/0007_agents.sql")),
        crate::repo_migration(8, "targets", include_str!("../migrations/sqlite/0008_targets.sql")),
        crate::repo_migration(
            9,
            "certificate_search",
            include_str!("../migrations/sqlite/0009_certificate_search.sql"),
        ),
        crate::repo_migration(10, "hardening", include_str!("../migrations/sqlite/0010_hardening.sql")),
        crate::repo_migration(11, "signins", include_str!("../migrations/sqlite/0011_signins.sql")),
        crate::repo_migration(12, "mfa", include_str!("../migrations/sqlite/0012_mfa.sql")),
        crate::repo_migration(13, "sign_in_policies", include_str!("../migrations/sqlite/0013_sign_in_policies.sql")),
        crate::repo_migration(14, "sso", include_str!("../migrations/sqlite/0014_sso.sql")),
        crate::repo_migration(15, "sso_flows", include_str!("../migrations/sqlite/0015_sso_flows.sql")),
        crate::repo_migration(16, "audit_signing", include_str!("../migrations/sqlite/0016_audit_signing.sql")),
        crate::repo_migration(17, "webhooks", include_str!("../migrations/sqlite/0017_webhooks.sql")),
    ]
}

impl Repo {
    pub async fn connect(url: &str, clock: Arc<dyn Clock>) -> crate::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // A page of rows crosses from the driver's thread without waiting on the reader.
            .row_buffer_size(1024);
        let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await?;
        sqlx::migrate::Migrator::with_migrations(migrations()).run(&pool).await?;
        let repo = Self { pool, clock, revision: Default::default() };
        repo.backfill_search_keys().await?;
        Ok(repo)
    }
}

impl Repo {
    /// A repository over `pool` as it is, unmigrated (a backup being checked).
    pub(crate) fn over(pool: sqlx::SqlitePool, clock: Arc<dyn Clock>) -> Self {
        Self { pool, clock, revision: Default::default() }
    }
}

impl Repo {
    /// One process serves a SQLite database ([`crate::hold_for_serving`]) and every write goes
    /// through [`Repo::commit`], so this process's commits are all there are.
    async fn engine_revision(&self) -> crate::Result<u64> {
        Ok(self.revision.commits())
    }
}

/// The shared SQL, compiled for this engine.
#[path = "sql/mod.rs"]
#[allow(clippy::duplicate_mod, reason = "one body of SQL, compiled once for each engine")]
mod sql;

pub use sql::Repo;
