//! Test support shared by the test suites of every crate: a fresh, empty database per test on
//! either engine. PostgreSQL runs when `TENANTRY_TEST_POSTGRES_URL` names a server (an
//! administrative database URL); without it the PostgreSQL tests are skipped, except under `CI`,
//! where a missing server is a failure.

use crate::Backend;
use sqlx::Connection;

/// The variable naming the PostgreSQL server tests may create databases on.
pub const POSTGRES_URL_VAR: &str = "TENANTRY_TEST_POSTGRES_URL";
/// Every test database's name starts with this, so they can be dropped in bulk.
pub const DATABASE_PREFIX: &str = "tenantry_test_";

/// The URL of a new, empty database on `backend`; `None` when PostgreSQL is not configured and
/// this is not CI. SQLite files go below `dir`.
pub async fn fresh_database(backend: Backend, dir: &std::path::Path) -> Option<String> {
    let name = format!("{DATABASE_PREFIX}{}", uuid::Uuid::now_v7().simple());
    match backend {
        Backend::Sqlite => {
            let _ = std::fs::create_dir_all(dir);
            Some(format!("sqlite://{}", dir.join(format!("{name}.db")).display()))
        }
        Backend::Postgres => {
            let admin_url = match std::env::var(POSTGRES_URL_VAR) {
                Ok(url) => url,
                Err(_) if std::env::var_os("CI").is_some() => {
                    panic!("{POSTGRES_URL_VAR} must name a PostgreSQL server under CI")
                }
                Err(_) => {
                    eprintln!("skipped: set {POSTGRES_URL_VAR} to run the PostgreSQL suite");
                    return None;
                }
            };
            let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
                Ok(c) => c,
                Err(e) => panic!("cannot reach PostgreSQL at {}: {e}", crate::redact_url(&admin_url)),
            };
            let create = format!("CREATE DATABASE \"{name}\"");
            if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(create)).execute(&mut admin).await {
                panic!("cannot create a test database: {e}");
            }
            let _ = admin.close().await;
            let base = admin_url.rsplit_once('/').map(|(base, _)| base).unwrap_or(&admin_url);
            Some(format!("{base}/{name}"))
        }
    }
}

/// The versions of `backend`'s migrations, oldest first.
pub fn migration_versions(backend: Backend) -> Vec<i64> {
    migrations_of(backend).iter().map(|m| m.version).collect()
}

fn migrations_of(backend: Backend) -> Vec<sqlx::migrate::Migration> {
    match backend {
        Backend::Sqlite => crate::sqlite::migrations(),
        Backend::Postgres => crate::postgres::migrations(),
    }
}

/// Applies the migrations up to `version` and no further: the database as a release of that
/// time made it, for upgrade tests.
pub async fn migrate_to(url: &str, version: i64) -> crate::Result<()> {
    let backend = Backend::of_url(url)?;
    let migrations = migrations_of(backend).into_iter().filter(|m| m.version <= version).collect();
    let migrator = sqlx::migrate::Migrator::with_migrations(migrations);
    match backend {
        Backend::Sqlite => {
            let options = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(url)?
                .create_if_missing(true)
                .foreign_keys(true);
            let pool = sqlx::SqlitePool::connect_with(options).await?;
            migrator.run(&pool).await?;
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(url).await?;
            migrator.run(&pool).await?;
            pool.close().await;
        }
    }
    Ok(())
}
