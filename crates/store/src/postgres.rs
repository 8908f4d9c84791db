//! The PostgreSQL backend: the scale-out engine shared by any number of stateless processes.
//! Its queries are the shared ones in `sql/`; only connecting and migrating are its own.

use sqlx::Postgres as Db;
use sqlx::postgres::PgPoolOptions;
use std::sync::Arc;
use tenantry_domain::Clock;

/// Row locks taken by `UPDATE … RETURNING` serialize what must be serialized.
const BEGIN_WRITE: &str = "BEGIN";

/// Values a batched statement binds at most (the protocol allows 65,535): fewer round trips.
const BATCH_VALUES: usize = 30_000;

/// Leasing skips the rows another process is leasing right now instead of waiting for them.
macro_rules! skip_locked {
    () => {
        " FOR UPDATE SKIP LOCKED"
    };
}

pub(crate) fn migrations() -> Vec<sqlx::migrate::Migration> {
    vec![
        crate::repo_migration(1, "foundation", include_str!("../migrations/postgres/0001_foundation.sql")),
        crate::repo_migration(2, "delegation", include_str!("../migrations/postgres/0002_delegation.sql")),
        crate::repo_migration(3, "certificates", include_str!("../migrations/postgres/0003_certificates.sql")),
        crate::repo_migration(4, "limits", include_str!("../migrations/postgres/0004_limits.sql")),
        crate::repo_migration(5, "support", include_str!("../migrations/postgres/0005_support.sql")),
        crate::repo_migration(6, "branding", include_str!("../migrations/postgres/0006_branding.sql")),
        crate::repo_migration(7, "agents", include_str!("../migrations/postgres/0007_agents.sql")),
        crate::repo_migration(8, "targets", include_str!("../migrations/postgres/0008_targets.sql")),
        crate::repo_migration(
            9,
            "certificate_search",
            include_str!("../migrations/postgres/0009_certificate_search.sql"),
        ),
        crate::repo_migration(10, "hardening", include_str!("../migrations/postgres/0010_hardening.sql")),
        crate::repo_migration(11, "signins", include_str!("../migrations/postgres/0011_signins.sql")),
        crate::repo_migration(12, "mfa", include_str!("../migrations/postgres/0012_mfa.sql")),
        crate::repo_migration(13, "sign_in_policies", include_str!("../migrations/postgres/0013_sign_in_policies.sql")),
        crate::repo_migration(14, "sso", include_str!("../migrations/postgres/0014_sso.sql")),
        crate::repo_migration(15, "sso_flows", include_str!("../migrations/postgres/0015_sso_flows.sql")),
        crate::repo_migration(16, "audit_signing", include_str!("../migrations/postgres/0016_audit_signing.sql")),
        crate::repo_migration(17, "auth_revision", include_str!("../migrations/postgres/0017_auth_revision.sql")),
        crate::repo_migration(18, "webhooks", include_str!("../migrations/postgres/0018_webhooks.sql")),
    ]
}

impl Repo {
    pub async fn connect(url: &str, clock: Arc<dyn Clock>) -> crate::Result<Self> {
        let pool = PgPoolOptions::new().max_connections(16).connect(url).await?;
        sqlx::migrate::Migrator::with_migrations(migrations()).run(&pool).await?;
        let repo = Self { pool, clock, revision: Default::default() };
        repo.backfill_search_keys().await?;
        Ok(repo)
    }
}

impl Repo {
    /// Many processes share a PostgreSQL database, so the revision is kept by the database:
    /// triggers move it in the transaction of every change that counts (migration 0017), and
    /// callers that arrive together share one read of it.
    async fn engine_revision(&self) -> crate::Result<u64> {
        let read = || async {
            let n: i64 = sqlx::query_scalar("SELECT n FROM auth_revision").fetch_one(&self.pool).await?;
            Ok(n as u64)
        };
        self.revision.shared(read).await
    }
}

/// The shared SQL, compiled for this engine.
#[path = "sql/mod.rs"]
#[allow(clippy::duplicate_mod, reason = "one body of SQL, compiled once for each engine")]
mod sql;

pub use sql::Repo;
