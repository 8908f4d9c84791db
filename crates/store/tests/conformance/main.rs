//! The repository conformance suite: the same tests against SQLite always and PostgreSQL whenever
//! `TENANTRY_TEST_POSTGRES_URL` is set (always under CI). Each test gets a fresh database.

mod accounts;
mod audit;
mod backup;
mod certificates;
mod monitoring;
mod sessions;
mod support;
mod upgrades;

/// Declares `$name` once per backend: `sqlite::$name` and `postgres::$name`.
#[macro_export]
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(fx) = $crate::support::Fixture::new(tenantry_store::Backend::Sqlite).await {
                        super::$name(fx).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(fx) = $crate::support::Fixture::new(tenantry_store::Backend::Postgres).await {
                        super::$name(fx).await;
                    }
                }
            )*
        }
    };
}
