//! Backups of the embedded database: a consistent snapshot taken while a server writes to it, and
//! a restore into an empty path. Each copy is checked whole before it is called good: SQLite's
//! integrity and foreign-key checks, and the hash chain of every audit trail in it. PostgreSQL has
//! its own tools for this (`pg_dump`, `pg_restore`).

use crate::{AuditStore, Backend, Result, StoreError};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use tenantry_domain::AccountId;
use tenantry_domain::Clock;
use tenantry_domain::audit::Verification;

/// What the checks of a copy found.
#[derive(Debug)]
pub struct Checked {
    /// SQLite's `integrity_check` and `foreign_key_check` findings; empty when there are none.
    pub problems: Vec<String>,
    /// Every trail's verification.
    pub trails: Vec<(AccountId, Verification)>,
}

impl Checked {
    /// Whether the copy is sound and every trail in it verifies.
    pub fn is_good(&self) -> bool {
        self.problems.is_empty() && self.trails.iter().all(|(_, v)| v.valid)
    }

    /// How many events the trails hold in all.
    pub fn events(&self) -> u64 {
        self.trails.iter().map(|(_, v)| v.events).sum()
    }
}

/// The file an embedded database's URL names.
fn sqlite_file(url: &str) -> Result<PathBuf> {
    if Backend::of_url(url)? != Backend::Sqlite {
        return Err(StoreError::Config("backups of PostgreSQL are made with pg_dump and pg_restore".into()));
    }
    let options = SqliteConnectOptions::from_str(url)?;
    if options.to_url_lossy().query_pairs().any(|(key, value)| key == "mode" && value == "memory") {
        return Err(StoreError::Config("an in-memory database has nothing to back up".into()));
    }
    Ok(options.get_filename().to_path_buf())
}

/// Refuses to write over anything: a backup or restore goes to a path where nothing is.
fn must_be_free(path: &Path) -> Result<()> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        if Path::new(&name).exists() {
            return Err(StoreError::Config(format!("{} exists; nothing is overwritten", Path::new(&name).display())));
        }
    }
    Ok(())
}

/// Writes a consistent snapshot of the database at `url` to `file` (which must not exist) while
/// servers go on writing to it (`VACUUM INTO` reads one transaction's view), then checks the copy.
pub async fn backup(url: &str, file: &Path, clock: Arc<dyn Clock>) -> Result<Checked> {
    let source = sqlite_file(url)?;
    if !source.exists() {
        return Err(StoreError::Config(format!("{} does not exist", source.display())));
    }
    must_be_free(file)?;
    let options =
        SqliteConnectOptions::from_str(url)?.create_if_missing(false).busy_timeout(std::time::Duration::from_secs(30));
    let mut connection = options.connect().await?;
    sqlx::query("VACUUM INTO $1").bind(file.to_string_lossy().into_owned()).execute(&mut connection).await?;
    connection.close().await?;
    check(file, clock).await
}

/// Checks the database file at `file` without changing it.
pub async fn check(file: &Path, clock: Arc<dyn Clock>) -> Result<Checked> {
    let options = SqliteConnectOptions::new().filename(file).read_only(true).create_if_missing(false);
    let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
    let mut problems = Vec::new();
    for row in sqlx::query_scalar::<_, String>("PRAGMA integrity_check").fetch_all(&pool).await? {
        if row != "ok" {
            problems.push(format!("integrity: {row}"));
        }
    }
    let dangling = sqlx::query("PRAGMA foreign_key_check").fetch_all(&pool).await?;
    if !dangling.is_empty() {
        problems.push(format!("{} rows point at rows that are not there", dangling.len()));
    }
    let repo = crate::sqlite::Repo::over(pool, clock);
    let trails = repo.verify_every_trail().await?;
    repo.pool.close().await;
    Ok(Checked { problems, trails })
}

/// Restores the backup `file` as the database at `url`, where nothing may be yet: the backup is
/// checked first, copied beside the target and moved into place whole, then migrated to this
/// version's schema and checked again.
pub async fn restore(file: &Path, url: &str, clock: Arc<dyn Clock>) -> Result<Checked> {
    let target = sqlite_file(url)?;
    must_be_free(&target)?;
    let before = check(file, clock.clone()).await?;
    if !before.is_good() {
        return Err(StoreError::Config(format!("{} does not pass its checks: {before:?}", file.display())));
    }
    let mut partial = target.as_os_str().to_owned();
    partial.push(format!(".restoring-{}", std::process::id()));
    let partial = PathBuf::from(partial);
    let io = |e: std::io::Error| StoreError::Config(format!("{}: {e}", partial.display()));
    std::fs::copy(file, &partial).map_err(io)?;
    std::fs::File::open(&partial).and_then(|f| f.sync_all()).map_err(io)?;
    let migrated = async {
        let url = format!("sqlite://{}", partial.display());
        let store = crate::sqlite::Repo::connect(&url, clock.clone()).await?;
        store.pool.close().await;
        check(&partial, clock.clone()).await
    };
    let after = match migrated.await {
        Ok(after) if after.is_good() => after,
        outcome => {
            let _ = std::fs::remove_file(&partial);
            return match outcome {
                Ok(after) => Err(StoreError::Config(format!("the migrated copy does not pass its checks: {after:?}"))),
                Err(e) => Err(e),
            };
        }
    };
    must_be_free(&target)?;
    std::fs::rename(&partial, &target).map_err(io)?;
    Ok(after)
}
