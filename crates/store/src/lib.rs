//! Tenantry's storage: one repository API ([`Repository`]) over SQLite and PostgreSQL, selected by
//! URL scheme. Every change commits together with its audit event, or neither does.
//! It knows nothing of HTTP.

pub mod backup;
mod postgres;
mod repository;
mod revision;
mod sqlite;
pub mod testing;
mod types;

use std::sync::Arc;
use tenantry_domain::Clock;

pub use repository::*;
pub use types::*;

/// A shared handle on the configured backend.
pub type Store = Arc<dyn Repository>;

/// Errors of the storage layer: a domain refusal, or the database failing.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Domain(#[from] tenantry_domain::DomainError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("configuration: {0}")]
    Config(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which engine a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(StoreError::Config("database URL must start with sqlite: or postgres://".into()))
        }
    }
}

/// Opens the database at `url`, applies pending migrations, and returns the store.
pub async fn connect(url: &str, clock: Arc<dyn Clock>) -> Result<Store> {
    Ok(match Backend::of_url(url)? {
        Backend::Sqlite => Arc::new(sqlite::Repo::connect(url, clock).await?),
        Backend::Postgres => Arc::new(postgres::Repo::connect(url, clock).await?),
    })
}

/// A serving process's hold on an embedded database: an exclusive lock on a file beside it
/// (`<database>.serve-lock`) while it lives, so a second `serve` on the same database is refused
/// (the SQLite backend's sign-in cache counts this process's commits as all there are). Not on the
/// database file itself: closing any descriptor of that file would drop the process's SQLite
/// locks on it. PostgreSQL needs no hold: any number of processes serve it.
#[derive(Debug)]
pub struct ServingHold {
    _file: Option<std::fs::File>,
}

/// Takes the [`ServingHold`] on the database at `url`, or says who has it.
pub fn hold_for_serving(url: &str) -> Result<ServingHold> {
    use sqlx::ConnectOptions;
    if Backend::of_url(url)? == Backend::Postgres {
        return Ok(ServingHold { _file: None });
    }
    let options = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(url)?;
    if options.to_url_lossy().query_pairs().any(|(key, value)| key == "mode" && value == "memory") {
        return Ok(ServingHold { _file: None });
    }
    let path = options.get_filename();
    if path.to_string_lossy().starts_with("file:") {
        return Err(StoreError::Config("name the SQLite database by its path, not as a file: URI".into()));
    }
    let mut lock = path.as_os_str().to_owned();
    lock.push(".serve-lock");
    let lock = std::path::PathBuf::from(lock);
    let mut open = std::fs::OpenOptions::new();
    open.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let file = open.open(&lock).map_err(|e| StoreError::Config(format!("cannot open {}: {e}", lock.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(ServingHold { _file: Some(file) }),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Config(format!(
            "another `tenantry serve` is serving {}; one process serves an embedded database (use PostgreSQL for several)",
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Config(format!("cannot lock {}: {e}", lock.display()))),
    }
}

/// Strips the password from a database URL for logs and `Debug`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}://{}:***{}", &url[..scheme_end], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// A migration from embedded SQL text (no build-time macros needed).
fn repo_migration(version: i64, description: &'static str, sql: &'static str) -> sqlx::migrate::Migration {
    use sqlx::SqlSafeStr;
    sqlx::migrate::Migration::new(
        version,
        description.into(),
        sqlx::migrate::MigrationType::Simple,
        sql.into_sql_str(),
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_backend_and_hide_passwords() {
        assert_eq!(Backend::of_url("sqlite://x.db").ok(), Some(Backend::Sqlite));
        assert_eq!(Backend::of_url("postgres://u@h/db").ok(), Some(Backend::Postgres));
        assert!(Backend::of_url("mysql://h").is_err());
        assert_eq!(redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
    }
}
